// The path of one connection: limits, rules, TLS handshake, program, relay, teardown.
import net from 'node:net';
import tls from 'node:tls';
import { EXIT_PERMANENT, EXIT_TEMPORARY, errCode } from '../errors';
import type { Log, ConnectionFields } from '../log/log';
import type { ConnectionLimits } from '../listen/limits';
import { lookupRules, type RuleMatch } from '../rules/rules-lookup';
import { normalizeAddress, type ConnectionInfo } from '../env/connection-env';
import { programEnv } from './program-env';
import { runDelayedTls } from './delayed-tls';
import { safeText } from '../env/safe-text';
import { sslEnv } from '../tls/ssl-env';
import type { ServerTlsConfig } from '../tls/context';
import { startProgram, type RunningProgram } from '../spawn/program';
import { relay } from '../spawn/relay';
import { EXIT_GRACE_MS, stopProgram } from '../spawn/stop';
import * as native from '../sys/native';
import type { ServerConfig } from './config';
import { verifyClientCertificate } from './client-cert';
import type { Lookups } from '../lookup/identify';

// Exit codes the reference's per-connection process ends with; logged as raw wait status.
export const STATUS_DENY = EXIT_PERMANENT << 8; // 25600
export const STATUS_REJECTED = 110 << 8; // 28160: client certificate rejected, rules unreadable
export const STATUS_FAILED = EXIT_TEMPORARY << 8; // 28416: handshake or relay failure

/** What a session needs from the server that runs it. */
export interface SessionHost {
  readonly config: ServerConfig;
  readonly log: Log;
  readonly limits: ConnectionLimits;
  readonly lookups: Lookups;
  /** The server's pid: stands in for the program's pid in lines about connections that never got one. */
  readonly serverPid: number;
  /** The TLS configuration for a connection, given the variables its rule set (CERTFILE, …). Throws ConfigError. */
  tlsFor(ruleEnv: ReadonlyMap<string, string>): ServerTlsConfig;
  /** Called after a session was counted (status line, pause accepting at -c). */
  sessionStarted(): void;
  /** Called after a session was released. */
  sessionEnded(): void;
}

/** How a session ended: the pid for the `ended by` line and the raw wait status. */
export interface SessionEnd {
  pid: number;
  status: number;
}

/**
 * Serves one accepted (paused) connection to its end. Never throws: every failure is one log
 * line and a closed socket; the listener and other sessions are not affected.
 */
export function handleConnection(host: SessionHost, socket: net.Socket): void {
  socket.on('error', () => {
    // errors before TLS owns the socket (reset during lookups) end in the steps below
  });
  const remoteAddress = socket.remoteAddress;
  const localAddress = socket.localAddress;
  if (remoteAddress === undefined || localAddress === undefined) {
    socket.destroy(); // reset before we saw it
    return;
  }
  const remote = normalizeAddress(remoteAddress);
  const local = normalizeAddress(localAddress);
  const { log, limits } = host;
  if (!limits.tryAcquire(remote.ip)) {
    log.logWarning(`ip connection limit of ${limits.maxConIp} exceeded for: ${remote.ip}`);
    socket.destroy();
    return;
  }
  host.sessionStarted();
  const info: ConnectionInfo = {
    localIp: local.ip,
    localPort: socket.localPort ?? 0,
    remoteIp: remote.ip,
    remotePort: socket.remotePort ?? 0,
    ipv6: remote.ipv6,
  };
  // TCP6INTERFACE for a link-local peer: the zone Node reports, else the interface we are bound to
  const zone = remoteAddress.includes('%') ? remoteAddress.slice(remoteAddress.indexOf('%') + 1) : host.config.interfaceName;
  if (remote.ipv6 && /^fe[89ab]/i.test(remote.ip) && zone !== undefined) info.interfaceName = zone;
  serve(host, socket, info)
    .catch((err: unknown): SessionEnd => {
      // a bug, not a client's doing: keep serving others
      log.logFailure('fatal', EXIT_TEMPORARY, `internal error; please report: ${safeText(String(err), { space: true })}`);
      socket.destroy();
      return { pid: host.serverPid, status: STATUS_FAILED };
    })
    .then((end) => {
      limits.release(remote.ip);
      log.logEnded(end.pid, end.status);
      host.sessionEnded();
    });
}

async function serve(host: SessionHost, socket: net.Socket, info: ConnectionInfo): Promise<SessionEnd> {
  const { config, log, serverPid } = host;
  const dropped = (status: number): SessionEnd => {
    socket.destroy();
    return { pid: serverPid, status };
  };

  // -y: IP-only rules before anything else; an allow skips -x
  let rule: RuleMatch | undefined;
  let skipRules = false;
  if (config.ipRulesFile !== undefined) {
    const r = readRules(host, config.ipRulesFile, info.remoteIp);
    if (r === 'drop') return dropped(STATUS_REJECTED);
    if (r !== undefined) {
      rule = r;
      skipRules = !r.deny;
    }
    if (r?.deny === true) {
      log.logDeny(serverPid, fields(info));
      return dropped(STATUS_DENY);
    }
  }

  // -l / PTR of the local address, -h PTR (+ -p), -r IDENT: each bounded, none throws
  const gone = new AbortController();
  socket.once('close', () => gone.abort());
  const ids = await host.lookups.identify({ remoteIp: info.remoteIp, remotePort: info.remotePort, localIp: info.localIp, localPort: info.localPort, ipv6: info.ipv6 }, gone.signal);
  if (socket.destroyed) return { pid: serverPid, status: STATUS_FAILED };
  if (ids.localHost !== undefined) info.localHost = ids.localHost;
  if (ids.remoteHost !== undefined) info.remoteHost = ids.remoteHost;
  if (ids.remoteInfo !== undefined) info.remoteInfo = ids.remoteInfo;

  if (config.rulesFile !== undefined && !skipRules) {
    const r = readRules(host, config.rulesFile, info.remoteIp, info.remoteHost, info.remoteInfo);
    if (r === 'drop') return dropped(STATUS_REJECTED);
    if (r !== undefined) rule = r;
  }
  const ruleEnv = new Map<string, string>(rule?.env ?? []);
  if (rule?.deny === true) {
    log.logDeny(serverPid, fields(info));
    return dropped(STATUS_DENY);
  }
  const ruleMax = ruleEnv.get('MAXCONIP');
  if (ruleMax !== undefined) {
    // as ucspi-ssl: a rule's MAXCONIP is capped by -c and compared with the sessions open
    // from this IP before this one
    const max = Math.min(parseDecimal(ruleMax), config.limit);
    if (host.limits.countFor(info.remoteIp) - 1 >= max) {
      log.logDeny(serverPid, fields(info), max);
      return dropped(STATUS_DENY);
    }
  }

  socket.setNoDelay(config.noDelay);
  if (config.killIpOptions && !info.ipv6 && native.available()) {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd !== undefined && fd >= 0) native.setIpOptionsNone(fd);
  }

  let tlsConfig: ServerTlsConfig;
  try {
    tlsConfig = host.tlsFor(ruleEnv);
  } catch (err) {
    log.logFailure('error', EXIT_TEMPORARY, (err as Error).message);
    return dropped(STATUS_FAILED);
  }

  if (config.delayedTls) {
    return runDelayedTls({ host, socket, info, env: programEnv(config, ruleEnv, info), tlsConfig, certHostName: ids.paranoidRejected ? info.remoteIp : info.remoteHost });
  }

  const tlsSocket = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: tlsConfig.secureContext,
    requestCert: tlsConfig.requestCert,
    rejectUnauthorized: false,
  });
  tlsSocket.on('error', () => {
    // reported through the handshake or the relay
  });
  const hs = await handshake(tlsSocket, config.handshakeTimeoutMs);
  if (hs !== undefined) {
    log.logFailure('fatal', EXIT_TEMPORARY, `unable to accept TLS from: ${info.remoteIp} for pid: ${serverPid} ${hs}`);
    tlsSocket.destroy();
    return { pid: serverPid, status: STATUS_FAILED };
  }

  // the effective policy: CCAFILE=- (global or from a rule) turns -m/-z off
  if (tlsConfig.clientCert !== 'none') {
    // as sslserver.c: when -p rejected the PTR name, the certificate is checked against the IP text
    const verdict = verifyClientCertificate(tlsSocket, tlsConfig, tlsConfig.clientCert, ids.paranoidRejected ? info.remoteIp : info.remoteHost);
    if (verdict.ok === false) {
      log.logFailure(verdict.kind, verdict.code, verdict.text(info.remoteIp, serverPid));
      tlsSocket.destroy();
      return { pid: serverPid, status: verdict.code << 8 };
    }
  }

  const env = programEnv(config, ruleEnv, info);
  let protocolCipher: string | undefined;
  if (config.sslEnv) {
    // one turn after 'secure': TLS 1.3 assigns the session id when the tickets are written
    await new Promise((r) => setImmediate(r));
    let block;
    try {
      block = sslEnv(tlsSocket, tlsConfig);
    } catch (err) {
      log.logFailure('fatal', EXIT_TEMPORARY, `unable to read TLS environment: ${safeText((err as Error).message, { space: true })}`);
      tlsSocket.destroy();
      return { pid: serverPid, status: STATUS_FAILED };
    }
    for (const [k, v] of block) env.set(k, v);
    protocolCipher = `${env.get('SSL_PROTOCOL') ?? ''}:${env.get('SSL_CIPHER') ?? ''}`;
  }

  let prog: RunningProgram;
  try {
    prog = await startProgram({
      argv: config.program,
      env: Array.from(env, ([k, v]) => `${k}=${v}`),
      ...(config.uid === undefined ? {} : { uid: config.uid }),
      ...(config.gid === undefined ? {} : { gid: config.gid, groups: [config.gid] }),
      ...(config.uid !== undefined && config.gid === undefined ? { groups: [] } : {}),
    });
  } catch (err) {
    log.logFailure('fatal', EXIT_TEMPORARY, `unable to run: ${safeText(config.program[0] ?? '')}${errCode(err) === undefined ? '' : ''}`);
    tlsSocket.destroy();
    return { pid: serverPid, status: STATUS_FAILED };
  }
  const pid = prog.child.pid;
  if (log.verbose) {
    log.logPid(pid, info.remoteIp);
    log.logOk(pid, fields(info));
    if (tlsConfig.clientCert !== 'none') log.logClientCertOk(info.remoteIp, pid);
    log.logTlsAccept(pid, protocolCipher);
  }

  const end = await relay(tlsSocket, prog.stdin, prog.stdout, { idleTimeoutMs: config.idleTimeoutMs, banner: config.banner });
  if (end.kind !== 'done') {
    const reason = end.kind === 'idle' ? '' : tlsReason(end.error);
    log.logFailure('error', EXIT_TEMPORARY, `unable to speak TLS with: ${info.remoteIp} for pid: ${pid} ${reason}`);
  }
  // as ucspi-ssl, a program still running when its session is over gets SIGTERM; but only
  // after a grace period when the session ended normally (see EXIT_GRACE_MS)
  const status = await stopProgram(prog.child, end.kind === 'done' ? EXIT_GRACE_MS : 0);
  return { pid, status };
}

/** -y/-x lookup; 'drop' after logging when the file is unreadable (or missing without -X). */
function readRules(host: SessionHost, file: string, ip: string, name?: string, info?: string): RuleMatch | undefined | 'drop' {
  try {
    return lookupRules(file, ip, name, info);
  } catch (err) {
    if (errCode(err) === 'ENOENT' && host.config.allowMissingRules) return undefined;
    // as ucspi-ssl 0.13: the per-connection process dies with 110; here only this connection ends
    host.log.logFailure('fatal', 110, `unable to read: ${file}`);
    return 'drop';
  }
}

/** Runs the server handshake with a deadline that client bytes do not extend; the reason on failure. */
export function handshake(tlsSocket: tls.TLSSocket, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const done = (reason: string | undefined): void => {
      clearTimeout(timer);
      tlsSocket.off('secure', onSecure);
      tlsSocket.off('error', onError);
      tlsSocket.off('close', onClose);
      tlsSocket.off('end', onClose);
      resolve(reason);
    };
    const onSecure = (): void => done(undefined);
    const onError = (err: Error): void => done(tlsReason(err));
    // allowHalfOpen: an EOF before the handshake ends is only 'end', not 'close'
    const onClose = (): void => done('unexpected eof while reading');
    // as ucspi-ssl: a timeout is logged with an empty reason
    const timer = setTimeout(() => done(''), timeoutMs);
    tlsSocket.once('secure', onSecure);
    tlsSocket.once('error', onError);
    tlsSocket.once('close', onClose);
    tlsSocket.once('end', onClose);
  });
}

/** OpenSSL's reason text (`wrong version number`) from a Node TLS error, or errno text. */
export function tlsReason(err: Error): string {
  const reason = (err as { reason?: unknown }).reason;
  if (typeof reason === 'string') return safeText(reason.toLowerCase(), { space: true });
  const m = /:([^:]+)$/.exec(err.message);
  return safeText((m?.[1] ?? err.message).trim().toLowerCase(), { space: true });
}

/** The `ok`/`deny` line fields of a connection, sanitised. */
export function fields(info: ConnectionInfo): ConnectionFields {
  return {
    localHost: info.localHost === undefined ? '' : safeText(info.localHost),
    localIp: safeText(info.localIp),
    localPort: String(info.localPort),
    remoteHost: info.remoteHost === undefined ? '' : safeText(info.remoteHost),
    remoteIp: safeText(info.remoteIp),
    remoteInfo: info.remoteInfo === undefined ? '' : safeText(info.remoteInfo),
    remotePort: String(info.remotePort),
  };
}

function parseDecimal(s: string): number {
  // as scan_ulong: the leading digits, 0 when there are none
  const m = /^[0-9]+/.exec(s);
  return m === null ? 0 : Number(m[0]);
}
