// -c: at most n programs at once; connections past it wait their turn in order, they are not refused.

/** What a session needs of the -c slots (ProgramSlots, or SharedProgramSlots across loops). */
export interface ProgramSlotPool {
  /** -c. */
  readonly limit: number;
  /** Programs running (slots taken), all loops together. */
  readonly running: number;
  /** Connections of this loop waiting for a slot. */
  readonly waiting: number;
  /** Takes a slot when one is free and nobody waits, without waiting. @returns whether it took one */
  tryAcquire(): boolean;
  /** Takes a slot, waiting in line while all are busy. @returns false when `signal` aborted first */
  acquire(signal: AbortSignal): Promise<boolean>;
  /** Frees a slot taken by acquire(). */
  release(): void;
}

/**
 * Program slots (-c). A connection takes a slot only when its program is about to start (after
 * rules, lookups and the TLS handshake), so connections still in the handshake never hold one
 * (see HandshakeTable for those). Connections ready while all slots are busy queue here in
 * arrival order and get the next free slot.
 */
export class ProgramSlots implements ProgramSlotPool {
  private _running = 0;
  private readonly _queue: Array<() => void> = [];

  /** @param limit most programs at once (-c), at least 1 */
  constructor(readonly limit: number) {}

  /** Programs running (slots taken). */
  get running(): number {
    return this._running;
  }

  /** Connections waiting for a slot. */
  get waiting(): number {
    return this._queue.length;
  }

  /**
   * Takes a slot, waiting in line while all are busy.
   * @param signal aborting it (the client left) leaves the line
   * @returns true with a slot taken (release it once), false when aborted first (nothing taken)
   */
  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.tryAcquire()) return Promise.resolve(true);
    return enterLine(this._queue, signal, () => this._running++);
  }

  /** Takes a free slot when nobody is in line; never waits. @returns whether it took one */
  tryAcquire(): boolean {
    if (this._running >= this.limit || this._queue.length > 0) return false;
    this._running++;
    return true;
  }

  /** Frees a slot taken by acquire(); the next connection in line gets it. */
  release(): void {
    if (this._running > 0) this._running--;
    const next = this._queue.shift();
    if (next !== undefined) next();
  }
}

/**
 * Waits in a line of grant callbacks: the slot's owner calls the first one when a slot frees.
 * @param line the waiters, in arrival order (the new one is appended)
 * @param signal aborting it leaves the line (resolves false, nothing taken)
 * @param onGrant run when this waiter is granted, before it resolves (e.g. count the slot)
 * @returns true once granted, false when aborted first
 */
export function enterLine(line: Array<() => void>, signal: AbortSignal, onGrant: () => void = () => undefined): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const grant = (): void => {
      signal.removeEventListener('abort', onAbort);
      onGrant();
      resolve(true);
    };
    const onAbort = (): void => {
      const i = line.indexOf(grant);
      if (i >= 0) line.splice(i, 1);
      resolve(false);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    line.push(grant);
  });
}
