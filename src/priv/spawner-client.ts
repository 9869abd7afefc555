// The network process's end of sslserver-spawner (native/spawner.c): programs started as the -u/-g identity.
import net from 'node:net';
import { constants as osConstants } from 'node:os';
import { SysError, TimeoutError } from '../errors';
import { bytesFromText } from '../env/env-bytes';
import * as native from '../sys/native';
import type { ChildHandle } from '../spawn/spawn';
import type { ProgramSpawner } from '../spawn/program';

/** Bytes of one reply: op, u32, i32. */
const REPLY_BYTES = 9;
/**
 * The longest wait for the spawner's answer to a start (a vfork and an exec: well under a
 * millisecond, a few seconds behind thousands of queued starts). Past it the start fails (`unable
 * to run`) and a program the spawner starts later is killed at once: a stopped or wedged spawner
 * (an exec hanging on a dead file system) must not hold sessions and their -c slots for good.
 */
export const SPAWN_REPLY_TIMEOUT_MS = 30_000;
/**
 * How soon a record the spawner's full request socket refused (EAGAIN: the spawner stopped, or
 * some hundred records queued ahead of it) is sent again. Refused records wait in order: a start
 * until its reply timeout, a signal as long as the spawner lives. Dropping them would fail a
 * client under a burst (`unable to run`), or leave a program running after its session.
 */
const SEND_RETRY_MS = 5;
/** Wait status reported for programs whose spawner died before they did: exit 111. */
export const SPAWNER_GONE_STATUS = 111 << 8;

/** What the spawner may start, fixed for its whole life. */
export interface SpawnerOptions {
  /** -u; -1 or undefined: unchanged (the spawner's own, root). */
  readonly uid?: number;
  /** -g; -1 or undefined: unchanged. */
  readonly gid?: number;
  /** Supplementary groups; undefined: unchanged, []: none. */
  readonly groups?: readonly number[];
  /** The program and its arguments (argv[0] is searched in the start-up PATH, once per exec). */
  readonly argv: readonly string[];
}

/** A launched spawner: its pid and our ends of its request and reply channels. */
export interface SpawnerChannel {
  readonly pid: number;
  readonly requestFd: number;
  readonly replyFd: number;
}

/** A request record waiting for room in the spawner's socket. */
interface Outgoing {
  readonly rec: Buffer;
  readonly fds: readonly number[];
  /** The start's id, -1 for a signal. */
  readonly id: number;
}

const ERRNO_NAMES = new Map(Object.entries(osConstants.errno).map(([name, n]) => [n, name]));

/** A running spawner: the only process that keeps root after start-up. */
export class SpawnerClient implements ProgramSpawner {
  private _nextId = 1;
  private _gone = false;
  private readonly _starts = new Map<number, { resolve(child: ChildHandle): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  private readonly _exits = new Map<number, (status: number) => void>();
  /** Records not sent yet, oldest first (see SEND_RETRY_MS). */
  private readonly _outbox: Outgoing[] = [];
  private _sendRetry: NodeJS.Timeout | undefined;

  private constructor(
    /** The spawner's pid. */
    readonly pid: number,
    private readonly _requestFd: number,
    replies: net.Socket,
    private readonly _replyTimeoutMs: number,
  ) {
    let buf: Buffer = Buffer.alloc(0);
    replies.on('data', (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      while (buf.length >= REPLY_BYTES) {
        this._reply(String.fromCharCode(buf[0] as number), buf.readUInt32BE(1), buf.readInt32BE(5));
        buf = buf.subarray(REPLY_BYTES);
      }
    });
    replies.on('error', () => undefined);
    replies.on('close', () => {
      this._gone = true;
      this._outbox.length = 0;
      if (this._sendRetry !== undefined) clearTimeout(this._sendRetry);
      for (const s of this._starts.values()) {
        clearTimeout(s.timer);
        s.reject(new SysError('EPIPE', 'spawner'));
      }
      this._starts.clear();
      for (const e of this._exits.values()) e(SPAWNER_GONE_STATUS);
      this._exits.clear();
    });
  }

  /**
   * Starts the spawner (as root) for one program and identity.
   * @param opts the program and the identity it runs as
   * @returns the client
   * @throws SysError when the spawner is not built (ENOENT) or cannot start
   */
  static start(opts: SpawnerOptions): SpawnerClient {
    return SpawnerClient.adopt(SpawnerClient.launch(opts));
  }

  /**
   * Starts the spawner (as root) without a client yet: the channel can go to another event loop
   * (a worker thread of this process), which makes its client with SpawnerClient.adopt.
   * @param opts the program and the identity it runs as
   * @returns the spawner's pid and our ends of its channel
   * @throws SysError when the spawner is not built (ENOENT) or cannot start
   */
  static launch(opts: SpawnerOptions): SpawnerChannel {
    const file = native.spawnerPath();
    if (file === undefined) throw new SysError('ENOENT', 'execve', 'sslserver-spawner');
    const [reqOurs, reqTheirs] = native.seqpacketPair();
    let repOurs: number;
    let repTheirs: number;
    try {
      [repOurs, repTheirs] = native.socketpair();
    } catch (err) {
      native.close(reqOurs);
      native.close(reqTheirs);
      throw err;
    }
    let child;
    try {
      const groups = opts.groups === undefined ? '-' : opts.groups.join(',');
      child = native.spawnChild({
        file,
        argv: [file, String(opts.uid ?? -1), String(opts.gid ?? -1), groups, opts.argv[0] ?? '', ...opts.argv],
        env: process.env.PATH === undefined ? [] : [`PATH=${process.env.PATH}`],
        fds: [-1, -1, 2, reqTheirs, repTheirs],
      });
    } catch (err) {
      native.close(reqOurs);
      native.close(repOurs);
      throw err;
    } finally {
      native.close(reqTheirs);
      native.close(repTheirs);
    }
    child.setRef(false);
    return { pid: child.pid, requestFd: reqOurs, replyFd: repOurs };
  }

  /**
   * The client of a launched spawner, in the calling event loop (one client per channel).
   * @param channel from SpawnerClient.launch
   * @param opts `replyTimeoutMs`: the wait for a start's answer (default SPAWN_REPLY_TIMEOUT_MS)
   * @returns the client
   */
  static adopt(channel: SpawnerChannel, opts: { replyTimeoutMs?: number } = {}): SpawnerClient {
    const replies = new net.Socket({ fd: channel.replyFd, readable: true, writable: false });
    replies.unref();
    return new SpawnerClient(channel.pid, channel.requestFd, replies, opts.replyTimeoutMs ?? SPAWN_REPLY_TIMEOUT_MS);
  }

  /**
   * ProgramSpawner: starts the configured program with `env` and `fds` as its fd 0, 1, 2...
   * @param env the whole environment, `NAME=value`
   * @param fds at most 16 fds (ours stay open: the caller closes them)
   * @returns the running program
   * @throws SysError with the program's errno (ENOENT/EACCES, syscall `execve`), EPIPE when the
   *   spawner is gone; TimeoutError `spawner did not answer` after SPAWN_REPLY_TIMEOUT_MS (also
   *   when the request could not even be sent in that time)
   */
  spawn(env: readonly string[], fds: readonly number[]): Promise<ChildHandle> {
    if (this._gone) return Promise.reject(new SysError('EPIPE', 'spawner'));
    const id = this._nextId++ >>> 0;
    // one record: 'S', the id, then the entries NUL-terminated (one string, one allocation;
    // an entry with bytes kept from a non-UTF-8 source goes out as those bytes)
    let body = '';
    for (const e of env) body += `${e}\0`;
    const bytes = body.isWellFormed() ? undefined : bytesFromText(body);
    const rec = Buffer.allocUnsafe(5 + (bytes?.length ?? Buffer.byteLength(body, 'utf8')));
    rec[0] = 0x53; // 'S'
    rec.writeUInt32BE(id, 1);
    if (bytes === undefined) rec.write(body, 5, 'utf8');
    else bytes.copy(rec, 5);
    return new Promise<ChildHandle>((resolve, reject) => {
      const timer = setTimeout(() => {
        if (!this._starts.delete(id)) return;
        // not sent yet: it never will be (the caller closes the fds it names once we reject)
        const queued = this._outbox.findIndex((o) => o.id === id);
        if (queued >= 0) this._outbox.splice(queued, 1);
        reject(new TimeoutError('spawner did not answer'));
      }, this._replyTimeoutMs);
      timer.unref();
      this._starts.set(id, { resolve, reject, timer });
      this._send(rec, fds, id);
    });
  }

  // Sends a record now if nothing waits before it and the socket takes it, else queues it.
  private _send(rec: Buffer, fds: readonly number[], id: number): void {
    if (this._outbox.length === 0 && this._trySend(rec, fds, id)) return;
    this._outbox.push({ rec, fds, id });
    this._retrySoon();
  }

  // The queued records, in order, until the socket is full again. The retry timer does not keep
  // the process alive: a start's session does, and at our exit the spawner leaves its programs
  // running, as ever.
  private _flush(): void {
    this._sendRetry = undefined;
    while (this._outbox.length > 0) {
      const o = this._outbox[0] as Outgoing;
      if (!this._trySend(o.rec, o.fds, o.id)) {
        this._retrySoon();
        return;
      }
      this._outbox.shift();
    }
  }

  // One record to the socket: false when it is full (EAGAIN), true when it is done with (sent,
  // or failed for good: then its start fails, see _unsent).
  private _trySend(rec: Buffer, fds: readonly number[], id: number): boolean {
    try {
      native.sendFds(this._requestFd, rec, fds);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
      this._unsent(id, err as Error);
    }
    return true;
  }

  private _retrySoon(): void {
    if (this._sendRetry !== undefined) return;
    this._sendRetry = setTimeout(() => this._flush(), SEND_RETRY_MS);
    this._sendRetry.unref();
  }

  // A record that cannot be sent (the spawner is gone: EPIPE): its start fails now; a signal is
  // dropped, and the spawner's 'close' reports its programs.
  private _unsent(id: number, err: Error): void {
    const start = id < 0 ? undefined : this._starts.get(id);
    if (start === undefined) return;
    this._starts.delete(id);
    clearTimeout(start.timer);
    start.reject(err);
  }

  private _handle(pid: number): ChildHandle {
    let done = false;
    const exited = new Promise<number>((resolve) => {
      this._exits.set(pid, (status) => {
        done = true;
        resolve(status);
      });
    });
    return {
      pid,
      exited,
      kill: (signal: NodeJS.Signals | number = 'SIGTERM') => {
        if (done) return;
        this._signal(pid, typeof signal === 'number' ? signal : osConstants.signals[signal]);
      },
    };
  }

  // a 'K' record: the spawner signals pid if it is one of its programs
  private _signal(pid: number, sig: number): void {
    if (this._gone) return;
    const rec = Buffer.alloc(9);
    rec.write('K', 0, 'latin1');
    rec.writeUInt32BE(pid, 1);
    rec.writeUInt32BE(sig, 5);
    this._send(rec, [], -1);
  }

  private _reply(op: string, a: number, b: number): void {
    if (op === 'P') {
      const start = this._starts.get(a);
      this._starts.delete(a);
      if (start === undefined) {
        // a start given up on (SPAWN_REPLY_TIMEOUT_MS): its session is gone, so is the program
        if (b > 0) this._signal(b, osConstants.signals.SIGKILL);
        return;
      }
      clearTimeout(start.timer);
      // the exit watch is registered now: an 'X' later in this same chunk must find it
      if (b > 0) start.resolve(this._handle(b));
      else start.reject(new SysError(ERRNO_NAMES.get(-b) ?? 'EIO', 'execve'));
    } else if (op === 'X') {
      const exit = this._exits.get(a);
      this._exits.delete(a);
      exit?.(b);
    }
  }
}
