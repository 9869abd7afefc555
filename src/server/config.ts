// What the server needs to know, decided once at start-up by the CLI (no argv or env reading here).
import type { ClientCertMode } from '../tls/settings';

/** Settings of a running sslserver, in internal units (ms). */
export interface ServerConfig {
  /** argv of the program, argv[0] is looked up in PATH. */
  program: readonly string[];
  /** The environment the program inherits before connection variables are added. */
  baseEnv: ReadonlyMap<string, string>;
  limit: number;
  maxConIp: number;
  ipRulesFile?: string;
  rulesFile?: string;
  allowMissingRules: boolean;
  banner: string;
  uid?: number;
  gid?: number;
  localName?: string;
  identTimeoutMs: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  lookupRemoteHost: boolean;
  paranoid: boolean;
  lookupRemoteInfo: boolean;
  tcpEnv: boolean;
  sslEnv: boolean;
  delayedTls: boolean;
  clientCert: ClientCertMode;
  killIpOptions: boolean;
  noDelay: boolean;
  /** -I: the interface the listener is bound to. */
  interfaceName?: string;
}
