// The listening socket: bind (natively, for SO_BINDTODEVICE/V6ONLY/REUSEPORT), accept (natively), pause at -c.
import net from 'node:net';
import { SysError } from '../errors';
import * as native from '../sys/native';
import type { BindAddress } from './address';
import { Accepted } from './accepted';

/** What to bind and how. */
export interface ListenerOptions {
  bind: BindAddress;
  port: number;
  backlog: number;
  /** -I: bind to this interface (SO_BINDTODEVICE). */
  interfaceName?: string;
  /** SO_REUSEPORT, for several listeners on one port. */
  reusePort?: boolean;
}

/** A bound, listening socket not yet accepting (Listener.bind). */
export interface BoundSocket {
  readonly fd: number;
  /** The bound address as the kernel reports it. */
  readonly address: string;
  /** The bound port (the real one when 0 was asked for). */
  readonly port: number;
}

/** Called for each accepted connection; nothing has been read from it. */
export type ConnectionHandler = (conn: Accepted) => void;

/**
 * Called when accept(2) fails (EMFILE, ENFILE, ENOBUFS…), with the errno code; returns true when
 * it freed an fd (e.g. by dropping a stalled handshake), so that the next accept may succeed.
 */
export type AcceptErrorHandler = (code: string) => boolean;

// Out of fds with none freed, accepting waits this long before it tries again (the connections
// wait in the kernel backlog meanwhile, instead of being accepted and reset to make room).
const RETRY_MS = 100;
// accept(2) errors that say "no fd (or memory) for another connection now"
const OUT_OF_RESOURCES = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/**
 * One listening socket. While paused (at the -c limit) nothing is accepted: connections wait in
 * the kernel backlog, as with the reference. With the addon the listener accepts by itself
 * (native.acceptOpen: no net.Server, no net.Socket per connection), and pausing stops its poll;
 * without it a net.Server accepts, and connections accepted while paused wait, unread.
 */
export class Listener {
  private _closed = false;
  private _paused = false;
  private _retry: NodeJS.Timeout | undefined;
  // fallback (no addon): connections accepted while paused wait here, still unread
  private readonly _held: Accepted[] = [];

  private constructor(
    /** The bound address as the kernel reports it. */
    readonly address: string,
    /** The bound port (the real one when 0 was asked for). */
    readonly port: number,
    private readonly _fd: number,
    private readonly _onConnection: ConnectionHandler,
    private readonly _onAcceptError: AcceptErrorHandler,
    private readonly _server?: net.Server,
  ) {
    if (_server !== undefined) {
      _server.on('error', (err: NodeJS.ErrnoException) => this._onAcceptError(err.code ?? 'EIO'));
      _server.on('connection', (s: net.Socket) => {
        const conn = Accepted.fromSocket(s);
        if (conn === undefined) return;
        if (this._paused) this._held.push(conn);
        else this._onConnection(conn);
      });
    }
  }

  /**
   * Binds and starts accepting.
   * @param opts what to bind
   * @param onConnection gets each accepted connection, unread
   * @param onAcceptError told of each failed accept; out of fds, nothing is accepted until it
   *   frees one (or for RETRY_MS)
   * @throws SysError from socket/bind/listen (code EADDRINUSE, EACCES, EADDRNOTAVAIL, ENODEV…)
   */
  static async open(opts: ListenerOptions, onConnection: ConnectionHandler, onAcceptError: AcceptErrorHandler = () => false): Promise<Listener> {
    // -I, or the zone of a link-local literal: SO_BINDTODEVICE also scopes fe80::
    const device = opts.interfaceName ?? opts.bind.zone;
    if (native.available()) return Listener.adopt(Listener.bind(opts), onConnection, onAcceptError);
    if (device !== undefined) throw new SysError('ENOSYS', 'setsockopt SO_BINDTODEVICE');
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(SysError.from(err, 'bind')));
      server.listen({ host: opts.bind.address, port: opts.port, backlog: opts.backlog, ipv6Only: opts.bind.v6only, exclusive: true }, resolve);
    });
    const a = server.address() as net.AddressInfo;
    return new Listener(a.address, a.port, -1, onConnection, onAcceptError, server);
  }

  /**
   * Binds and listens without accepting yet (the addon's socket): for several event loops on one
   * port (SO_REUSEPORT), each adopting one socket with Listener.adopt.
   * @param opts what to bind
   * @returns the listening socket
   * @throws SysError from socket/bind/listen; ENOSYS without the addon
   */
  static bind(opts: ListenerOptions): BoundSocket {
    if (!native.available()) throw new SysError('ENOSYS', 'socket');
    const device = opts.interfaceName ?? opts.bind.zone;
    return native.listenTcp({
      address: opts.bind.address,
      port: opts.port,
      family: opts.bind.family,
      v6only: opts.bind.v6only,
      backlog: opts.backlog,
      reuseAddr: true,
      reusePort: opts.reusePort ?? false,
      ...(device === undefined ? {} : { device }),
    });
  }

  /**
   * Starts accepting on a socket from Listener.bind (in this event loop; the socket may come from
   * another thread of this process).
   * @param bound the listening socket; the Listener owns it from now on
   * @param onConnection gets each accepted connection, unread
   * @param onAcceptError told of each failed accept
   * @returns the listener
   * @throws SysError when the socket cannot be polled
   */
  static async adopt(bound: BoundSocket, onConnection: ConnectionHandler, onAcceptError: AcceptErrorHandler = () => false): Promise<Listener> {
    const l = new Listener(bound.address, bound.port, bound.fd, onConnection, onAcceptError);
    native.acceptOpen(bound.fd, {
      onConnection: (c) => l._onConnection(Accepted.fromFd(c)),
      onError: (code) => l._acceptFailed(code),
    });
    l._watch();
    return l;
  }

  // Accepting when neither paused, closed nor waiting out a lack of fds; else not (the addon
  // ignores a call that changes nothing).
  private _watch(): void {
    native.acceptWatch(this._fd, !this._paused && !this._closed && this._retry === undefined);
  }

  private _acceptFailed(code: string): void {
    const freed = this._onAcceptError(code);
    if (freed || !OUT_OF_RESOURCES.has(code) || this._retry !== undefined || this._closed) return;
    // nothing to free: stop polling (the poll would fire again at once) and try again later
    this._retry = setTimeout(() => {
      this._retry = undefined;
      if (!this._closed) this._watch();
    }, RETRY_MS);
    this._watch();
  }

  /** Stops accepting; connections queue in the kernel backlog. Idempotent. */
  pause(): void {
    if (this._paused || this._closed) return;
    this._paused = true;
    if (this._fd >= 0) this._watch();
  }

  /** Accepts again after pause(). Idempotent. */
  resume(): void {
    if (!this._paused || this._closed) return;
    this._paused = false;
    if (this._fd >= 0) {
      this._watch();
      return;
    }
    while (this._held.length > 0 && !this._paused) this._onConnection(this._held.shift() as Accepted);
  }

  /** Closes the port at once (new connections are refused); open sessions are not touched. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    if (this._retry !== undefined) clearTimeout(this._retry);
    this._retry = undefined;
    this._server?.close();
    if (this._fd >= 0) native.acceptClose(this._fd);
    for (const c of this._held.splice(0)) c.destroy();
  }
}
