// Who is calling: local name, PTR (+ paranoid check) and IDENT for one connection, each bounded.
// XXX: stub; the lookups issue (#5) replaces it with the real resolver and IDENT client.

/** What to look up for one connection. */
export interface LookupRequest {
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
  ipv6: boolean;
}

/** What was found; a field is undefined when unknown (the variable is then unset). */
export interface LookupResult {
  localHost?: string;
  remoteHost?: string;
  remoteInfo?: string;
  /** -p rejected the PTR name: -z then checks the client certificate against the IP text. */
  paranoidRejected: boolean;
}

/** Lookup settings fixed at start-up. */
export interface LookupOptions {
  localName?: string;
  lookupRemoteHost: boolean;
  paranoid: boolean;
  lookupRemoteInfo: boolean;
  identTimeoutMs: number;
}

/** Runs the lookups of each connection. */
export class Lookups {
  constructor(private readonly _opts: LookupOptions) {}

  /**
   * Looks up the names of one connection; never throws (a failed lookup leaves a field unset).
   * @param req the connection's addresses
   * @param signal aborts the lookups (connection gone)
   */
  async identify(req: LookupRequest, signal?: AbortSignal): Promise<LookupResult> {
    void req;
    void signal;
    return { ...(this._opts.localName === undefined ? {} : { localHost: this._opts.localName }), paranoidRejected: false };
  }
}
