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

/** Called for each accepted connection; the socket is paused (no byte read yet). */
export type ConnectionHandler = (socket: net.Socket) => void;

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
  // fallback (no addon): connections accepted while paused wait here, still unread
  private readonly _held: net.Socket[] = [];

  private constructor(
    /** The bound address as the kernel reports it. */
    readonly address: string,
    /** The bound port (the real one when 0 was asked for). */
    readonly port: number,
    private readonly _fd: number,
    private readonly _onConnection: ConnectionHandler,
    fallbackServer?: net.Server,
  ) {
    if (fallbackServer !== undefined) {
      this._server = fallbackServer;
      fallbackServer.on('connection', (s) => (this._paused ? this._held.push(s) : this._onConnection(s)));
    }
  }

  /**
   * Binds and starts accepting.
   * @throws SysError from socket/bind/listen (code EADDRINUSE, EACCES, EADDRNOTAVAIL, ENODEV…)
   */
  static async open(opts: ListenerOptions, onConnection: ConnectionHandler): Promise<Listener> {
    // -I, or the zone of a link-local literal: SO_BINDTODEVICE also scopes fe80::
    const device = opts.interfaceName ?? opts.bind.zone;
    if (native.available()) {
      const bound = native.listenTcp({
        address: opts.bind.address,
        port: opts.port,
        family: opts.bind.family,
        v6only: opts.bind.v6only,
        backlog: opts.backlog,
        reuseAddr: true,
        reusePort: opts.reusePort ?? false,
        ...(device === undefined ? {} : { device }),
      });
      const l = new Listener(bound.address, bound.port, bound.fd, onConnection);
      await l._startServer();
      return l;
    }
    if (device !== undefined) throw new SysError('ENOSYS', 'setsockopt SO_BINDTODEVICE');
    const server = newServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(SysError.from(err, 'bind')));
      server.listen({ host: opts.bind.address, port: opts.port, backlog: opts.backlog, ipv6Only: opts.bind.v6only, exclusive: true }, resolve);
    });
    const a = server.address() as net.AddressInfo;
    return new Listener(a.address, a.port, -1, onConnection, server);
  }

  private async _startServer(): Promise<void> {
    const server = newServer();
    server.on('connection', this._onConnection);
    server.on('error', () => {
      // EMFILE/ENFILE on accept: libuv backs off by itself; nothing to do per error.
    });
    const fd = native.dup(this._fd);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this._server = server;
  }

  /** Stops accepting; connections queue in the kernel backlog. Idempotent. */
  pause(): void {
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
        // a dup that fails (EMFILE) is retried on the next resume
        this._paused = true;
      });
      return;
    }
    while (this._held.length > 0 && !this._paused) this._onConnection(this._held.shift() as net.Socket);
  }

  /** Closes the port at once (new connections are refused); open sessions are not touched. */
  close(): void {
    if (this._closed) return;
    this._closed = true;
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
