// The relay between the TLS socket and the program's pipes: bounded buffers, half-close both ways, -w.
import type { Duplex } from 'node:stream';
import { encryptsAtOnce } from '../tls/server-socket';
import type { ProgramIo } from './program-io';
import { bytesFromText } from '../env/env-bytes';

/** How a relay ended. */
export type RelayEnd =
  | { kind: 'done' } // program closed its stdout, close_notify sent
  | { kind: 'idle' } // -w: nothing moved for the idle timeout
  | { kind: 'error'; error: Error }; // the TLS side failed (reset, bad record)

/** Options of one relay. */
export interface RelayOptions {
  /** -w in ms: nothing moved either way for this long ends the relay. */
  idleTimeoutMs: number;
  /** After our close_notify, how long to wait for the client's before closing the socket. */
  lingerMs?: number;
  /** -B: written to the client before the program's output. */
  banner?: string;
  /** Called each time the program's output passes another RELAY_BULK_BYTES. */
  onBulkOutput?: () => void;
  /**
   * The client's bytes come through the reader this is given (valid only during each call; see
   * tls/server-socket) instead of as 'data' events. Pausing and resuming stay the client's.
   */
  readInto?: (reader: (bytes: Buffer) => void) => void;
}

// After close_notify we keep reading a little so that unread client bytes do not turn our
// close into a RST that could destroy the last bytes of the program's output in flight.
const DEFAULT_LINGER_MS = 2000;
// Once the client's EOF came and the program's output ended, only our last bytes are left to
// flush. Node stops reading a socket after its EOF, and a peer that then resets can leave the
// write queued forever (seen under reset churn: writableLength stuck, no 'error', no 'close'),
// holding a -c slot until -w. A flush that makes no progress for this long ends the relay.
const FLUSH_STALL_MS = 5000;
/**
 * Bytes of the program's output written to the client but not yet sent, past which we stop
 * reading the program's stdout until they drain.
 */
export const OUTPUT_HIGH_WATER_BYTES = 128 * 1024;
/** Output of a program past which it counts as a bulk transfer (see RelayOptions.onBulkOutput). */
export const RELAY_BULK_BYTES = 1024 * 1024;

/**
 * Copies client -> program stdin and program stdout -> client until the program closes its
 * stdout (then close_notify is sent) or the TLS side fails or idles. Backpressure both ways: a
 * program that stops reading pauses the client (once its stdin queue passes the high-water
 * mark), a client that stops reading pauses the reads of the program's output.
 * - client close_notify / EOF -> EOF on the program's stdin; its later output still goes out;
 * - program closes stdout -> close_notify, FIN, then close.
 * @returns how it ended; the socket is destroyed by then, the pipes are closed
 */
export function relay(client: Duplex, io: ProgramIo, opts: RelayOptions): Promise<RelayEnd> {
  return new Promise<RelayEnd>((resolve) => {
    let ended = false;
    let lastActivity = Date.now();
    let idleTimer: NodeJS.Timeout | undefined;
    let lingerTimer: NodeJS.Timeout | undefined;
    let flushTimer: NodeJS.Timeout | undefined;
    let outputEnded = false;
    let clientPaused = false;
    let towardBulk = 0; // output bytes past the last whole RELAY_BULK_BYTES (one call each)

    const finish = (result: RelayEnd): void => {
      if (ended) return;
      ended = true;
      if (idleTimer !== undefined) clearTimeout(idleTimer);
      if (lingerTimer !== undefined) clearTimeout(lingerTimer);
      if (flushTimer !== undefined) clearTimeout(flushTimer);
      io.destroy();
      client.destroy();
      resolve(result);
    };

    const touch = (): void => {
      lastActivity = Date.now();
    };
    const armIdle = (delay: number): void => {
      idleTimer = setTimeout(() => {
        const quiet = Date.now() - lastActivity;
        if (quiet >= opts.idleTimeoutMs) finish({ kind: 'idle' });
        else armIdle(opts.idleTimeoutMs - quiet);
      }, delay);
      idleTimer.unref();
    };
    armIdle(opts.idleTimeoutMs);

    const resumeClient = (): void => {
      if (!clientPaused) return;
      clientPaused = false;
      client.resume();
    };
    const resumeOutput = (): void => io.resumeOutput();

    const watchFlush = (): void => {
      if (flushTimer !== undefined || !client.readableEnded || !outputEnded) return;
      let left = client.writableLength;
      const check = (): void => {
        if (client.writableLength > 0 && client.writableLength >= left) {
          finish({ kind: 'error', error: new Error('write stalled after end of input') });
          return;
        }
        left = client.writableLength;
        flushTimer = setTimeout(check, FLUSH_STALL_MS);
        flushTimer.unref();
      };
      flushTimer = setTimeout(check, FLUSH_STALL_MS);
      flushTimer.unref();
    };

    // program -> client
    if (opts.banner !== undefined && opts.banner !== '') client.write(bytesFromText(opts.banner));
    io.start({
      output(chunk, transient) {
        touch();
        towardBulk += chunk.length;
        // one call per whole RELAY_BULK_BYTES, whatever the reads' sizes: the overshoot counts on
        while (towardBulk >= RELAY_BULK_BYTES) {
          towardBulk -= RELAY_BULK_BYTES;
          opts.onBulkOutput?.();
        }
        // TLS completes every write a turn later, so write() says false for any read of 16 KiB
        // or more; pausing only past our own mark saves a watch stop and start per 64 KiB read
        // (a grown pipe's 256 KiB reads pass it at once: a 512 KiB mark measured the same)
        // bytes we may not keep go to TLS as they are only when it encrypts them before write()
        // returns; queued behind a write in flight, they are copied
        const bytes = transient && !encryptsAtOnce(client) ? Buffer.from(chunk) : chunk;
        if (client.write(bytes) || client.writableLength < OUTPUT_HIGH_WATER_BYTES) return;
        io.pauseOutput();
        client.once('drain', resumeOutput);
      },
      outputEnd() {
        outputEnded = true;
        client.end(); // close_notify and FIN after the data
        watchFlush();
      },
      inputDrain: resumeClient,
      inputError() {
        // EPIPE: the program stopped reading or exited; keep draining the client so that
        // its close_notify still arrives (io drops what it sends from now on)
        resumeClient();
      },
    });

    // client -> program
    const input = (chunk: Buffer, transient: boolean): void => {
      touch();
      if (io.writeInput(chunk, transient)) return; // dropped by io after an input error or endInput
      clientPaused = true;
      client.pause();
    };
    if (opts.readInto !== undefined) opts.readInto((bytes) => input(bytes, true));
    else client.on('data', (chunk: Buffer) => input(chunk, false));
    const onClientEnd = (): void => {
      io.endInput(); // close_notify -> EOF on the program's stdin
      watchFlush();
      if ((client as Duplex & { writableFinished: boolean }).writableFinished) finish({ kind: 'done' });
    };
    // the client's close_notify may have come while the program was being started
    if (client.readableEnded) process.nextTick(onClientEnd);
    else client.on('end', onClientEnd);

    client.on('finish', () => {
      // our close_notify is out; wait briefly for the client's, reading and discarding (after
      // endInput, io drops what comes)
      io.endInput();
      if (client.readableEnded) {
        finish({ kind: 'done' });
        return;
      }
      clientPaused = false;
      client.resume();
      lingerTimer = setTimeout(() => finish({ kind: 'done' }), opts.lingerMs ?? DEFAULT_LINGER_MS);
      lingerTimer.unref();
    });
    client.on('close', () => finish((client as Duplex & { writableFinished: boolean }).writableFinished ? { kind: 'done' } : { kind: 'error', error: new Error('connection closed') }));
    client.on('error', (error: Error) => finish({ kind: 'error', error }));
    // Node (lib/_tls_wrap.js onerror -> _emitTLSError): after the handshake, a TLS error of a
    // TLSSocket built with `new TLSSocket(socket, { isServer })` is emitted only as '_tlsError'
    // ('error' needs _releaseControl, which only tls.Server calls), and the socket stays open.
    // A forged or corrupt record would then hang the session until -w; end it here.
    client.on('_tlsError', (error: Error) => finish({ kind: 'error', error }));
    // the client may have reset while the program was being started (through the spawner that
    // is a round trip): its 'close' is past and would never reach the handlers above
    if (client.destroyed) finish({ kind: 'error', error: new Error('connection closed') });
  });
}
