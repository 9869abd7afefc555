// An accepted connection before anything is read: its addresses, its fd, and a net.Socket only when one is needed.
import net from 'node:net';
import * as native from '../sys/native';

/**
 * One accepted connection, not yet read. The listener's own accept loop hands over a bare fd:
 * a TLS socket can open it directly, and a net.Socket (the lookups' and -n's) is made only when
 * asked for. Without the addon it wraps the net.Socket that net.Server accepted.
 */
export class Accepted {
  private _socket: net.Socket | undefined;
  // the bare fd this object owns; -1 once closed, handed over or given to the net.Socket
  private _fd: number;

  private constructor(
    readonly remoteAddress: string,
    readonly remotePort: number,
    readonly localAddress: string,
    readonly localPort: number,
    fd: number,
    socket: net.Socket | undefined,
  ) {
    this._fd = fd;
    this._socket = socket;
  }

  /** A connection accepted natively (native.acceptOpen): this object owns the fd. */
  static fromFd(c: native.AcceptedFd): Accepted {
    return new Accepted(c.remoteAddress, c.remotePort, c.localAddress, c.localPort, c.fd, undefined);
  }

  /**
   * A connection net.Server accepted (paused). Undefined, with the socket destroyed, when it
   * was reset before its addresses could be read.
   */
  static fromSocket(socket: net.Socket): Accepted | undefined {
    const { remoteAddress, localAddress } = socket;
    if (remoteAddress === undefined || localAddress === undefined) {
      socket.destroy();
      return undefined;
    }
    socket.on('error', ignoreError);
    return new Accepted(remoteAddress, socket.remotePort ?? 0, localAddress, socket.localPort ?? 0, -1, socket);
  }

  /**
   * The connection as a paused net.Socket, made on first use (it then owns the fd). Errors
   * before TLS owns it (a reset during lookups) show as its 'close' and are otherwise ignored.
   */
  get socket(): net.Socket {
    if (this._socket === undefined) {
      if (this._fd < 0) {
        // closed or handed over already: a socket that says so
        this._socket = new net.Socket();
        this._socket.destroy();
        return this._socket;
      }
      // pauseOnCreate: what net.Server's pauseOnConnect does (no read is started)
      const options = { fd: this._fd, readable: true, writable: true, allowHalfOpen: true, pauseOnCreate: true };
      this._socket = new net.Socket(options as net.SocketConstructorOpts);
      this._socket.on('error', ignoreError);
      this._fd = -1;
    }
    return this._socket;
  }

  /** The fd while this object still owns one without a net.Socket; undefined otherwise. */
  get bareFd(): number | undefined {
    return this._socket === undefined && this._fd >= 0 ? this._fd : undefined;
  }

  /** The connection's fd, whoever holds it (-1 when unknown or closed). */
  get fd(): number {
    if (this._socket !== undefined) return (this._socket as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
    return this._fd;
  }

  get destroyed(): boolean {
    return this._socket?.destroyed ?? this._fd < 0;
  }

  /** Gives the bare fd to a new owner (a TLS socket that opened it); this object forgets it. */
  handOver(): void {
    this._fd = -1;
  }

  /** TCP_NODELAY on or off (a syscall only when it changes something). */
  setNoDelay(on: boolean): void {
    if (this._socket !== undefined) this._socket.setNoDelay(on);
    else if (on && this._fd >= 0) native.setNoDelay(this._fd, true);
  }

  /** Closes the connection at once (idempotent). */
  destroy(): void {
    if (this._socket !== undefined) {
      this._socket.destroy();
      return;
    }
    if (this._fd < 0) return;
    const fd = this._fd;
    this._fd = -1;
    try {
      native.close(fd);
    } catch {
      // EBADF cannot happen for an fd we own; nothing to do either way
    }
  }
}

/** An 'error' listener that only keeps an error from being thrown (the caller sees 'close'). */
function ignoreError(): void {}
