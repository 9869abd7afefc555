// The glibc heap of the network process: a large top pad only while programs send bulk output,
// and the free pages handed back once the server has gone quiet.
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import * as native from './native';

/**
 * The top pad while programs send bulk output. A download's relay used to allocate a 64 KiB
 * Buffer per pipe read, and V8 freed them in batches; with glibc's default pad every batch went
 * back to the kernel and came back as fresh zeroed pages (perf: about 36,000 page faults a second
 * into [heap], under 1,000 with this pad; 1 GiB down x1.095, server CPU per GB x0.917). Reads now
 * land in one reused buffer and are copied only while a write waits (a slow client), where the
 * pad still serves; for a fast client it no longer changes anything (README).
 */
export const BULK_TOP_PAD_BYTES = 16 * 1024 * 1024;
/** glibc's own top pad (DEFAULT_TOP_PAD), set back when the server goes quiet. */
export const DEFAULT_TOP_PAD_BYTES = 128 * 1024;
/** No program started or ended for this long, then the loop idle for as long again: quiet. */
export const QUIET_MS = 250;
/** The loop's busy share during the second wait under which the server counts as quiet. */
export const QUIET_UTILIZATION = 0.02;

/** What the policy changes (the addon's heapTopPad and heapTrim). */
export interface HeapControl {
  setTopPad(bytes: number): boolean;
  trim(): boolean;
}

/** What the server tells the policy (SslServer and the relay call these). */
export interface HeapActivity {
  /** A program started or ended. Cheap enough for every connection. */
  activity(): void;
  /** A program's output passed another RELAY_BULK_BYTES on its way to the client. */
  bulkOutput(): void;
}

/**
 * Why the pad is not set for good: glibc applies it to every arena, and V8's compiler and GC
 * threads have their own, which then kept up to 16 MiB of freed compiler memory each (about 6
 * MB in all at the idle benchmark's base). Why the trim: malloc_trim hands back the free pages
 * inside the heaps as well, which glibc's trimming at free time never does.
 *
 * The quiet test is two waits of `quietMs`: the first ends when no activity() came for that
 * long; the second measures the event loop, and a loop busy `quietUtilization` or more of it (a
 * session still moving data) calls it off until the next activity(). After a trim nothing runs
 * until the next activity(); the timer never keeps the process alive.
 */
export class HeapPolicy implements HeapActivity {
  private timer: NodeJS.Timeout | undefined;
  private measuring: EventLoopUtilization | undefined; // set during the second wait
  private padded = false;

  constructor(
    private readonly control: HeapControl,
    private readonly quietMs = QUIET_MS,
    private readonly quietUtilization = QUIET_UTILIZATION,
  ) {}

  activity(): void {
    this.measuring = undefined;
    if (this.timer === undefined) {
      this.timer = setTimeout(this.onTimer, this.quietMs);
      this.timer.unref();
    } else {
      this.timer.refresh();
    }
  }

  bulkOutput(): void {
    // every time, not once: another event loop's quiet spell may have set the pad back meanwhile
    this.control.setTopPad(BULK_TOP_PAD_BYTES);
    this.padded = true;
  }

  /** Stops the timer. */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private readonly onTimer = (): void => {
    if (this.measuring === undefined) {
      this.measuring = performance.eventLoopUtilization();
      this.timer?.refresh();
      return;
    }
    const busy = performance.eventLoopUtilization(this.measuring).utilization;
    this.measuring = undefined;
    if (busy >= this.quietUtilization) return;
    if (this.padded) {
      this.control.setTopPad(DEFAULT_TOP_PAD_BYTES);
      this.padded = false;
    }
    this.control.trim();
  };
}

/** A policy over the addon's calls, for one event loop; undefined without the addon. */
export function nativeHeapPolicy(): HeapPolicy | undefined {
  if (!native.available()) return undefined;
  return new HeapPolicy({ setTopPad: native.heapTopPad, trim: native.heapTrim });
}
