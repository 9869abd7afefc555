// MAXCONIP across event loops: exact per-IP counts in shared memory, one table for every loop of the server.
import { parseIPv4, parseIPv6 } from '../rules/ip-address';
import type { ConnectionCounts } from './limits';

// Int32 words of one table entry: the address as four words, then its count (0 = free entry).
const ENTRY_WORDS = 5;
const COUNT_WORD = 4;
// Header words: the lock, then the number of entries in use.
const LOCK = 0;
const USED = 1;
const HEADER_WORDS = 2;
/** Fewest and most entries a table is made with (a power of two). */
export const MIN_ENTRIES = 1024;
export const MAX_ENTRIES = 1 << 18;

/**
 * The smallest table that holds every connection the fd limit allows, with room to spare for
 * linear probing: twice that, as a power of two between MIN_ENTRIES and MAX_ENTRIES.
 * @param maxConnections most connections the server can hold at once (its fd limit)
 * @returns the entry count for SharedConnectionLimits.allocate
 */
export function tableEntriesFor(maxConnections: number): number {
  let n = MIN_ENTRIES;
  while (n < 2 * maxConnections && n < MAX_ENTRIES) n *= 2;
  return n;
}

/**
 * Open connections per source IP for several event loops (worker threads) sharing one
 * SharedArrayBuffer: an open-addressed hash table keyed by the 16-byte address (IPv4 as
 * ::ffff:a.b.c.d), guarded by one spin lock held for a few hundred instructions. Counts are
 * exact across the loops, as `ConnectionLimits` is within one; `total` is this loop's own.
 */
export class SharedConnectionLimits implements ConnectionCounts {
  private readonly _words: Int32Array;
  private readonly _mask: number;
  private _total = 0;

  /**
   * Memory for a table, to hand to every loop (new SharedConnectionLimits(memory, ...)).
   * @param entries a power of two (tableEntriesFor)
   * @returns zeroed shared memory
   */
  static allocate(entries: number): SharedArrayBuffer {
    if (entries < 1 || (entries & (entries - 1)) !== 0) throw new RangeError('entries must be a power of two');
    return new SharedArrayBuffer((HEADER_WORDS + entries * ENTRY_WORDS) * Int32Array.BYTES_PER_ELEMENT);
  }

  /**
   * @param memory from SharedConnectionLimits.allocate (the same for every loop)
   * @param limit -c, only reported in the status line
   * @param maxConIp at most this many from one IP (MAXCONIP), all loops together; 0 = no limit
   */
  constructor(
    memory: SharedArrayBuffer,
    readonly limit: number,
    readonly maxConIp: number,
  ) {
    this._words = new Int32Array(memory);
    const entries = (this._words.length - HEADER_WORDS) / ENTRY_WORDS;
    this._mask = entries - 1;
  }

  /** Connections open now in this loop (SIGTERM waits for them). */
  get total(): number {
    return this._total;
  }

  /** Distinct addresses with open connections, all loops together. */
  get addresses(): number {
    return Atomics.load(this._words, USED);
  }

  /** Connections open now from `ip`, all loops together. */
  countFor(ip: string): number {
    const key = addressKey(ip);
    return this._locked(() => {
      const e = this._find(key);
      return e < 0 ? 0 : (this._words[e + COUNT_WORD] as number);
    });
  }

  /**
   * Counts a new session from `ip` unless that IP is at MAXCONIP (all loops together).
   * @returns false (and counts nothing) when the per-IP limit is reached, or when the table is
   *   full (more distinct addresses than the fd limit allows connections: cannot happen with a
   *   table from tableEntriesFor)
   */
  tryAcquire(ip: string): boolean {
    const key = addressKey(ip);
    const ok = this._locked(() => {
      const w = this._words;
      let e = this._find(key);
      if (e >= 0) {
        const n = w[e + COUNT_WORD] as number;
        if (this.maxConIp > 0 && n >= this.maxConIp) return false;
        w[e + COUNT_WORD] = n + 1;
        return true;
      }
      if ((w[USED] as number) >= this._mask) return false;
      e = this._freeSlot(key);
      w.set(key, e);
      w[e + COUNT_WORD] = 1;
      w[USED] = (w[USED] as number) + 1;
      return true;
    });
    if (ok) this._total++;
    return ok;
  }

  /** Releases one session counted for `ip` by this loop. */
  release(ip: string): void {
    const key = addressKey(ip);
    this._locked(() => {
      const w = this._words;
      const e = this._find(key);
      if (e < 0) return;
      const n = w[e + COUNT_WORD] as number;
      if (n > 1) w[e + COUNT_WORD] = n - 1;
      else this._remove(e);
    });
    if (this._total > 0) this._total--;
  }

  // Runs `fn` holding the table's lock; sections are short and never wait, so spinning is cheaper
  // than sleeping (Atomics.wait would also block an event loop for a scheduler tick)
  private _locked<T>(fn: () => T): T {
    const w = this._words;
    while (Atomics.compareExchange(w, LOCK, 0, 1) !== 0) {
      // another loop is inside for a few hundred instructions
    }
    try {
      return fn();
    } finally {
      Atomics.store(w, LOCK, 0);
    }
  }

  private _home(key: Int32Array): number {
    // FNV-1a over the four words
    let h = 0x811c9dc5;
    for (let i = 0; i < 4; i++) {
      h ^= key[i] as number;
      h = Math.imul(h, 0x01000193);
    }
    return (h ^ (h >>> 15)) & this._mask;
  }

  private _offset(slot: number): number {
    return HEADER_WORDS + slot * ENTRY_WORDS;
  }

  // The entry's first word for `key`, or -1
  private _find(key: Int32Array): number {
    const w = this._words;
    for (let slot = this._home(key); ; slot = (slot + 1) & this._mask) {
      const e = this._offset(slot);
      if (w[e + COUNT_WORD] === 0) return -1;
      if (w[e] === key[0] && w[e + 1] === key[1] && w[e + 2] === key[2] && w[e + 3] === key[3]) return e;
    }
  }

  private _freeSlot(key: Int32Array): number {
    const w = this._words;
    for (let slot = this._home(key); ; slot = (slot + 1) & this._mask) {
      const e = this._offset(slot);
      if (w[e + COUNT_WORD] === 0) return e;
    }
  }

  // Linear probing without tombstones: shift later entries of the same run back into the hole
  // (Knuth 6.4, algorithm R), so that lookups can stop at the first free entry
  private _remove(e: number): void {
    const w = this._words;
    let hole = (e - HEADER_WORDS) / ENTRY_WORDS;
    w[e + COUNT_WORD] = 0;
    w[USED] = (w[USED] as number) - 1;
    for (let slot = (hole + 1) & this._mask; ; slot = (slot + 1) & this._mask) {
      const s = this._offset(slot);
      if (w[s + COUNT_WORD] === 0) return;
      const home = this._home(w.subarray(s, s + 4));
      // the entry may move into the hole when its home is not cyclically within (hole, slot]
      const stays = hole <= slot ? hole < home && home <= slot : hole < home || home <= slot;
      if (stays) continue;
      const h = this._offset(hole);
      w.copyWithin(h, s, s + ENTRY_WORDS);
      w[s + COUNT_WORD] = 0;
      hole = slot;
    }
  }
}

// The address as four Int32 words (IPv4 as ::ffff:a.b.c.d); text that is no address (cannot come
// from accept) hashes its characters so that it still counts consistently
function addressKey(ip: string): Int32Array {
  const bytes = new Uint8Array(16);
  const v4 = parseIPv4(ip);
  if (v4 !== undefined) {
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    bytes.set(v4, 12);
  } else {
    const v6 = parseIPv6(ip.split('%')[0] ?? '');
    if (v6 !== undefined) bytes.set(v6);
    else for (let i = 0; i < ip.length; i++) bytes[i % 16] = ((bytes[i % 16] as number) * 31 + ip.charCodeAt(i)) & 0xff;
  }
  return new Int32Array(bytes.buffer);
}
