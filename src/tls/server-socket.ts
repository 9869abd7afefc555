// A server-side TLSSocket over an accepted connection that hands decrypted bytes to a reader in
// one reused buffer (Node's `onread`) instead of a new Buffer and a stream push per record.
import type net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';
import type { Accepted } from '../listen/accepted';
import * as native from '../sys/native';

/**
 * Gets the decrypted bytes of one TLS record (or part of one). They are valid only during the
 * call: a reader copies what it keeps before it returns.
 */
export type RecordReader = (bytes: Buffer) => void;

/** What the session needs of the server's TLS settings. */
export interface ServerSocketOptions {
  readonly secureContext: tls.SecureContext;
  readonly requestCert: boolean;
}

/** A server-side TLS socket whose decrypted bytes go to a reader. */
export interface ServerTlsSocket {
  readonly socket: tls.TLSSocket;
  /**
   * Where the decrypted bytes go from now on; the bytes held until now (at most about
   * HELD_HIGH_WATER_BYTES: reading pauses past it) go first. Backpressure is the socket's own
   * pause() and resume(). Call once.
   */
  read(reader: RecordReader): void;
}

/**
 * Bytes that come before there is a reader (a client that talks first while its program is
 * started, or waits for a -c slot), past which the socket stops reading: a net.Socket's own
 * readable high-water mark, as when these bytes waited in the TLSSocket's stream buffer.
 */
export const HELD_HIGH_WATER_BYTES = 16 * 1024;

// OpenSSL hands over at most one 16 KiB record per callback (TLSWrap::ClearOut), and a reader
// copies what it keeps before returning, so one buffer serves every connection of this thread
const LANDING_BYTES = 16 * 1024;
let landing: Buffer | undefined;

type TlsHandle = { open?: (fd: number) => number; receive?: (bytes: Buffer) => void };

/** The TLS socket of a connection, and how its decrypted bytes are read. */
export interface ServerTls {
  readonly socket: tls.TLSSocket;
  /** As ServerTlsSocket's; undefined for the ordinary wrap, whose bytes come as 'data' events. */
  readonly read: ServerTlsSocket['read'] | undefined;
}

/**
 * The TLS socket for an accepted connection: serverTlsOver's when it can be made, else the
 * ordinary wrap, `new TLSSocket(socket, ...)`. Either takes the bytes the connection's net.Socket
 * (if it has one) already read as its first input.
 */
export function serverTls(conn: Accepted, options: ServerSocketOptions): ServerTls {
  const own = serverTlsOver(conn, options);
  if (own !== undefined) return own;
  const socket = new tls.TLSSocket(conn.socket, { isServer: true, secureContext: options.secureContext, requestCert: options.requestCert, rejectUnauthorized: false });
  return { socket, read: undefined };
}

/**
 * Makes the TLS socket for an accepted connection on its own TCP handle, with `onread` (which
 * Node takes only for a TLSSocket that owns its handle, not one that wraps a net.Socket): on the
 * connection's fd itself when no net.Socket was made for it (the listener's own accept), else on
 * a dup of the socket's fd, and that socket, once the bytes it already read are taken over, is
 * destroyed (the connection stays, on the dup). Returns undefined when that cannot be done (no
 * addon, no fd, out of fds, a Node whose TLS handle cannot open an fd): serverTls wraps the
 * connection's net.Socket the ordinary way then.
 */
export function serverTlsOver(conn: Accepted, options: ServerSocketOptions): ServerTlsSocket | undefined {
  if (!native.available()) return undefined;
  const bare = conn.bareFd;
  let fd: number;
  if (bare !== undefined) {
    fd = bare;
  } else {
    const rawFd = conn.fd;
    if (rawFd < 0 || conn.destroyed) return undefined;
    try {
      fd = native.dup(rawFd);
    } catch {
      return undefined; // EMFILE: the ordinary wrap needs no second fd
    }
  }
  const reading = new RecordRouter();
  landing ??= Buffer.allocUnsafe(LANDING_BYTES);
  const socket = new tls.TLSSocket(null as unknown as net.Socket, {
    isServer: true,
    secureContext: options.secureContext,
    requestCert: options.requestCert,
    rejectUnauthorized: false,
    // as a wrapping TLSSocket takes the accepted socket's: the client's close_notify must not end our side
    allowHalfOpen: true,
    onread: { buffer: landing, callback: reading.onRead },
  } as tls.TLSSocketOptions);
  reading.socket = socket;
  const handle = (socket as unknown as { _handle?: TlsHandle })._handle;
  if (handle?.open === undefined || handle.receive === undefined || handle.open(fd) !== 0) {
    // not the Node this was built against: leave the connection (and a bare fd) to the caller
    socket.destroy();
    if (bare === undefined) native.close(fd);
    return undefined;
  }
  if (bare !== undefined) {
    conn.handOver();
  } else {
    // bytes the accepted socket read already (the early-EOF watch) are the first TLS input; a
    // socket that has read nothing (-n's) is not asked, as read() would start it reading
    const raw = conn.socket;
    while (raw.readableLength > 0) {
      const chunk = raw.read() as Buffer | null;
      if (chunk === null) break;
      handle.receive(chunk);
    }
    raw.destroy();
  }
  // a TLSSocket made without a socket counts as connecting (tls.connect's case) and would wait
  // for a 'connect' before it reads; this one is connected
  (socket as unknown as { connecting: boolean }).connecting = false;
  return { socket, read: (reader) => reading.start(reader) };
}

/** Routes each record's bytes to the reader, or holds copies until there is one. */
class RecordRouter {
  socket: tls.TLSSocket | undefined = undefined;
  private reader: RecordReader | undefined = undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private pausedToHold = false;

  readonly onRead = (nread: number, buf: Buffer): void => {
    const bytes = buf.subarray(0, nread);
    if (this.reader !== undefined) {
      this.reader(bytes);
      return;
    }
    this.held.push(Buffer.from(bytes));
    this.heldBytes += nread;
    if (this.heldBytes >= HELD_HIGH_WATER_BYTES && !this.pausedToHold) {
      this.pausedToHold = true;
      this.socket?.pause();
    }
  };

  start(reader: RecordReader): void {
    this.reader = reader;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    // resumed first: the reader may pause again as it takes the held bytes
    if (this.pausedToHold) {
      this.pausedToHold = false;
      this.socket?.resume();
    }
    for (const chunk of held) reader(chunk);
  }
}

/**
 * True when a write to this socket now would be encrypted before write() returns, so that bytes
 * the caller may not keep can be written as they are: a TLSSocket whose stream has nothing
 * queued or in flight hands a write straight to its TLS handle, and Node's TLSWrap::DoWrite
 * runs SSL_write on the bytes at once and copies whatever OpenSSL does not take. Anything else
 * (a write in flight, which queues the next in the stream; corked; connecting; ended; not TLS;
 * a Node without this stream state) says false: copy first.
 */
export function encryptsAtOnce(socket: Duplex): boolean {
  if (!(socket instanceof tls.TLSSocket) || socket.connecting || socket.destroyed || socket.writableEnded) return false;
  if (socket.writableLength > 0 || socket.writableCorked > 0) return false;
  const state = (socket as unknown as { _writableState?: { writing?: unknown; errored?: unknown } })._writableState;
  return state?.writing === false && state.errored === null;
}
