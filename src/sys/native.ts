// The one loader of the sslserver_native addon (native/*.c): its whole surface, typed.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import type { SecureContext } from 'node:tls';
import { SysError, errCode } from '../errors';
import { exactArg } from '../env/env-bytes';

/** What `listenTcp` binds. */
export interface ListenTcpOptions {
  /** Numeric IPv4 or IPv6 address (no brackets, no scope suffix). */
  address: string;
  /** Port; 0 picks a free one. */
  port: number;
  /** Address family; defaults from the address (a colon means 6). */
  family?: 4 | 6;
  /** IPV6_V6ONLY on an IPv6 socket; false lets `::` accept IPv4 too. Default false. */
  v6only?: boolean;
  /** listen(2) backlog. Default 511. */
  backlog?: number;
  /** SO_REUSEADDR. Default true, as tcpserver. */
  reuseAddr?: boolean;
  /** SO_REUSEPORT, for several workers on one port. Default false. */
  reusePort?: boolean;
  /** SO_BINDTODEVICE interface name (tcpserver's `-I`); also scopes an IPv6 link-local address. */
  device?: string;
  /** sin6_scope_id for a link-local address, when no device gives it. */
  scopeId?: number;
}

/** A bound, listening socket: non-blocking and close-on-exec, ready for `net.Server.listen({ fd })`. */
export interface ListenTcpResult {
  fd: number;
  /** The bound address as getsockname(2) reports it. */
  address: string;
  port: number;
}

/** What `spawnChild` starts. */
export interface NativeSpawnOptions {
  /** Program; searched in PATH (the new environment's, else ours) when it has no slash. */
  file: string;
  /** Full argument vector, argv[0] included. */
  argv: readonly string[];
  /** Environment as `NAME=value` entries, passed exactly. */
  env: readonly string[];
  /** fds[i] becomes fd i in the child (-1: fd i closed); every other fd is closed. */
  fds: readonly number[];
  /** setresuid in the child; omitted or -1: unchanged. */
  uid?: number;
  /** setresgid in the child; omitted or -1: unchanged. */
  gid?: number;
  /** setgroups in the child; omitted: unchanged, []: none. */
  groups?: readonly number[];
  /** chroot(2) then chdir("/") in the child, before the PATH search. */
  chroot?: string;
}

/** A child started by `spawnChild`. */
export interface NativeChild {
  readonly pid: number;
  /** Resolves with the raw wait status (exit 3 -> 768, SIGTERM -> 15; -1 if reaped elsewhere). */
  readonly exited: Promise<number>;
  /** Whether the running child keeps Node's event loop alive (it does by default). */
  setRef(ref: boolean): void;
}

/** The addon's exports, exactly as native/*.c defines them. */
export interface NativeAddon {
  /** Strings go to C as UTF-8, Buffers as their bytes (see `spawnChild`). */
  spawn(
    file: string | Buffer,
    argv: readonly (string | Buffer)[],
    envp: readonly (string | Buffer)[],
    fds: readonly number[],
    uid: number,
    gid: number,
    groups: readonly number[] | null,
    chroot: string | null,
  ): number;
  onExit(callback: (pid: number, status: number) => void): void;
  setChildRef(pid: number, ref: boolean): boolean;
  pipe(): [number, number];
  socketpair(): [number, number];
  close(fd: number): void;
  dup(fd: number): number;
  chroot(path: string): void;
  heapTopPad(bytes: number): boolean;
  heapTrim(): boolean;
  listenTcp(options: ListenTcpOptions): ListenTcpResult;
  setIpOptionsNone(fd: number): void;
  setNoDelay(fd: number, on: boolean): void;
  seqpacketPair(): [number, number];
  sendFds(fd: number, data: Buffer, fds: readonly number[]): void;
  dropPrivilegeLimits(): void;
  setNonDumpable(): void;
  renewTicketsOnResume(ctx: unknown): boolean;
  pipeOnEvent(callback: (fd: number, event: number, bytes: number) => void): void;
  pipeReadBuffer(): Buffer;
  pipeOpen(fd: number): void;
  pipeWatch(fd: number, events: number): void;
  pipeWritev(fd: number, buffers: readonly Buffer[]): number;
  pipeGrow(fd: number, bytes: number): number;
  pipeClose(fd: number): void;
  acceptOnEvent(callback: (listenFd: number, fd: number, remoteAddress?: string, remotePort?: number, localAddress?: string, localPort?: number) => void): void;
  acceptOpen(fd: number): void;
  acceptWatch(fd: number, on: boolean): void;
  acceptClose(fd: number): void;
}

/** A connection a listener of `acceptOpen` took: its fd and both ends as net.Socket spells them. */
export interface AcceptedFd {
  /** Non-blocking and close-on-exec; the handler owns it. */
  readonly fd: number;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** What a listener of `acceptOpen` reports: each connection, and each failed accept(2). */
export interface AcceptHandlers {
  onConnection(conn: AcceptedFd): void;
  /**
   * accept(2) failed (code: EMFILE, ENFILE, ENOBUFS, ENOMEM, or a network error the kernel
   * passed on); after a resource error the wake-up ends, and the poll fires again next turn
   * unless the handler stops watching.
   */
  onError(code: string): void;
}

/** `pipeWatch` events: readable, writable (or 0: nothing). */
export const PIPE_READ = 1;
export const PIPE_WRITE = 2;
/**
 * What a watched pipe fd reports: bytes read, PIPE_EOF, PIPE_WRITABLE, or -errno. The bytes are
 * in the thread's one read buffer, valid only during the call: a handler copies what it keeps.
 */
export type PipeEvent = Buffer | number;
export const PIPE_EOF = 0;
export const PIPE_WRITABLE = 1;
// the addon's code for "bytes read" (handlers get the bytes instead)
const PIPE_DATA = 2;

const ADDON_FILE = 'sslserver_native.node';
const SPAWNER_FILE = 'sslserver-spawner';
const PACKAGE_NAME = 'ucspi-ssl-ts';

let loaded: NativeAddon | undefined;
let loadError: Error | undefined;
const pendingExits = new Map<number, (status: number) => void>();
const pipeHandlers = new Map<number, (event: PipeEvent) => void>();
const acceptHandlers = new Map<number, AcceptHandlers>();
let pipeReadBuffer: Buffer | undefined;

/** The package root: the nearest directory above this file with our package.json. */
function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pj = path.join(dir, 'package.json');
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, 'utf8')) as { name?: unknown }).name === PACKAGE_NAME) return dir;
      } catch {
        // not ours; keep climbing
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(__dirname, '..', '..', '..');
    dir = up;
  }
}

/** Paths tried, in order, by `loadNative`. */
export function addonPaths(): string[] {
  const root = packageRoot();
  return ['Release', 'Debug'].map((kind) => path.join(root, 'build', kind, ADDON_FILE));
}

/**
 * Loads the addon once (lazily: importing this module never needs it).
 * @returns the addon's exports
 * @throws Error naming every path tried, when none loads (not built: `npm run build:native`)
 */
export function loadNative(): NativeAddon {
  if (loaded !== undefined) return loaded;
  if (loadError !== undefined) throw loadError;
  const reasons: string[] = [];
  for (const p of addonPaths()) {
    try {
      const addon = require(p) as NativeAddon;
      addon.onExit(dispatchExit);
      addon.pipeOnEvent(dispatchPipe);
      addon.acceptOnEvent(dispatchAccept);
      pipeReadBuffer = addon.pipeReadBuffer();
      loaded = addon;
      return addon;
    } catch (err) {
      reasons.push(`${p}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  loadError = new Error(`cannot load ${ADDON_FILE}; tried:\n  ${reasons.join('\n  ')}`);
  throw loadError;
}

/** True when the addon loads; the callers then prefer it over the pure-Node paths. */
export function available(): boolean {
  try {
    loadNative();
    return true;
  } catch {
    return false;
  }
}

function dispatchExit(pid: number, status: number): void {
  const resolve = pendingExits.get(pid);
  pendingExits.delete(pid);
  resolve?.(status);
}

function dispatchPipe(fd: number, event: number, bytes: number): void {
  const handler = pipeHandlers.get(fd);
  if (handler === undefined) return;
  if (event === PIPE_DATA) handler((pipeReadBuffer as Buffer).subarray(0, bytes));
  else handler(event);
}

function dispatchAccept(listenFd: number, fd: number, remoteAddress?: string, remotePort?: number, localAddress?: string, localPort?: number): void {
  const handlers = acceptHandlers.get(listenFd);
  if (fd < 0) {
    handlers?.onError(getSystemErrorName(fd));
    return;
  }
  // a listener closed by an earlier callback of the same wake-up: the connection is nobody's
  if (handlers === undefined) loaded?.close(fd);
  else handlers.onConnection({ fd, remoteAddress: remoteAddress as string, remotePort: remotePort as number, localAddress: localAddress as string, localPort: localPort as number });
}

// Errors from the addon carry code and syscall (Node's shape); callers get our SysError.
function sys<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof TypeError || errCode(err) === undefined) throw err;
    const e = err as { code: string; syscall?: string; path?: string };
    throw new SysError(e.code, e.syscall ?? 'unknown', e.path, { cause: err });
  }
}

// The list as it is when every string is plain text (the usual case, no copy), else with the
// strings that carry bytes from a non-UTF-8 source as those bytes.
function bytesList(list: readonly string[]): readonly (string | Buffer)[] {
  return list.every((s) => s.isWellFormed()) ? list : list.map(exactArg);
}

/**
 * Starts a program with vfork semantics: exact fd map, identity, optional chroot. File, argv and
 * environment go out as the bytes they stand for (`bytesFromText`: UTF-8, and bytes kept from a
 * non-UTF-8 source, such as a Latin-1 rules file, as those bytes).
 * @param opts what to run and how
 * @returns the child; its `exited` resolves when it has been reaped
 * @throws SysError synchronously when it cannot start (code ENOENT/EACCES, syscall `execve`;
 *   EPERM from `setuid`; EBADF from `fcntl` for a bad source fd)
 */
export function spawnChild(opts: NativeSpawnOptions): NativeChild {
  const addon = loadNative();
  const pid = sys(() =>
    addon.spawn(exactArg(opts.file), bytesList(opts.argv), bytesList(opts.env), opts.fds, opts.uid ?? -1, opts.gid ?? -1, opts.groups ?? null, opts.chroot ?? null),
  );
  // The exit is delivered from a later loop turn, never inside spawn(): registering now is in time.
  const exited = new Promise<number>((resolve) => pendingExits.set(pid, resolve));
  return {
    pid,
    exited,
    setRef: (ref) => {
      addon.setChildRef(pid, ref);
    },
  };
}

/**
 * A pipe of the kernel's default capacity, both ends close-on-exec (see `pipeGrow`).
 * @returns [read end, write end]
 * @throws SysError (EMFILE, ENFILE)
 */
export function pipe(): [number, number] {
  const addon = loadNative();
  return sys(() => addon.pipe());
}

/**
 * An AF_UNIX stream socket pair, close-on-exec (the UCSPI-TLS control channel).
 * @returns the two connected ends
 * @throws SysError (EMFILE, ENFILE)
 */
export function socketpair(): [number, number] {
  const addon = loadNative();
  return sys(() => addon.socketpair());
}

/**
 * Closes an fd this process owns (not one a net.Socket owns).
 * @param fd the descriptor
 * @throws SysError EBADF
 */
export function close(fd: number): void {
  const addon = loadNative();
  sys(() => addon.close(fd));
}

/**
 * Duplicates an fd, close-on-exec.
 * @param fd the descriptor
 * @returns the new descriptor
 * @throws SysError EBADF, EMFILE
 */
export function dup(fd: number): number {
  const addon = loadNative();
  return sys(() => addon.dup(fd));
}

/**
 * chroot(2) the whole process to `dir`, then chdir("/"). Needs root.
 * @param dir the new root
 * @throws SysError (EPERM, ENOENT) with syscall `chroot` or `chdir`
 */
export function chroot(dir: string): void {
  const addon = loadNative();
  sys(() => addon.chroot(dir));
}

/**
 * Binds and listens with the options Node 20's net cannot set (SO_BINDTODEVICE, SO_REUSEPORT).
 * @param opts address, port and socket options
 * @returns the listening fd and the address actually bound
 * @throws SysError (EADDRINUSE with syscall `bind`, ENODEV from `setsockopt`…); TypeError for
 *   an address that is not numeric
 */
export function listenTcp(opts: ListenTcpOptions): ListenTcpResult {
  const addon = loadNative();
  return sys(() => addon.listenTcp(opts));
}

/**
 * Drops any IP options on an IPv4 socket (tcpserver `-O`); IPv6 sockets are left as they are.
 * @param fd a connected or listening TCP socket
 * @throws SysError (EBADF, ENOTSOCK)
 */
export function setIpOptionsNone(fd: number): void {
  const addon = loadNative();
  sys(() => addon.setIpOptionsNone(fd));
}

/**
 * Sets TCP_NODELAY on a connection held by fd (one not yet given to a net.Socket or TLS socket).
 * @throws SysError (EBADF, ENOTSOCK)
 */
export function setNoDelay(fd: number, on: boolean): void {
  const addon = loadNative();
  sys(() => addon.setNoDelay(fd, on));
}

/**
 * An AF_UNIX SOCK_SEQPACKET pair, close-on-exec (the spawner's request channel: one record per
 * request, fds attached).
 * @returns the two connected ends
 * @throws SysError (EMFILE, ENFILE)
 */
export function seqpacketPair(): [number, number] {
  const addon = loadNative();
  return sys(() => addon.seqpacketPair());
}

/**
 * One sendmsg(2) of `data` with `fds` attached as SCM_RIGHTS; never blocks.
 * @param fd a connected AF_UNIX socket
 * @param data the record
 * @param fds at most 16 descriptors to pass (the receiver gets its own copies)
 * @throws SysError EAGAIN (the peer is not reading), EPIPE, EBADF
 */
export function sendFds(fd: number, data: Buffer, fds: readonly number[]): void {
  const addon = loadNative();
  sys(() => addon.sendFds(fd, data, fds));
}

/**
 * The free space glibc's heap keeps at its top when it shrinks, and asks the kernel for in addition
 * when it grows (mallopt M_TOP_PAD, for the whole process). Its default, 128 KiB, gives the pages
 * back after every burst of freed buffers and takes fresh zeroed pages for the next.
 * @param bytes the pad
 * @returns whether glibc took the setting (false under another C library)
 */
export function heapTopPad(bytes: number): boolean {
  return loadNative().heapTopPad(bytes);
}

/**
 * Gives free glibc heap pages back to the kernel (malloc_trim(0), for the whole process): the
 * main heap's free top, whatever the pad, and the free pages inside every arena (not a thread
 * arena's free top, which glibc trims only when freeing into it, keeping the pad).
 * @returns whether any memory went back (always false under another C library)
 */
export function heapTrim(): boolean {
  return loadNative().heapTrim();
}

/**
 * Empties the capability bounding set and makes the process non-dumpable (no ptrace, no
 * /proc/PID/mem for processes of the same uid). Call as root, before giving up the uid.
 * @throws SysError EPERM from `prctl` without CAP_SETPCAP
 */
export function dropPrivilegeLimits(): void {
  const addon = loadNative();
  sys(() => addon.dropPrivilegeLimits());
}

/**
 * prctl(PR_SET_DUMPABLE, 0): no ptrace or /proc/PID/mem for processes of the same uid.
 * @throws SysError from `prctl`
 */
export function setNonDumpable(): void {
  const addon = loadNative();
  sys(() => addon.setNonDumpable());
}

/**
 * Makes a server context send a new TLS 1.3 session ticket after every resumed handshake
 * (native/tls.cc says why: Node never does, and clients use a TLS 1.3 ticket once).
 * @param secureContext a context from tls.createSecureContext
 * @returns false, changing nothing, when the addon is not built or this Node has no SSL_CTX
 *   handle on its SecureContext (`context._external`)
 */
export function renewTicketsOnResume(secureContext: SecureContext): boolean {
  const ctx = (secureContext as { context?: { _external?: unknown } }).context?._external;
  if (ctx === undefined || !available()) return false;
  return loadNative().renewTicketsOnResume(ctx);
}

/**
 * The privileged spawner executable built beside the addon (native/spawner.c).
 * @returns its path, or undefined when it was not built
 */
export function spawnerPath(): string | undefined {
  return ['Release', 'Debug'].map((kind) => path.join(packageRoot(), 'build', kind, SPAWNER_FILE)).find((p) => existsSync(p));
}

/**
 * Takes over our end of a pipe for event-driven I/O on this thread's loop (no net.Socket): it
 * becomes non-blocking; nothing is watched until `pipeWatch`.
 * @param fd our end of a pipe (or any pollable fd); `pipeClose` is then the only way to close it
 * @param onEvent gets a Buffer per read (valid only during the call), PIPE_EOF, PIPE_WRITABLE, or
 *   -errno (EPIPE: the reader left)
 * @throws SysError when fd cannot be polled
 */
export function pipeOpen(fd: number, onEvent: (event: PipeEvent) => void): void {
  const addon = loadNative();
  sys(() => addon.pipeOpen(fd));
  pipeHandlers.set(fd, onEvent);
}

/**
 * What to watch an fd of `pipeOpen` for: PIPE_READ (reads are done for you, one per wake-up, up
 * to 64 KiB), PIPE_WRITE (PIPE_WRITABLE once there is room), both, or 0.
 */
export function pipeWatch(fd: number, events: number): void {
  const addon = loadNative();
  sys(() => addon.pipeWatch(fd, events));
}

/**
 * One writev(2) of up to 64 buffers; never blocks.
 * @returns bytes written (0: the pipe is full), or -errno (-EPIPE: the reader left)
 */
export function pipeWritev(fd: number, buffers: readonly Buffer[]): number {
  return loadNative().pipeWritev(fd, buffers);
}

/**
 * Raises the capacity of the pipe `fd` belongs to (F_SETPIPE_SZ) to at least `bytes`, never
 * lowers it (so `pipeGrow(fd, 1)` only tells it), best effort: an unprivileged
 * user whose pipes already hold pipe-user-pages-soft (/proc/sys/fs; 64 MiB by default) cannot,
 * and past that limit every new pipe of that user gets 8 KiB instead of 64; so a pipe is grown
 * only once it carries a bulk transfer, never for every session.
 * @returns the capacity now, or -errno (-EPERM: past the limit; the pipe keeps its size)
 */
export function pipeGrow(fd: number, bytes: number): number {
  return loadNative().pipeGrow(fd, bytes);
}

/** Stops watching an fd of `pipeOpen` and closes it; no event for it comes after this. */
export function pipeClose(fd: number): void {
  pipeHandlers.delete(fd);
  const addon = loadNative();
  sys(() => addon.pipeClose(fd));
}

/**
 * Takes over a listening socket for accepting on this thread's loop without net.Server: each
 * connection comes to `handlers.onConnection` as an fd with its addresses. Nothing is accepted
 * until `acceptWatch(fd, true)`.
 * @param fd a listening TCP socket (listenTcp's); `acceptClose` is then the way to close it
 * @throws SysError when fd cannot be polled
 */
export function acceptOpen(fd: number, handlers: AcceptHandlers): void {
  const addon = loadNative();
  sys(() => addon.acceptOpen(fd));
  acceptHandlers.set(fd, handlers);
}

/** Accepts (on) or leaves new connections in the kernel backlog (off). */
export function acceptWatch(fd: number, on: boolean): void {
  const addon = loadNative();
  sys(() => addon.acceptWatch(fd, on));
}

/** Stops accepting on an fd of `acceptOpen` and closes it; no connection comes after this. */
export function acceptClose(fd: number): void {
  acceptHandlers.delete(fd);
  const addon = loadNative();
  sys(() => addon.acceptClose(fd));
}
