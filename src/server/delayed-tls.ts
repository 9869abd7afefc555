// -n: UCSPI-TLS delayed STARTTLS. The program owns the plaintext socket until it asks for TLS.
import net from 'node:net';
import type tls from 'node:tls';
import { EXIT_TEMPORARY, errnoText } from '../errors';
import type { ConnectionInfo } from '../env/connection-env';
import { safeText } from '../env/safe-text';
import { bytesFromText } from '../env/env-bytes';
import type { Accepted } from '../listen/accepted';
import type { ServerTlsConfig } from '../tls/context';
import { serverTls, type ServerTls } from '../tls/server-socket';
import { sslEnv } from '../tls/ssl-env';
import { encodeEnvBlock, isLineEnd, parseControlCommand, type UcspiTlsCommand } from '../tls/ucspi-tls';
import type { ChildHandle } from '../spawn/spawn';
import { spawnWithFds } from '../spawn/program';
import { fdProgramIo, type ProgramIo } from '../spawn/program-io';
import { relay } from '../spawn/relay';
import { stopProgram as stopChild } from '../spawn/stop';
import * as native from '../sys/native';
import { programIdentity } from './program-env';
import { verifyClientCertificate } from './client-cert';
import { endOfRelay, fields, handshake, STATUS_FAILED, type SessionEnd, type SessionHost } from './session';

/** Everything a -n session needs from the connection path. */
export interface DelayedTlsRequest {
  host: SessionHost;
  /** The accepted client connection, unread (plaintext until the program asks for TLS). */
  conn: Accepted;
  info: ConnectionInfo;
  /** The program's environment so far (server, rules, connection variables). */
  env: Map<string, string>;
  tlsConfig: ServerTlsConfig;
  /** Name the -z check compares the client certificate with (undefined: no check). */
  certHostName: string | undefined;
}

/** The program's fds: 0 and 1 the socket, 2 our stderr, then the three UCSPI-TLS descriptors. */
export const CTL_FD = 3;
export const READ_FD = 4;
export const WRITE_FD = 5;

// After the program exits without a command, how long the control socket may still deliver one
// (the byte and the exit can be seen in either order).
const LATE_COMMAND_MS = 1000;

type Wait =
  /** `lineEnd`: the command came with its line end (`y\n`); else one may still follow. */
  | { kind: 'command'; command: UcspiTlsCommand; lineEnd: boolean }
  | { kind: 'bad'; reason: string }
  | { kind: 'exit' };

/**
 * Serves a -n connection to its end. Never throws.
 *
 * The program starts at once with fd 0/1 on the socket itself (we hold a copy but never read
 * it: the socket stays paused), SSLCTLFD a socketpair end, SSLREADFD/SSLWRITEFD pipes. On `y`/`Y`
 * the server wraps the socket in TLS from whatever the kernel holds next: bytes the client
 * pipelined in plaintext after STARTTLS are either already in the program's own buffer (it must
 * drop them) or reach OpenSSL as a broken record, never the program as decrypted data.
 * @returns the pid and wait status for the `ended by` line
 */
export async function runDelayedTls(req: DelayedTlsRequest): Promise<SessionEnd> {
  const { host, info } = req;
  const { config, log, serverPid } = host;
  // a net.Socket for the banner and the fd's blocking mode (never read: it stays paused)
  const socket = req.conn.socket;
  const fd = req.conn.fd;
  if (!native.available() || fd < 0) {
    // socketpair/pipe for the child come from the addon; there is no pure-Node way to hand them over
    log.logFailure('fatal', EXIT_TEMPORARY, 'unable to start UCSPI-TLS: native addon unavailable');
    socket.destroy();
    return { pid: serverPid, status: STATUS_FAILED };
  }

  if (config.banner !== '') {
    // -B in -n mode is plaintext, ahead of anything the program writes
    const failed = await writeBounded(socket, bytesFromText(config.banner), config.handshakeTimeoutMs);
    if (failed !== undefined) {
      // as sslserver.c's child: DROP "unable to print banner: " and the reason
      log.logDropped(`unable to print banner: ${failed}`);
      socket.destroy();
      return { pid: serverPid, status: STATUS_FAILED };
    }
  }

  // The socket's file description is shared with the program: Node made it non-blocking, and
  // a program reading fd 0 with plain read(2) (a shell, djb-style code) would see EAGAIN.
  // As the reference's ndelay_on after the command, it turns non-blocking again for TLS.
  const handle = (socket as unknown as { _handle?: { setBlocking?: (b: boolean) => number } })._handle;
  handle?.setBlocking?.(true);

  const owned: number[] = [];
  const closeOwned = (...fds: number[]): void => {
    for (const f of fds) {
      const i = owned.indexOf(f);
      if (i < 0) continue;
      owned.splice(i, 1);
      native.close(f);
    }
  };
  let ctlOurs: number, ctlChild: number, readR: number, readW: number, writeR: number, writeW: number;
  let child: ChildHandle;
  try {
    [ctlOurs, ctlChild] = native.socketpair();
    owned.push(ctlOurs, ctlChild);
    [readR, readW] = native.pipe();
    owned.push(readR, readW);
    [writeR, writeW] = native.pipe();
    owned.push(writeR, writeW);
    const env = new Map(req.env);
    env.set('SSLCTLFD', String(CTL_FD));
    env.set('SSLREADFD', String(READ_FD));
    env.set('SSLWRITEFD', String(WRITE_FD));
    child = await spawnWithFds(
      {
        argv: config.program,
        env: Array.from(env, ([k, v]) => `${k}=${v}`),
        ...programIdentity(config),
      },
      [fd, fd, 2, ctlChild, readR, writeW],
    );
  } catch (err) {
    closeOwned(...owned.slice());
    log.logFailure('fatal', EXIT_TEMPORARY, `unable to run: ${safeText(config.program[0] ?? '', { space: true })}: ${errnoText(err)}`);
    socket.destroy();
    return { pid: serverPid, status: STATUS_FAILED };
  }
  // the child has its copies; ours of its ends would keep EOF from ever coming
  closeOwned(ctlChild, readR, writeW);
  const pid = child.pid;
  log.logPid(pid, info.remoteIp);
  log.logOk(pid, fields(info));

  const ctl = new net.Socket({ fd: ctlOurs, readable: true, writable: true });
  owned.splice(owned.indexOf(ctlOurs), 1); // the net.Socket owns it now
  ctl.on('error', () => {
    // EPIPE/ECONNRESET: the program closed its end; what that means is decided below
  });

  const stopProgram = (graceMs = 0): Promise<number> => stopChild(child, graceMs);
  const cleanup = (): void => {
    ctl.destroy();
    closeOwned(...owned.slice());
  };

  let tlsSocket: tls.TLSSocket | undefined;
  // ends the session before the relay: the connection, our fds, then the program at once
  const abandon = async (status: number): Promise<SessionEnd> => {
    (tlsSocket ?? socket).destroy();
    cleanup();
    await stopProgram();
    return { pid, status };
  };

  const wait = await waitForCommand(ctl, child);
  if (wait.kind === 'exit') {
    // a plain session: the program has closed the connection on its side; close our copy.
    // No `tls PID accept`: the reference logs it here though TLS never started (SPEC: not copied).
    socket.destroy();
    cleanup();
    return { pid, status: await child.exited };
  }
  if (wait.kind === 'bad') {
    log.logFailure('error', EXIT_TEMPORARY, `bad UCSPI-TLS command from pid: ${pid} ${safeText(wait.reason, { space: true })}`);
    return abandon(STATUS_FAILED);
  }

  // From here any byte on the control socket (but the command's line end) is a protocol error
  // that ends the session.
  let violation: string | undefined;
  let lineEndDue = !wait.lineEnd;
  ctl.on('data', (chunk: Buffer) => {
    if (violation !== undefined) return;
    // the line end of `echo y`, in a write of its own
    if (lineEndDue && isLineEnd(chunk)) {
      lineEndDue = false;
      return;
    }
    violation = `${chunk.length} unexpected byte(s) after UCSPI-TLS command`;
    log.logFailure('error', EXIT_TEMPORARY, `bad UCSPI-TLS command from pid: ${pid} ${violation}`);
    (tlsSocket ?? socket).destroy();
  });
  ctl.resume();

  handle?.setBlocking?.(false);
  // the socket was never read: TLS starts from what the kernel holds next, on our dup of the fd
  // (the program keeps its own descriptors of the connection)
  let own: ServerTls;
  try {
    own = serverTls(req.conn, req.tlsConfig);
  } catch (err) {
    // not expected (a wrap fails only on bad arguments); the program must not outlive it
    log.logFailure('fatal', EXIT_TEMPORARY, `unable to accept TLS from: ${info.remoteIp} for pid: ${pid} ${errnoText(err)}`);
    return abandon(STATUS_FAILED);
  }
  tlsSocket = own.socket;
  tlsSocket.on('error', () => {
    // reported through the handshake or the relay
  });
  const hs = await handshake(tlsSocket, config.handshakeTimeoutMs);
  if (violation !== undefined || hs !== undefined) {
    if (violation === undefined) log.logFailure('fatal', EXIT_TEMPORARY, `unable to accept TLS from: ${info.remoteIp} for pid: ${pid} ${hs ?? ''}`);
    return abandon(STATUS_FAILED);
  }

  // the effective policy: CCAFILE=- (global or from a rule) turns -m/-z off
  if (req.tlsConfig.clientCert !== 'none') {
    const verdict = verifyClientCertificate(tlsSocket, req.tlsConfig, req.tlsConfig.clientCert, req.certHostName);
    if (verdict.ok === false) {
      log.logFailure(verdict.kind, verdict.code, verdict.text(info.remoteIp, pid));
      return abandon(verdict.code << 8);
    }
  }

  let protocolCipher: string | undefined;
  if (wait.command === 'Y') {
    // one turn after 'secure': TLS 1.3 assigns the session id when the tickets are written
    await new Promise((r) => setImmediate(r));
    let block: Buffer;
    try {
      const entries = sslEnv(tlsSocket, req.tlsConfig);
      block = encodeEnvBlock(entries);
      const get = (k: string): string => entries.find(([n]) => n === k)?.[1] ?? '';
      protocolCipher = `${get('SSL_PROTOCOL')}:${get('SSL_CIPHER')}`;
    } catch (err) {
      log.logFailure('fatal', EXIT_TEMPORARY, `unable to write SSL environment: ${safeText((err as Error).message, { space: true })}`);
      return abandon(STATUS_FAILED);
    }
    ctl.write(block);
  }
  if (req.tlsConfig.clientCert !== 'none') log.logClientCertOk(info.remoteIp, pid);
  log.logTlsAccept(pid, protocolCipher);

  // the relay's pipe io owns both fds from now on (it closes them, even when it cannot start)
  owned.splice(owned.indexOf(readW), 1);
  owned.splice(owned.indexOf(writeR), 1);
  let io: ProgramIo;
  try {
    io = fdProgramIo(readW, writeR);
  } catch (err) {
    log.logFailure('fatal', EXIT_TEMPORARY, `unable to relay for pid: ${pid}: ${errnoText(err)}`);
    return abandon(STATUS_FAILED);
  }
  const end = await relay(tlsSocket, io, { idleTimeoutMs: config.idleTimeoutMs, onBulkOutput: host.bulkOutput, readInto: own.read });
  cleanup();
  // a control-protocol violation has logged its own line
  return { pid, status: await endOfRelay(log, end, info.remoteIp, child, violation !== undefined) };
}

/** The first command on the control socket, a protocol error, or the program's exit without one. */
function waitForCommand(ctl: net.Socket, child: ChildHandle): Promise<Wait> {
  return new Promise((resolve) => {
    let settled = false;
    let lateTimer: NodeJS.Timeout | undefined;
    const done = (w: Wait): void => {
      if (settled) return;
      settled = true;
      if (lateTimer !== undefined) clearTimeout(lateTimer);
      ctl.off('data', onData);
      ctl.off('end', onEnd);
      ctl.off('close', onEnd);
      // stop reading until the caller decides what further bytes mean
      ctl.pause();
      resolve(w);
    };
    let exited = false;
    let eof = false;
    const onData = (chunk: Buffer): void => {
      try {
        done({ kind: 'command', command: parseControlCommand(chunk), lineEnd: chunk.length > 1 });
      } catch (err) {
        done({ kind: 'bad', reason: (err as Error).message });
      }
    };
    const onEnd = (): void => {
      // the program closed SSLCTLFD without a command: it stays plain; wait for its exit
      eof = true;
      if (exited) done({ kind: 'exit' });
    };
    ctl.on('data', onData);
    ctl.once('end', onEnd);
    ctl.once('close', onEnd);
    void child.exited.then(() => {
      exited = true;
      if (eof) {
        done({ kind: 'exit' });
        return;
      }
      // a descendant may still hold SSLCTLFD; a command written just before the exit is still honoured
      lateTimer = setTimeout(() => done({ kind: 'exit' }), LATE_COMMAND_MS);
      lateTimer.unref();
    });
  });
}

/**
 * Writes to the (paused) socket and waits until the kernel has it, at most `ms`.
 * @returns undefined once written, else why not (strerror-style text)
 */
function writeBounded(socket: net.Socket, data: Buffer, ms: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(errnoText('ETIMEDOUT')), ms);
    socket.write(data, (err) => {
      clearTimeout(timer);
      resolve(err == null ? undefined : errnoText(err));
    });
  });
}
