// The main thread's side of the extra event loops: starts the worker threads, serves their key loads, relays SIGTERM.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { ConfigError } from '../errors';
import type { TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import type { EventLoopData, LoopOrder, LoopReport } from './event-loop-wire';

/** Environment variable that sets the number of event loops (threads) serving the port. */
export const LOOPS_VARIABLE = 'SSLSERVER_WORKERS';
/** Most event loops: past the cores there is nothing to gain, and each loop costs memory. */
export const MAX_LOOPS = 64;
/** A worker thread that has not reported ready by then is a start-up failure. */
export const LOOP_START_TIMEOUT_MS = 10_000;

/**
 * Fewest handshake places (half the free fds: fd-budget.ts) per loop for the default count: under a
 * tight RLIMIT_NOFILE, extra loops would only split a small table into useless pieces.
 */
export const MIN_FDS_PER_LOOP = 64;

/**
 * How many event loops serve the port: SSLSERVER_WORKERS, else one per core but one
 * (os.availableParallelism() - 1, at least 1), fewer when the fd limit leaves less than
 * MIN_FDS_PER_LOOP handshake places per loop. The core left over is for the programs and the
 * kernel: measured on 2 cores (bench.py rate, RSA-2048, 16 in flight, 8 s after 6 s of warm-up),
 * two loops gave 309 connections/s at 3765 µs of server CPU each, one loop 385 at 2722, because
 * the loops, the programs and the client then fight over the same two cores. Measured again with
 * V8's early optimizing (alternating pairs): two loops x0.96 / x1.02 / x1.13 the rate of one at
 * RSA 4 / 16 / 64 in flight, x0.85 / x0.95 / x1.01 with P-256 (README, Performance).
 * @param env the start-up environment
 * @param cores the cores available (tests pass another)
 * @param fdBudget handshake places the fd limit allows (handshakeFdBudget), undefined: no limit
 * @returns 1..MAX_LOOPS
 * @throws ConfigError when SSLSERVER_WORKERS is set but not a number from 1 to MAX_LOOPS
 */
export function eventLoopCount(env: Readonly<Record<string, string | undefined>>, cores = availableParallelism(), fdBudget?: number): number {
  const text = env[LOOPS_VARIABLE];
  if (text === undefined || text === '') return Math.max(1, Math.min(MAX_LOOPS, cores - 1, Math.floor((fdBudget ?? Infinity) / MIN_FDS_PER_LOOP)));
  const n = /^[0-9]{1,3}$/.test(text) ? Number(text) : 0;
  if (n < 1 || n > MAX_LOOPS) throw new ConfigError(`${LOOPS_VARIABLE} must be a number from 1 to ${MAX_LOOPS}: ${text}`, { kind: 'fatal' });
  return n;
}

/** What the main thread does for the loops. */
export interface EventLoopsOptions {
  /** One EventLoopData per worker thread. */
  readonly loops: readonly EventLoopData[];
  /** Loads a rule's TLS files through the key helper, for loops with viaKeyHelper. */
  readonly loadMaterial?: (settings: TlsSettings) => Promise<TlsMaterial>;
  /** A loop failed after start-up (its thread died): the server cannot go on. */
  readonly onFatal: (message: string) => void;
}

/** The worker threads of a running server, seen from the main thread. */
export class EventLoops {
  private readonly _idle: Promise<void>;

  private constructor(private readonly _workers: readonly Worker[], idle: Promise<void>) {
    this._idle = idle;
  }

  /**
   * Starts one worker thread per EventLoopData and waits until each accepts on its socket.
   * @param opts the loops' data and the main thread's services
   * @returns the running loops
   * @throws Error naming the first loop that failed or did not report in LOOP_START_TIMEOUT_MS
   */
  static async start(opts: EventLoopsOptions): Promise<EventLoops> {
    const file = join(__dirname, 'event-loop-worker.js');
    const workers: Worker[] = [];
    const ready: Array<Promise<void>> = [];
    const idle: Array<Promise<void>> = [];
    for (const data of opts.loops) {
      const worker = new Worker(file, { workerData: data, stdout: false, stderr: false });
      workers.push(worker);
      let started = false;
      let isIdle = false;
      let becameIdle: () => void = () => undefined;
      idle.push(new Promise<void>((resolve) => (becameIdle = resolve)));
      ready.push(
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('event loop did not start')), LOOP_START_TIMEOUT_MS);
          worker.on('message', (r: LoopReport) => {
            if (r.kind === 'ready') {
              started = true;
              clearTimeout(timer);
              resolve();
            } else if (r.kind === 'failed') {
              clearTimeout(timer);
              reject(new Error(r.message));
            } else if (r.kind === 'load') {
              serveLoad(worker, r.id, r.settings, opts.loadMaterial);
            } else if (r.kind === 'idle') {
              isIdle = true;
              becameIdle();
            }
          });
          worker.on('error', (err) => {
            clearTimeout(timer);
            if (started) opts.onFatal(`event loop failed: ${err.message}`);
            else reject(err);
          });
          worker.on('exit', () => {
            clearTimeout(timer);
            if (!started) reject(new Error('event loop exited'));
            else if (!isIdle) opts.onFatal('event loop exited');
          });
        }),
      );
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      for (const w of workers) void w.terminate();
      throw err;
    }
    return new EventLoops(workers, Promise.all(idle).then(() => undefined));
  }

  /** SIGTERM: every loop closes its socket at once and reports idle when its last session ended. */
  terminate(): void {
    for (const w of this._workers) w.postMessage({ kind: 'terminate' } satisfies LoopOrder);
  }

  /** Resolves when every loop is idle after terminate(). */
  whenIdle(): Promise<void> {
    return this._idle;
  }
}

function serveLoad(worker: Worker, id: number, settings: TlsSettings, load: EventLoopsOptions['loadMaterial']): void {
  const reply = (order: LoopOrder): void => worker.postMessage(order);
  if (load === undefined) {
    reply({ kind: 'load-failed', id, message: 'no key helper', errorKind: 'error' });
    return;
  }
  load(settings).then(
    (material) => reply({ kind: 'loaded', id, material }),
    (err: unknown) => reply({ kind: 'load-failed', id, message: err instanceof Error ? err.message : String(err), errorKind: err instanceof ConfigError ? err.kind : 'error' }),
  );
}
