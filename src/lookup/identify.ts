// Who is calling: local name, PTR (+ paranoid check) and IDENT for one connection, each bounded.
import { DnsClient } from './dns';
import { withDeadline } from './deadline';
import { queryIdent } from './ident';
import { resolverServersFromEnv } from './resolver-servers';

/**
 * The whole DNS part of one connection (PTR, then A/AAAA with -p; the local name in
 * parallel) ends within this. c-ares alone ends a query on a silent resolver after about 2 s
 * (DNS_TRY_TIMEOUT_MS, DNS_TRIES); two queries in a row fit, a second silent server is cut here.
 */
export const DNS_DEADLINE_MS = 5000;
/** A local address whose PTR lookup found nothing is asked again after this. */
export const LOCAL_NAME_RETRY_MS = 60_000;
/** Local addresses remembered; the oldest is forgotten past this (a host has few). */
export const MAX_LOCAL_NAMES = 1024;

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
  /** Resolver addresses (port 53); default: resolverServersFromEnv({}), i.e. /etc/resolv.conf. */
  resolvers?: readonly string[];
  /** @default DNS_DEADLINE_MS */
  dnsDeadlineMs?: number;
}

interface CachedName {
  name: Promise<string | undefined>;
  /** Date.now() after which a miss is looked up again. */
  retryAt: number;
}

/**
 * Runs the lookups of each connection: the local name (-l, or the PTR of the local address,
 * cached per address), the peer's PTR name (-h, checked with -p) and IDENT (-r, deadline -t).
 * The three run at the same time; DNS is bounded by `dnsDeadlineMs`, IDENT by
 * `identTimeoutMs`, and all of them by the connection's abort signal.
 */
export class Lookups {
  private _dns: DnsClient | undefined;
  private readonly _localNames = new Map<string, CachedName>();

  /**
   * @param _opts the lookup flags and deadlines
   * @throws TypeError when a resolver address is invalid (checked on first use)
   */
  constructor(private readonly _opts: LookupOptions) {}

  /**
   * The names of every connection when none needs the network (-l NAME with -H and -R): the
   * caller then has nothing to wait for or to cut short.
   * @returns the result identify() would give, or undefined when there is a lookup to do
   */
  offline(): LookupResult | undefined {
    if (this._opts.localName === undefined || this._opts.lookupRemoteHost || this._opts.lookupRemoteInfo) return undefined;
    return { paranoidRejected: false, localHost: this._opts.localName };
  }

  /**
   * Looks up the names of one connection; never throws (a failed lookup leaves a field unset).
   * @param req the connection's addresses
   * @param signal aborts the lookups (connection gone): the result comes at once, empty
   * @returns the names found; `paranoidRejected` when -p dropped a PTR name
   * @example
   * ```ts
   * const ids = await lookups.identify({ remoteIp, remotePort, localIp, localPort, ipv6 }, signal);
   * ```
   */
  async identify(req: LookupRequest, signal?: AbortSignal): Promise<LookupResult> {
    const remoteIp = unmapIPv4(req.remoteIp);
    const localIp = unmapIPv4(req.localIp);
    const deadlineMs = this._opts.dnsDeadlineMs ?? DNS_DEADLINE_MS;
    const localHost = this._opts.localName !== undefined ? Promise.resolve(this._opts.localName) : withDeadline(this._localName(localIp), deadlineMs, signal);
    const remote = this._opts.lookupRemoteHost ? this._remoteName(remoteIp, deadlineMs, signal) : Promise.resolve({ paranoidRejected: false });
    const remoteInfo = this._opts.lookupRemoteInfo
      ? queryIdent({ remoteIp, remotePort: req.remotePort, localIp, localPort: req.localPort, timeoutMs: this._opts.identTimeoutMs, ...(signal === undefined ? {} : { signal }) })
      : Promise.resolve(undefined);
    const [l, r, i] = await Promise.all([localHost, remote, remoteInfo]);
    return { ...r, ...(l === undefined ? {} : { localHost: l }), ...(i === undefined ? {} : { remoteInfo: i }) };
  }

  // built on first use; an unusable resolver list means no names rather than a thrown error
  private _client(): DnsClient | undefined {
    try {
      this._dns ??= new DnsClient({ servers: this._opts.resolvers ?? resolverServersFromEnv({}) });
    } catch {
      return undefined;
    }
    return this._dns;
  }

  // PTR of the local address, once per address: every connection to it would ask the same
  private _localName(ip: string): Promise<string | undefined> {
    const now = Date.now();
    const hit = this._localNames.get(ip);
    if (hit !== undefined && now < hit.retryAt) return hit.name;
    if (hit === undefined && this._localNames.size >= MAX_LOCAL_NAMES) {
      const oldest = this._localNames.keys().next().value;
      if (oldest !== undefined) this._localNames.delete(oldest);
    }
    const dns = this._client();
    if (dns === undefined) return Promise.resolve(undefined);
    const entry: CachedName = { name: Promise.resolve(undefined), retryAt: Infinity };
    // bounded without the connection's signal: the answer is shared with later connections
    entry.name = withDeadline(dns.lookupPtr(ip), this._opts.dnsDeadlineMs ?? DNS_DEADLINE_MS).then((found) => {
      if (found === undefined) entry.retryAt = Date.now() + LOCAL_NAME_RETRY_MS;
      return found?.text;
    });
    this._localNames.delete(ip);
    this._localNames.set(ip, entry);
    return entry.name;
  }

  // -h: PTR, then with -p the A/AAAA check; both inside one deadline
  private async _remoteName(ip: string, deadlineMs: number, signal?: AbortSignal): Promise<{ remoteHost?: string; paranoidRejected: boolean }> {
    const until = Date.now() + deadlineMs;
    const dns = this._client();
    if (dns === undefined) return { paranoidRejected: false };
    const found = await withDeadline(dns.lookupPtr(ip), deadlineMs, signal);
    if (found === undefined) return { paranoidRejected: false };
    if (!this._opts.paranoid) return { remoteHost: found.text, paranoidRejected: false };
    const confirmed = await withDeadline(dns.hasAddress(found.name, ip), Math.max(0, until - Date.now()), signal);
    return confirmed === true ? { remoteHost: found.text, paranoidRejected: false } : { paranoidRejected: true };
  }
}

// an IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is an IPv4 peer: in-addr.arpa, A records, IPv4 IDENT
function unmapIPv4(ip: string): string {
  const m = /^::ffff:([0-9]{1,3}(?:\.[0-9]{1,3}){3})$/i.exec(ip);
  return m === null ? ip : (m[1] as string);
}
