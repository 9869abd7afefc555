// -c across event loops: one exact count of running programs in shared memory; each loop queues its own waiters.
import { enterLine, type ProgramSlotPool } from './program-slots';

// Int32 words: programs running (all loops), and a generation bumped at every release
const RUNNING = 0;
const GENERATION = 1;
const WORDS = 2;
/**
 * A waiting loop wakes at every release anywhere (Atomics.notify); it also looks again after
 * this long whatever happened, so that no wake-up can be lost for good.
 */
export const SLOT_RECHECK_MS = 1000;

/**
 * Program slots (-c) shared by several event loops (worker threads): a compare-and-swap on one
 * shared counter takes a slot, so the limit holds exactly for the whole server. Connections of
 * one loop that find every slot busy wait in that loop's line, in arrival order; a release in
 * any loop wakes the waiting loops (Atomics.waitAsync on a generation word), and the first to
 * take the slot gets it: order between loops is not kept, the count is.
 */
export class SharedProgramSlots implements ProgramSlotPool {
  private readonly _words: Int32Array;
  private readonly _queue: Array<() => void> = [];
  private _watching = false;

  /** Memory for the counter, to hand to every loop. @returns zeroed shared memory */
  static allocate(): SharedArrayBuffer {
    return new SharedArrayBuffer(WORDS * Int32Array.BYTES_PER_ELEMENT);
  }

  /**
   * @param memory from SharedProgramSlots.allocate (the same for every loop)
   * @param limit most programs at once (-c) in all loops together, at least 1
   */
  constructor(
    memory: SharedArrayBuffer,
    readonly limit: number,
  ) {
    this._words = new Int32Array(memory);
  }

  /** Programs running (slots taken), all loops together. */
  get running(): number {
    return Atomics.load(this._words, RUNNING);
  }

  /** Connections of this loop waiting for a slot. */
  get waiting(): number {
    return this._queue.length;
  }

  /**
   * Takes a slot, waiting in this loop's line while all are busy.
   * @param signal aborting it (the client left) leaves the line
   * @returns true with a slot taken (release it once), false when aborted first (nothing taken)
   */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.tryAcquire()) return Promise.resolve(true);
    const granted = enterLine(this._queue, signal);
    this._drain();
    return granted;
  }

  /** Takes a free slot when nobody in this loop is in line; never waits. @returns whether it took one */
  tryAcquire(): boolean {
    return this._queue.length === 0 && this._tryTake();
  }

  /** Frees a slot taken by acquire(); this loop's line is served first, then the others are woken. */
  release(): void {
    const w = this._words;
    for (;;) {
      const r = Atomics.load(w, RUNNING);
      if (r <= 0 || Atomics.compareExchange(w, RUNNING, r, r - 1) === r) break;
    }
    Atomics.add(w, GENERATION, 1);
    this._drain();
    Atomics.notify(w, GENERATION);
  }

  private _tryTake(): boolean {
    const w = this._words;
    for (;;) {
      const r = Atomics.load(w, RUNNING);
      if (r >= this.limit) return false;
      if (Atomics.compareExchange(w, RUNNING, r, r + 1) === r) return true;
    }
  }

  // Grants slots to this loop's line while there are free ones, then waits for the next release
  private _drain(): void {
    while (this._queue.length > 0) {
      const generation = Atomics.load(this._words, GENERATION);
      if (this._tryTake()) {
        (this._queue.shift() as () => void)();
        continue;
      }
      if (this._watching) return;
      const wait = Atomics.waitAsync(this._words, GENERATION, generation, SLOT_RECHECK_MS);
      // not-equal: a release came between the try and the wait; try again at once
      if (!wait.async) continue;
      this._watching = true;
      // Atomics.waitAsync alone does not keep an event loop alive; waiters must
      const keepAlive = setTimeout(() => undefined, SLOT_RECHECK_MS);
      void wait.value.then(() => {
        clearTimeout(keepAlive);
        this._watching = false;
        this._drain();
      });
      return;
    }
  }
}
