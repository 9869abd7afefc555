// MAXCONIP: exact counts of open connections, globally and per source address.

/** What a session needs of the MAXCONIP counts (ConnectionLimits, or SharedConnectionLimits across loops). */
export interface ConnectionCounts {
  /** -c, only reported in the status line. */
  readonly limit: number;
  /** MAXCONIP; 0 = no per-IP limit. */
  readonly maxConIp: number;
  /** Connections open now in this event loop. */
  readonly total: number;
  /** Connections open now from `ip`. */
  countFor(ip: string): number;
  /** Counts a new session from `ip` unless that IP is at MAXCONIP. @returns false when it is */
  tryAcquire(ip: string): boolean;
  /** Releases one session counted for `ip`. */
  release(ip: string): void;
}

/**
 * Counts open connections globally and per remote IP (MAXCONIP). Each connection is counted
 * from accept until its end and released exactly once, by the IP it was counted under
 * (the reference decrements the last accepted IP instead: bug maxconip_tracking). -c is not
 * enforced here: it bounds programs (ProgramSlots), not connections.
 */
export class ConnectionLimits implements ConnectionCounts {
  private _total = 0;
  private readonly _perIp = new Map<string, number>();

  /**
   * @param limit -c, only reported in the status line
   * @param maxConIp at most this many from one IP (MAXCONIP); 0 = no per-IP limit
   */
  constructor(
    readonly limit: number,
    readonly maxConIp: number,
  ) {}

  /** Connections open now. */
  get total(): number {
    return this._total;
  }

  /** Connections open now from `ip`. */
  countFor(ip: string): number {
    return this._perIp.get(ip) ?? 0;
  }

  /**
   * Counts a new session from `ip` unless that IP is at MAXCONIP.
   * @returns false (and counts nothing) when the per-IP limit is reached
   */
  tryAcquire(ip: string): boolean {
    const n = this._perIp.get(ip) ?? 0;
    if (this.maxConIp > 0 && n >= this.maxConIp) return false;
    this._perIp.set(ip, n + 1);
    this._total++;
    return true;
  }

  /** Releases one session counted for `ip`. */
  release(ip: string): void {
    const n = this._perIp.get(ip) ?? 0;
    if (n <= 1) this._perIp.delete(ip);
    else this._perIp.set(ip, n - 1);
    if (this._total > 0) this._total--;
  }
}
