// The program's environment: the server's, then the rule's variables, then the connection's.
import { connectionEnv, type ConnectionInfo } from '../env/connection-env';
import type { ServerConfig } from './config';

/**
 * Builds the environment of a connection's program (before any SSL_* block).
 * As ucspi-ssl: the rule's variables are set first and the connection variables after them,
 * so a rule cannot fake TCPREMOTEIP; an undefined connection value removes the variable.
 * @returns a fresh map the caller may extend
 */
export function programEnv(config: ServerConfig, ruleEnv: ReadonlyMap<string, string>, info: ConnectionInfo): Map<string, string> {
  const env = new Map(config.baseEnv);
  for (const [k, v] of ruleEnv) env.set(k, v);
  for (const [k, v] of connectionEnv(info, config.tcpEnv)) {
    if (v === undefined) env.delete(k);
    else env.set(k, v);
  }
  return env;
}

/**
 * The identity a connection's program runs as (-u/-g/-U), as ucspi's prot_gid/prot_uid: with -g
 * the supplementary groups become just that gid; with -u alone they are dropped (a careful
 * admin expects none of root's); with neither, nothing changes.
 */
export function programIdentity(config: ServerConfig): { uid?: number; gid?: number; groups?: readonly number[] } {
  if (config.gid !== undefined) return { ...(config.uid === undefined ? {} : { uid: config.uid }), gid: config.gid, groups: [config.gid] };
  if (config.uid !== undefined) return { uid: config.uid, groups: [] };
  return {};
}
