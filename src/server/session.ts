// The path of one connection: limits, rules, TLS handshake, program, relay, teardown.
import type net from 'node:net';
import type tls from 'node:tls';
import { EXIT_PERMANENT, EXIT_TEMPORARY, errCode, errnoText } from '../errors';
import type { Log, ConnectionFields } from '../log/log';
import type { ConnectionCounts } from '../listen/limits';
import type { EvictionCause, HandshakeTable } from '../listen/handshake-table';
import type { Accepted } from '../listen/accepted';
import { lookupRules, type RuleMatch } from '../rules/rules-lookup';
import { normalizeAddress, type ConnectionInfo } from '../env/connection-env';
import { programEnv, programIdentity } from './program-env';
import { runDelayedTls } from './delayed-tls';
import { safeText } from '../env/safe-text';
import { sslEnv } from '../tls/ssl-env';
import type { ServerTlsConfig } from '../tls/context';
import { serverTls, type ServerTlsSocket } from '../tls/server-socket';
import { startProgram, type RunningProgram } from '../spawn/program';
import { relay, type RelayEnd } from '../spawn/relay';
import type { ChildHandle } from '../spawn/spawn';
import { EXIT_GRACE_MS, stopProgram } from '../spawn/stop';
import * as native from '../sys/native';
import type { ServerConfig } from './config';
import { verifyClientCertificate } from './client-cert';
import type { LookupResult, Lookups } from '../lookup/identify';

// Exit codes the reference's per-connection process ends with; logged as raw wait status.
export const STATUS_DENY = EXIT_PERMANENT << 8; // 25600
export const STATUS_REJECTED = 110 << 8; // 28160: client certificate rejected, rules unreadable
export const STATUS_FAILED = EXIT_TEMPORARY << 8; // 28416: handshake or relay failure

/** What a session needs from the server that runs it. */
export interface SessionHost {
  readonly config: ServerConfig;
  readonly log: Log;
  readonly limits: ConnectionCounts;
  /** Connections before their program: bounded globally and per IP, oldest pushed out when full. */
  readonly handshakes: HandshakeTable;
  readonly lookups: Lookups;
  /** The server's pid: stands in for the program's pid in lines about connections that never got one. */
  readonly serverPid: number;
  /** The TLS configuration for a connection, given the variables its rule set (CERTFILE, …). Throws ConfigError. */
  tlsFor(ruleEnv: ReadonlyMap<string, string>): ServerTlsConfig | Promise<ServerTlsConfig>;
  /**
   * Waits for a program slot (-c), in arrival order; logs the status line when taken.
   * @returns false (nothing taken) when `signal` aborted first
   */
  acquireProgram(signal: AbortSignal): Promise<boolean>;
  /** A free program slot taken at once when nobody is in line (status line logged), else false. */
  tryAcquireProgram(): boolean;
  /** Frees a slot taken by acquireProgram (after the `ended by` line). */
  releaseProgram(): void;
  /** Called after a connection was released. */
  sessionEnded(): void;
  /** A program's output passed another RELAY_BULK_BYTES (the relay's onBulkOutput). */
  bulkOutput(): void;
}

/** An 'error' listener that only keeps an error from being thrown (each caller says why). */
function ignoreError(): void {}

/** How a session ended: the pid for the `ended by` line and the raw wait status. */
export interface SessionEnd {
  pid: number;
  status: number;
}

/**
 * Serves one accepted (paused) connection to its end. Never throws: every failure is one log
 * line and a closed socket; the listener and other sessions are not affected.
 */
export function handleConnection(host: SessionHost, conn: Accepted): void {
  const remoteAddress = conn.remoteAddress;
  const remote = normalizeAddress(remoteAddress);
  const local = normalizeAddress(conn.localAddress);
  const { log, limits } = host;
  if (!limits.tryAcquire(remote.ip)) {
    log.logWarning(`ip connection limit of ${limits.maxConIp} exceeded for: ${remote.ip}`);
    conn.destroy();
    return;
  }
  const info: ConnectionInfo = {
    localIp: local.ip,
    localPort: conn.localPort,
    remoteIp: remote.ip,
    remotePort: conn.remotePort,
    ipv6: remote.ipv6,
  };
  // TCP6INTERFACE for a link-local peer: the zone Node reports, else the interface we are bound to
  const zone = remoteAddress.includes('%') ? remoteAddress.slice(remoteAddress.indexOf('%') + 1) : host.config.interfaceName;
  if (remote.ipv6 && /^fe[89ab]/i.test(remote.ip) && zone !== undefined) info.interfaceName = zone;
  const slot = { held: false };
  serve(host, conn, info, slot)
    .then(nextStep)
    .catch((err: unknown): SessionEnd => {
      // a bug, not a client's doing: keep serving others
      log.logFailure('fatal', EXIT_TEMPORARY, `internal error; please report: ${safeText(String(err), { space: true })}`);
      conn.destroy();
      return { pid: host.serverPid, status: STATUS_FAILED };
    })
    .then((end) => {
      limits.release(remote.ip);
      log.logEnded(end.pid, end.status);
      // after `ended by`, as the reference's status line follows the reaped child
      if (slot.held) host.releaseProgram();
      host.sessionEnded();
    });
}

/** Why a connection was dropped before its program. */
type EarlyDrop = 'deadline' | 'gone' | `evicted-${EvictionCause}`;

/**
 * What a session step leaves to run next: bound to its arguments, not a closure. An async
 * function keeps its whole frame (arguments and every local, live or not) until it returns, so a
 * session that outlives a step must not wait inside it: serve's frame (the phase, its
 * deadline timer and handlers) and afterHandshake's (the rule's and the program's environment
 * maps) are garbage once they hand over the rest, instead of living as long as the session.
 */
type SessionRest = () => Promise<SessionEnd | SessionRest>;

/** Runs the steps a session hands back until one ends it (module-level: captures nothing). */
function nextStep(end: SessionEnd | SessionRest): SessionEnd | Promise<SessionEnd> {
  return typeof end === 'function' ? end().then(nextStep) : end;
}

/**
 * The phase of a session before its program. It ends early at most once (deadline, eviction, the
 * client leaving), and that destroys the connection's socket at once. An AbortSignal exists only
 * when a lookup asks for one: a controller, its signal and an 'abort' listener for every
 * connection were about 36 µs of the event loop's time (cpu-prof, RSA c16).
 */
class EarlyPhase {
  /** Why the phase ended early; undefined while it has not. */
  reason: EarlyDrop | undefined = undefined;
  /** The TLS socket once it owns the connection: the one to destroy. */
  tlsSocket: tls.TLSSocket | undefined = undefined;
  private controller: AbortController | undefined = undefined;

  constructor(private readonly conn: Accepted) {}

  get over(): boolean {
    return this.reason !== undefined;
  }

  /** Ends the phase early (the first reason stays), destroying the connection. */
  end(why: EarlyDrop): void {
    if (this.reason !== undefined) return;
    this.reason = why;
    (this.tlsSocket ?? this.conn).destroy();
    // (a reason string: abort() without one builds a DOMException with a stack)
    this.controller?.abort(why);
  }

  /** A signal that aborts when the phase ends early (already aborted if it has). */
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.reason !== undefined) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }
}

/** The -T deadline's timer callback (module-level: the timer keeps only the phase). */
function endByDeadline(phase: EarlyPhase): void {
  phase.end('deadline');
}

async function serve(host: SessionHost, conn: Accepted, info: ConnectionInfo, slot: { held: boolean }): Promise<SessionEnd | SessionRest> {
  const { config, log, serverPid } = host;
  const dropped = (status: number): SessionEnd => {
    conn.destroy();
    return { pid: serverPid, status };
  };

  // The phase before the program: a place in the handshake table and, in normal mode, one -T
  // deadline that client bytes do not extend. It runs from the end of the lookups, as the
  // reference's runs from the start of its handshake: the lookups have their own bounds (the DNS
  // deadline, -t), and a slow IDENT server must not eat the client's handshake time (-r with a
  // peer that drops port 113 and the defaults, -t 26 -T 26, would otherwise serve no one).
  // Whatever ends the phase early (deadline, eviction, the client leaving) destroys the
  // connection at once, freeing its fd.
  const phase = new EarlyPhase(conn);
  const ticket = host.handshakes.admit(info.remoteIp, (cause) => phase.end(`evicted-${cause}`));
  // armed once the lookups are done (below)
  let deadline: NodeJS.Timeout | undefined;
  // The early-EOF watch reads through a net.Socket: one is made (and the watch started) only
  // before a wait for something outside this turn (lookups, a rule's TLS files); a connection
  // that goes from accept to TLS in one turn needs neither, and its TLS socket opens the fd.
  let unwatch: (() => void) | undefined;
  const watch = (): void => {
    if (!config.delayedTls && unwatch === undefined && !conn.destroyed) unwatch = watchEarlyEof(conn.socket, () => phase.end('gone'));
  };
  const endPhase = (): void => {
    ticket.release();
    clearTimeout(deadline);
    unwatch?.();
  };
  /**
   * The end of a connection dropped before its program, with at most one log line; only after
   * the phase ended, which destroyed the socket (TLS is never started once it is over).
   */
  const droppedEarly = (): SessionEnd => {
    const why = phase.reason;
    if (why === 'deadline') {
      // as ucspi-ssl's handshake timeout: an empty reason
      log.logFailure('fatal', EXIT_TEMPORARY, `unable to accept TLS from: ${info.remoteIp} for pid: ${serverPid} `);
    } else if (why === 'evicted-table') {
      log.logHandshakeEvicted(info.remoteIp, host.handshakes.max, false);
    } else if (why === 'evicted-ip') {
      log.logHandshakeEvicted(info.remoteIp, host.handshakes.maxPerIp, true);
    }
    return { pid: serverPid, status: STATUS_FAILED };
  };

  try {
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

    // -l / PTR of the local address, -h PTR (+ -p), -r IDENT: each bounded, none throws; the
    // phase's end (client gone, -T, eviction) cuts them short
    let ids = host.lookups.offline();
    if (ids === undefined) {
      watch();
      ids = await lookUp(host, conn.socket, info, phase.signal());
    }
    if (phase.over) return droppedEarly();
    if (conn.destroyed) return { pid: serverPid, status: STATUS_FAILED };
    const deadlineAt = Date.now() + config.handshakeTimeoutMs;
    // -n: the program starts before TLS (its handshake has its own -T), and the socket must stay unread
    if (!config.delayedTls) deadline = setTimeout(endByDeadline, config.handshakeTimeoutMs, phase);
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

    conn.setNoDelay(config.noDelay);
    if (config.killIpOptions && !info.ipv6 && native.available()) {
      const fd = conn.fd;
      if (fd >= 0) native.setIpOptionsNone(fd);
    }

    let tlsConfig: ServerTlsConfig;
    try {
      const pending = host.tlsFor(ruleEnv);
      if (pending instanceof Promise) {
        watch();
        tlsConfig = await pending;
      } else {
        tlsConfig = pending;
      }
    } catch (err) {
      log.logFailure('error', EXIT_TEMPORARY, (err as Error).message);
      return dropped(STATUS_FAILED);
    }
    // a rule's TLS files may have been loaded meanwhile (key helper): the phase may be over
    if (phase.over) return droppedEarly();

    if (config.delayedTls) {
      // the program owns the plaintext socket from its start: it waits for a slot unread
      endPhase();
      if (!(await host.acquireProgram(new AbortController().signal))) return dropped(STATUS_FAILED);
      slot.held = true;
      return runDelayedTls.bind(undefined, { host, conn, info, env: programEnv(config, ruleEnv, info), tlsConfig, certHostName: ids.paranoidRejected ? info.remoteIp : info.remoteHost });
    }

    // the early-EOF watch (if any) stops here: what it buffered (at most a high-water mark) is
    // OpenSSL's first input (serverTls takes the socket's buffer first)
    unwatch?.();
    const own = serverTls(conn, tlsConfig);
    const wrapped = own.socket;
    phase.tlsSocket = wrapped;
    // reported through the handshake or the relay; a module-level function, as a closure here
    // would keep serve's scope alive as long as the socket
    wrapped.on('error', ignoreError);
    const hs = await handshake(wrapped, Math.max(1, deadlineAt - Date.now()));
    if (phase.over) return droppedEarly();
    if (hs !== undefined) {
      log.logFailure('fatal', EXIT_TEMPORARY, `unable to accept TLS from: ${info.remoteIp} for pid: ${serverPid} ${hs}`);
      wrapped.destroy();
      return { pid: serverPid, status: STATUS_FAILED };
    }
    endPhase();
    return afterHandshake.bind(undefined, host, wrapped, own.read, tlsConfig, info, ruleEnv, ids.paranoidRejected, slot);
  } finally {
    endPhase();
  }
}

/** Client-certificate policy, TLS environment, a program slot and the program; hands over its relay. */
async function afterHandshake(
  host: SessionHost,
  tlsSocket: tls.TLSSocket,
  readInto: ServerTlsSocket['read'] | undefined,
  tlsConfig: ServerTlsConfig,
  info: ConnectionInfo,
  ruleEnv: ReadonlyMap<string, string>,
  paranoidRejected: boolean,
  slot: { held: boolean },
): Promise<SessionEnd | SessionRest> {
  const { config, log, serverPid } = host;
  // the effective policy: CCAFILE=- (global or from a rule) turns -m/-z off
  if (tlsConfig.clientCert !== 'none') {
    // as sslserver.c: when -p rejected the PTR name, the certificate is checked against the IP text
    const verdict = verifyClientCertificate(tlsSocket, tlsConfig, tlsConfig.clientCert, paranoidRejected ? info.remoteIp : info.remoteHost);
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

  // -c: a free slot at once, else wait in line (a client that leaves meanwhile gives up its place)
  const got = host.tryAcquireProgram() || (await waitForProgramSlot(host, tlsSocket));
  if (!got || tlsSocket.destroyed) {
    tlsSocket.destroy();
    if (got) slot.held = true;
    return { pid: serverPid, status: STATUS_FAILED };
  }
  slot.held = true;

  let prog: RunningProgram;
  try {
    prog = await startProgram({
      argv: config.program,
      env: Array.from(env, ([k, v]) => `${k}=${v}`),
      ...programIdentity(config),
    });
  } catch (err) {
    // ucspi-ssl's `unable to run: PROG`, with the reason after a colon
    log.logFailure('fatal', EXIT_TEMPORARY, `unable to run: ${safeText(config.program[0] ?? '', { space: true })}: ${errnoText(err)}`);
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
  return runProgram.bind(undefined, host, tlsSocket, readInto, info.remoteIp, prog);
}

/** The relay between client and program, then the program's end (SIGTERM if it outlives the session). */
async function runProgram(
  host: SessionHost,
  tlsSocket: tls.TLSSocket,
  readInto: ServerTlsSocket['read'] | undefined,
  remoteIp: string,
  prog: RunningProgram,
): Promise<SessionEnd> {
  const { config } = host;
  const end = await relay(tlsSocket, prog.io, { idleTimeoutMs: config.idleTimeoutMs, banner: config.banner, onBulkOutput: host.bulkOutput, readInto });
  return { pid: prog.child.pid, status: await endOfRelay(host.log, end, remoteIp, prog.child) };
}

/**
 * A session's end once its relay is over, for both modes: the `unable to speak TLS` line when
 * the relay failed, the program stopped if it outlives the session (as ucspi-ssl, SIGTERM; but
 * only after a grace period when the session ended normally, see EXIT_GRACE_MS), and the outcome.
 * @param failedAlready the session failed before or beside the relay and said so in its own line
 * @returns the program's wait status; 111 (28416) after any failure, as the reference's TLS
 *   process exits, not the wait status of the program it stopped
 */
export async function endOfRelay(log: SessionHost['log'], end: RelayEnd, remoteIp: string, child: ChildHandle, failedAlready = false): Promise<number> {
  const ok = end.kind === 'done' && !failedAlready;
  if (end.kind !== 'done' && !failedAlready) {
    const reason = end.kind === 'idle' ? '' : tlsReason(end.error);
    log.logFailure('error', EXIT_TEMPORARY, `unable to speak TLS with: ${remoteIp} for pid: ${child.pid} ${reason}`);
  }
  const status = await stopProgram(child, end.kind === 'done' ? EXIT_GRACE_MS : 0);
  return ok ? status : STATUS_FAILED;
}

/**
 * Waits in line for a program slot (-c) until the client leaves. What it sends meanwhile is held
 * (server-socket's HELD_HIGH_WATER_BYTES, or TLSSocket's buffer: both bounded, then unread).
 */
async function waitForProgramSlot(host: SessionHost, tlsSocket: tls.TLSSocket): Promise<boolean> {
  const left = new AbortController();
  const onLeft = (): void => left.abort('left');
  tlsSocket.once('close', onLeft);
  try {
    return await host.acquireProgram(left.signal);
  } finally {
    tlsSocket.off('close', onLeft);
  }
}

/** The connection's lookups, cut short when the client leaves or the phase ends. */
async function lookUp(host: SessionHost, socket: net.Socket, info: ConnectionInfo, phase: AbortSignal): Promise<LookupResult> {
  // (a reason string: abort() without one builds a DOMException with a stack, per connection)
  const gone = new AbortController();
  const onGone = (): void => gone.abort('gone');
  socket.once('close', onGone);
  phase.addEventListener('abort', onGone, { once: true });
  try {
    return await host.lookups.identify({ remoteIp: info.remoteIp, remotePort: info.remotePort, localIp: info.localIp, localPort: info.localPort, ipv6: info.ipv6 }, gone.signal);
  } finally {
    socket.off('close', onGone);
    phase.removeEventListener('abort', onGone);
  }
}

/**
 * Notices a client that leaves (EOF, RST) before TLS owns the socket, without consuming its
 * bytes: a 'readable' listener makes the stream read into its own buffer up to its high-water
 * mark (then it stops reading), and TLSSocket later takes that buffer as the first input.
 * @returns a function that stops watching (idempotent)
 */
function watchEarlyEof(socket: net.Socket, onGone: () => void): () => void {
  const state = (socket as unknown as { _readableState?: { ended?: boolean } })._readableState;
  // 'end' comes only once the buffer is read: the EOF itself shows in the state's `ended`
  const onReadable = (): void => {
    if (state?.ended === true) onGone();
  };
  socket.on('readable', onReadable);
  socket.on('close', onGone);
  let on = true;
  return () => {
    if (!on) return;
    on = false;
    socket.off('readable', onReadable);
    socket.off('close', onGone);
  };
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
