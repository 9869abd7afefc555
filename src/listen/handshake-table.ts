// Connections still before their program (rules, lookups, TLS handshake): bounded globally and per source IP.

/** Why a connection was pushed out of the table to make room for a newer one. */
export type EvictionCause = 'table' | 'ip';

/** A connection's place in the table; `release()` is idempotent. */
export interface HandshakeTicket {
  /** Leaves the table (handshake done, or the connection ended). */
  release(): void;
}

interface Entry {
  readonly id: number;
  readonly ip: string;
  readonly evict: (cause: EvictionCause) => void;
  /** Counted in the shared per-IP counts (released with the entry). */
  readonly counted: boolean;
}

/** Per-address counts shared by every loop's table (SharedConnectionLimits without a limit). */
export interface SharedIpCounts {
  countFor(ip: string): number;
  tryAcquire(ip: string): boolean;
  release(ip: string): void;
}

/**
 * The handshake table. A flood of silent or dribbling clients must not keep anyone else from
 * being accepted, so a full table never stops accepting: the newcomer pushes out the oldest
 * entry (the one closest to its -T deadline anyway), first among its own IP's entries when that
 * IP is at its bound, else the oldest of all, as a SYN cache does under a SYN flood. A flood can
 * then only shorten the time a handshake gets (table size / arrival rate), never stop service;
 * one address can hold at most `maxPerIp` entries.
 */
export class HandshakeTable {
  private _nextId = 0;
  // Map and Set keep insertion order: the first entry is the oldest
  private readonly _all = new Map<number, Entry>();
  private readonly _perIp = new Map<string, Set<number>>();

  private readonly _cap: number;
  private readonly _capPerIp: number;

  /**
   * @param max most connections in the table at once (MAXHANDSHAKES), at least 1
   * @param maxPerIp most from one source IP (MAXHANDSHAKESIP), at least 1
   * @param loops event loops sharing the bounds: each loop's table holds its share of `max`
   *   (rounded up; the kernel spreads connections over the loops, so the server-wide bound holds
   *   approximately); `max`/`maxPerIp` stay the configured server-wide values for the log
   * @param ipCounts per-address counts of every loop's table: `maxPerIp` then holds server-wide.
   *   An address at its bound pushes out its own oldest entry in this loop; a loop holding none
   *   of its entries admits one, so the bound can be passed by at most loops - 1
   */
  constructor(
    readonly max: number,
    readonly maxPerIp: number,
    loops = 1,
    private readonly _ipCounts?: SharedIpCounts,
  ) {
    this._cap = Math.max(1, Math.ceil(max / loops));
    this._capPerIp = Math.max(1, _ipCounts === undefined ? Math.ceil(maxPerIp / loops) : maxPerIp);
  }

  /** Connections this table holds before pushing out the oldest (its share of `max`). */
  get capacity(): number {
    return this._cap;
  }

  /** Connections in the table now. */
  get size(): number {
    return this._all.size;
  }

  /** Connections in the table now from `ip`. */
  countFor(ip: string): number {
    return this._perIp.get(ip)?.size ?? 0;
  }

  /**
   * Enters a connection, first evicting the oldest entry of `ip` (at `maxPerIp`) or the oldest
   * of all (at `max`). The evicted entry has left the table when its `evict` callback runs.
   * @param ip the source address
   * @param evict called at most once if this entry is pushed out later; it must drop the connection
   * @returns the ticket to release when the connection leaves the handshake phase
   */
  admit(ip: string, evict: (cause: EvictionCause) => void): HandshakeTicket {
    const mine = this._perIp.get(ip);
    const count = this._ipCounts === undefined ? (mine?.size ?? 0) : this._ipCounts.countFor(ip);
    if (mine !== undefined && mine.size > 0 && count >= this._capPerIp) {
      this._evict(mine.values().next().value as number, 'ip');
    } else if (this._all.size >= this._cap) {
      this._evict(this._all.keys().next().value as number, 'table');
    }
    const id = this._nextId++;
    const counted = this._ipCounts?.tryAcquire(ip) ?? false;
    this._all.set(id, { id, ip, evict, counted });
    let set = this._perIp.get(ip);
    if (set === undefined) this._perIp.set(ip, (set = new Set()));
    set.add(id);
    return { release: () => void this._remove(id) };
  }

  /**
   * Evicts the oldest entry (out of file descriptors: dropping a stalled handshake frees one).
   * @returns true when an entry was evicted
   */
  evictOldest(): boolean {
    const first = this._all.keys().next();
    if (first.done === true) return false;
    this._evict(first.value, 'table');
    return true;
  }

  private _evict(id: number, cause: EvictionCause): void {
    const e = this._remove(id);
    e?.evict(cause);
  }

  private _remove(id: number): Entry | undefined {
    const e = this._all.get(id);
    if (e === undefined) return undefined;
    this._all.delete(id);
    if (e.counted) this._ipCounts?.release(e.ip);
    const set = this._perIp.get(e.ip);
    set?.delete(id);
    if (set?.size === 0) this._perIp.delete(e.ip);
    return e;
  }
}
