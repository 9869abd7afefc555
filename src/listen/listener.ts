// The listening socket: bind (natively, for SO_BINDTODEVICE/V6ONLY/REUSEPORT), accept, pause at -c.
import net from 'node:net';
import { SysError } from '../errors';
import * as native from '../sys/native';
import type { BindAddress } from './address';

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

/** Called for each accepted connection; the socket is paused (no byte read yet). */
export type ConnectionHandler = (socket: net.Socket) => void;

/** Called when accept(2) fails (EMFILE, ENFILE, ENOBUFS…); accepting goes on by itself. */
export type AcceptErrorHandler = (err: NodeJS.ErrnoException) => void;

// After a failed re-arm (the dup failed: out of fds), try again after this long.
const REARM_RETRY_MS = 100;

/**
 * One listening socket. While paused (at the -c limit) nothing is accepted: connections wait in
 * the kernel backlog, as with the reference. Node has no "stop accepting" call, so the socket is
 * kept open through our own descriptor and each accepting net.Server gets a dup of it: pausing
 * closes the server (and its dup), which stops libuv's accept watcher without closing the port.
 */
export class Listener {
  private _server: net.Server | undefined;
  private _closed = false;
  private _paused = false;
  private _rearm: NodeJS.Timeout | undefined;
  // fallback (no addon): connections accepted while paused wait here, still unread
  private readonly _held: net.Socket[] = [];

  private constructor(
    /** The bound address as the kernel reports it. */
    readonly address: string,
    /** The bound port (the real one when 0 was asked for). */
    readonly port: number,
    private readonly _fd: number,
    private readonly _onConnection: ConnectionHandler,
    private readonly _onAcceptError: AcceptErrorHandler,
    fallbackServer?: net.Server,
  ) {
    if (fallbackServer !== undefined) {
      this._server = fallbackServer;
      fallbackServer.on('error', (err) => this._onAcceptError(err));
      fallbackServer.on('connection', (s) => (this._paused ? this._held.push(s) : this._onConnection(s)));
    }
  }

  /**
   * Binds and starts accepting.
   * @param opts what to bind
   * @param onConnection gets each accepted socket, paused
   * @param onAcceptError told of each failed accept. Out of fds, libuv's reserve-fd trick
   *   (uv__emfile_trick) accepts and closes the pending connections instead of spinning; the
   *   server may free an fd for the next one (e.g. by dropping a stalled handshake)
   * @throws SysError from socket/bind/listen (code EADDRINUSE, EACCES, EADDRNOTAVAIL, ENODEV…)
   */
  static async open(opts: ListenerOptions, onConnection: ConnectionHandler, onAcceptError: AcceptErrorHandler = () => undefined): Promise<Listener> {
    // -I, or the zone of a link-local literal: SO_BINDTODEVICE also scopes fe80::
    const device = opts.interfaceName ?? opts.bind.zone;
    if (native.available()) return Listener.adopt(Listener.bind(opts), onConnection, onAcceptError);
    if (device !== undefined) throw new SysError('ENOSYS', 'setsockopt SO_BINDTODEVICE');
    const server = newServer();
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
   * @param onConnection gets each accepted socket, paused
   * @param onAcceptError told of each failed accept
   * @returns the listener
   */
  static async adopt(bound: BoundSocket, onConnection: ConnectionHandler, onAcceptError: AcceptErrorHandler = () => undefined): Promise<Listener> {
    const l = new Listener(bound.address, bound.port, bound.fd, onConnection, onAcceptError);
    await l._startServer();
    return l;
  }

  private async _startServer(): Promise<void> {
    const server = newServer();
    server.on('connection', this._onConnection);
    server.on('error', (err: NodeJS.ErrnoException) => this._onAcceptError(err));
    const fd = native.dup(this._fd);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this._server = server;
    // paused or closed while listen() was under way
    if (this._paused || this._closed) {
      server.close();
      this._server = undefined;
    }
  }

  /** Stops accepting; connections queue in the kernel backlog. Idempotent. */
  pause(): void {
    if (this._rearm !== undefined) clearTimeout(this._rearm);
    this._rearm = undefined;
    if (this._paused || this._closed) return;
    this._paused = true;
    if (this._fd >= 0 && this._server !== undefined) {
      this._server.close();
      this._server = undefined;
    }
  }

  /** Accepts again after pause(). Idempotent. */
  resume(): void {
    if (!this._paused || this._closed) return;
    this._paused = false;
    if (this._fd >= 0) {
      this._startServer().catch(() => {
        // the dup failed (EMFILE): try again shortly, unless paused or closed meanwhile
        if (this._paused || this._closed) return;
        this._paused = true;
        this._rearm = setTimeout(() => {
          this._rearm = undefined;
          this.resume();
        }, REARM_RETRY_MS);
      });
      return;
    }
    while (this._held.length > 0 && !this._paused) this._onConnection(this._held.shift() as net.Socket);
  }

  /** Closes the port at once (new connections are refused); open sessions are not touched. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    if (this._rearm !== undefined) clearTimeout(this._rearm);
    this._server?.close();
    this._server = undefined;
    if (this._fd >= 0) native.close(this._fd);
    for (const s of this._held.splice(0)) s.destroy();
  }
}

function newServer(): net.Server {
  // pauseOnConnect: nothing is read before TLS or the program owns the socket.
  // allowHalfOpen: a client's FIN must not end our side (half-close relay).
  return net.createServer({ pauseOnConnect: true, allowHalfOpen: true });
}
