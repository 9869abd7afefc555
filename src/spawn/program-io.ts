// Our ends of the program's stdin and stdout, as the relay uses them: raw fds on the addon's
// pipe watches (the native path), or Node streams (the child_process fallback).
import type { Readable, Writable } from 'node:stream';
import * as native from '../sys/native';

/**
 * Bytes queued for the program's stdin past which the client is paused: a few TLS records, so
 * that one socket read's worth of records goes to the pipe in one writev.
 */
export const INPUT_HIGH_WATER_BYTES = 128 * 1024;

/** What the relay hears from the program's side. */
export interface ProgramIoHandlers {
  /**
   * Bytes the program wrote to its stdout.
   * @param transient the bytes are valid only during the call (the thread's pipe read buffer):
   *   what is kept beyond it must be a copy
   */
  output(chunk: Buffer, transient: boolean): void;
  /** The program closed its stdout (or reading it failed). Comes once. */
  outputEnd(): void;
  /** The stdin queue went back under its high-water mark after `writeInput` returned false. */
  inputDrain(): void;
  /** Writing the program's stdin failed (EPIPE: it closed it or exited); later input is dropped. */
  inputError(): void;
}

/** The program's stdin and stdout, for one relay. */
export interface ProgramIo {
  /** Starts reading the program's output; call once. */
  start(handlers: ProgramIoHandlers): void;
  /** Stops / restarts reading the program's output (backpressure from the client). */
  pauseOutput(): void;
  resumeOutput(): void;
  /**
   * Queues bytes for the program's stdin (dropped after an input error or `endInput`).
   * @param transient the bytes are valid only during the call (a reused read buffer): what is
   *   queued is a copy
   * @returns false when the queue is over its high-water mark: wait for `inputDrain`
   */
  writeInput(chunk: Buffer, transient?: boolean): boolean;
  /** EOF on the program's stdin once the queue is written. */
  endInput(): void;
  /** Closes both ends now; no handler is called after this. */
  destroy(): void;
}

/**
 * Bytes a pipe carries at its default capacity (64 KiB) before it is grown to BULK_PIPE_BYTES:
 * growing every session's pipes would use up an unprivileged user's pipe-user-pages-soft after a
 * couple of hundred sessions (see native.pipeGrow), so only the bulk transfers get them.
 */
export const PIPE_GROW_AFTER_BYTES = 1024 * 1024;
/**
 * Capacity of a pipe that carries a bulk transfer: the program's output comes in reads of up to
 * this much (the addon reads what the pipe holds), the client's records go to the program in
 * fewer writes, and the program is woken less often.
 */
export const BULK_PIPE_BYTES = 256 * 1024;

/**
 * What a pipe still carries at its default capacity after `n` more bytes went through it: when
 * that runs out, the pipe is grown to BULK_PIPE_BYTES (best effort: past the user's limit it keeps
 * its size) and Infinity is left, so that it is grown once.
 */
function carried(fd: number, left: number, n: number): number {
  if ((left -= n) > 0) return left;
  native.pipeGrow(fd, BULK_PIPE_BYTES);
  return Infinity;
}

/** Bytes of one thread's input stage (see InputStage): a few connections' socket reads. */
export const INPUT_STAGE_BYTES = 256 * 1024;

/**
 * Where transient client bytes (TLS records read into a reused buffer) wait for their flush
 * within the same turn of the loop: one stage per thread, shared by its relays, and reused
 * while it is warm in the cache (a fresh Buffer per record or per turn costs most of what the
 * reused read buffer saves). A region is lent to an io until that io's flush, which copies out
 * whatever the pipe did not take, or its close; the stage starts over once no io holds any of
 * it. When it is full, or an io is waiting for its pipe, bytes are copied into a Buffer of
 * their own instead.
 */
class InputStage {
  private buf: Buffer | undefined = undefined;
  private used = 0;
  private holders = 0;

  /** A copy of `bytes` in the stage, or undefined when it has no room; the caller holds the stage. */
  take(bytes: Buffer): Buffer | undefined {
    this.buf ??= Buffer.allocUnsafe(INPUT_STAGE_BYTES);
    if (this.used + bytes.length > this.buf.length) return undefined;
    const region = this.buf.subarray(this.used, this.used + bytes.length);
    bytes.copy(region);
    this.used += bytes.length;
    return region;
  }

  hold(): void {
    this.holders++;
  }

  /** The caller no longer refers to any region it took. */
  release(): void {
    if (--this.holders === 0) this.used = 0;
  }
}

const inputStage = new InputStage();

/**
 * The native path: our ends as fds, watched on this loop by the addon. Client records that
 * arrive in one turn of the loop go to the pipe in one writev, after the poll phase
 * (setImmediate), which wakes the program once instead of once per record: TLS hands over one
 * 16 KiB record per callback, several per socket read, and Node runs the nextTick queue after
 * each callback, so a nextTick flush wrote them one by one.
 * @param inFd our (write) end of the program's stdin; owned from now on
 * @param outFd our (read) end of the program's stdout; owned from now on
 * @throws SysError when the fds cannot be polled (both are closed then)
 */
export function fdProgramIo(inFd: number, outFd: number): ProgramIo {
  return new FdProgramIo(inFd, outFd);
}

class FdProgramIo implements ProgramIo {
  private handlers: ProgramIoHandlers | undefined;
  private inOpen = true;
  private outOpen = true;
  private outPaused = false;
  private queue: Buffer[] = [];
  private queued = 0;
  private overHighWater = false;
  private flushQueued = false;
  private waitingWritable = false;
  private ending = false;
  /** Some of the queue is in the thread's input stage (until the flush or close). */
  private holdsStage = false;
  /** Bytes each pipe still carries before it is grown (see carried). */
  private inToGrow = PIPE_GROW_AFTER_BYTES;
  private outToGrow = PIPE_GROW_AFTER_BYTES;
  private readonly flushNow = (): void => {
    this.flushQueued = false;
    this.flush();
  };

  constructor(
    private readonly inFd: number,
    private readonly outFd: number,
  ) {
    let outOpened = false;
    try {
      native.pipeOpen(outFd, (event) => this.onOutput(event));
      outOpened = true;
      native.pipeOpen(inFd, (event) => this.onInput(event));
    } catch (err) {
      native.close(inFd);
      if (outOpened) native.pipeClose(outFd);
      else native.close(outFd);
      throw err;
    }
  }

  start(handlers: ProgramIoHandlers): void {
    this.handlers = handlers;
    native.pipeWatch(this.outFd, native.PIPE_READ);
  }

  pauseOutput(): void {
    if (!this.outOpen || this.outPaused) return;
    this.outPaused = true;
    native.pipeWatch(this.outFd, 0);
  }

  resumeOutput(): void {
    if (!this.outOpen || !this.outPaused) return;
    this.outPaused = false;
    native.pipeWatch(this.outFd, native.PIPE_READ);
  }

  writeInput(chunk: Buffer, transient = false): boolean {
    if (!this.inOpen || this.ending) return true;
    if (transient) chunk = this.keep(chunk);
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (!this.flushQueued && !this.waitingWritable) {
      this.flushQueued = true;
      setImmediate(this.flushNow);
    }
    if (this.queued < INPUT_HIGH_WATER_BYTES) return true;
    this.overHighWater = true;
    return false;
  }

  endInput(): void {
    if (!this.inOpen || this.ending) return;
    this.ending = true;
    if (this.queued === 0) this.closeInput();
  }

  destroy(): void {
    this.handlers = undefined;
    this.closeInput();
    this.closeOutput();
  }

  /** An event of the stdout fd: data, EOF or an error (which ends the output as EOF would). */
  onOutput(event: native.PipeEvent): void {
    if (typeof event !== 'number') {
      this.outToGrow = carried(this.outFd, this.outToGrow, event.length);
      this.handlers?.output(event, true);
      return;
    }
    this.closeOutput();
    this.handlers?.outputEnd();
  }

  /** An event of the stdin fd: room again, or an error (EPIPE). */
  onInput(event: native.PipeEvent): void {
    if (event === native.PIPE_WRITABLE) this.flush();
    else this.failInput();
  }

  /** A copy of transient bytes: in the stage when this turn's flush is due, else its own. */
  private keep(bytes: Buffer): Buffer {
    // waiting for the pipe: the bytes may wait long, and would hold the stage for every relay
    if (this.waitingWritable) return Buffer.from(bytes);
    if (!this.holdsStage) {
      inputStage.hold();
      this.holdsStage = true;
    }
    return inputStage.take(bytes) ?? Buffer.from(bytes);
  }

  /** Lets go of the stage: what the queue still has of it is copied out first. */
  private leaveStage(): void {
    if (!this.holdsStage) return;
    this.holdsStage = false;
    if (this.queued > 0) this.queue = this.queue.map((b) => Buffer.from(b));
    inputStage.release();
  }

  private flush(): void {
    if (!this.inOpen) return;
    while (this.queued > 0) {
      const n = native.pipeWritev(this.inFd, this.queue);
      if (n < 0) {
        this.failInput();
        return;
      }
      if (n === 0) break;
      this.consume(n);
      this.inToGrow = carried(this.inFd, this.inToGrow, n);
    }
    this.leaveStage();
    if (this.queued > 0) {
      if (!this.waitingWritable) {
        this.waitingWritable = true;
        native.pipeWatch(this.inFd, native.PIPE_WRITE);
      }
      return;
    }
    if (this.waitingWritable) {
      this.waitingWritable = false;
      native.pipeWatch(this.inFd, 0);
    }
    if (this.ending) {
      this.closeInput();
      return;
    }
    if (this.overHighWater) {
      this.overHighWater = false;
      this.handlers?.inputDrain();
    }
  }

  /** Drops the first n queued bytes (written). */
  private consume(n: number): void {
    this.queued -= n;
    let i = 0;
    while (i < this.queue.length && n >= (this.queue[i] as Buffer).length) n -= (this.queue[i++] as Buffer).length;
    this.queue = i === this.queue.length ? [] : this.queue.slice(i);
    if (n > 0) this.queue[0] = (this.queue[0] as Buffer).subarray(n);
  }

  private failInput(): void {
    const wasOpen = this.inOpen && !this.ending;
    this.closeInput();
    if (wasOpen) this.handlers?.inputError();
  }

  private closeInput(): void {
    if (!this.inOpen) return;
    this.inOpen = false;
    this.queue = [];
    this.queued = 0;
    this.leaveStage();
    native.pipeClose(this.inFd);
  }

  private closeOutput(): void {
    if (!this.outOpen) return;
    this.outOpen = false;
    native.pipeClose(this.outFd);
  }
}

/**
 * The fallback path: child_process's stream ends. Records arriving in one turn of the loop are
 * corked into one writev, as on the native path.
 */
export function streamProgramIo(stdin: Writable, stdout: Readable): ProgramIo {
  let handlers: ProgramIoHandlers | undefined;
  let outEnded = false;
  let inFailed = false;
  let corked = false;
  const uncork = (): void => {
    corked = false;
    stdin.uncork();
  };
  const endOutput = (): void => {
    if (outEnded) return;
    outEnded = true;
    handlers?.outputEnd();
  };
  stdin.on('error', () => {
    // EPIPE: the program stopped reading or exited
    if (inFailed) return;
    inFailed = true;
    handlers?.inputError();
  });
  return {
    start(h) {
      handlers = h;
      stdin.on('drain', () => handlers?.inputDrain());
      stdout.on('data', (chunk: Buffer) => handlers?.output(chunk, false));
      stdout.on('end', endOutput);
      stdout.on('error', endOutput);
    },
    pauseOutput: () => stdout.pause(),
    resumeOutput: () => stdout.resume(),
    writeInput(chunk, transient = false) {
      if (inFailed || stdin.writableEnded) return true;
      if (transient) chunk = Buffer.from(chunk);
      if (!corked) {
        corked = true;
        stdin.cork();
        setImmediate(uncork);
      }
      return stdin.write(chunk);
    },
    endInput() {
      if (!inFailed && !stdin.writableEnded) stdin.end();
    },
    destroy() {
      handlers = undefined;
      stdout.destroy();
      stdin.destroy();
    },
  };
}
