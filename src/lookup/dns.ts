// Reverse DNS through node:dns's c-ares Resolver: PTR on a name built here, paranoid A/AAAA check.
import { Resolver } from 'node:dns/promises';
import { expandIPv6, parseIPv4, parseIPv6 } from '../rules/ip-address';

/**
 * c-ares' wait for one answer from one server before it tries again. c-ares doubles it on
 * each round through the server list (ares_conn.c), so 1000 ms and 2 tries end a query on a
 * silent single server after about 3 s; the caller's deadline caps it anyway.
 */
export const DNS_TRY_TIMEOUT_MS = 1000;
/** Tries per server (c-ares' `tries`); 2 survives one lost UDP datagram. */
export const DNS_TRIES = 2;
/** RFC 1035 §3.1: a name is at most 255 bytes on the wire, so at most 253 as dotted text. */
export const MAX_DNS_NAME_BYTES = 253;

/** How to reach the resolvers. */
export interface DnsClientOptions {
  /** Resolver addresses, port 53 (see resolverServersFromEnv). */
  servers: readonly string[];
  /** @default DNS_TRY_TIMEOUT_MS */
  tryTimeoutMs?: number;
  /** @default DNS_TRIES */
  tries?: number;
}

/**
 * PTR and address queries for the lookups of one server, and for the name it binds. All queries
 * are plain DNS queries (`resolvePtr`, `resolve4`, `resolve6`), never `reverse()` or `lookup()`,
 * which read /etc/hosts; c-ares runs them on the event loop, not in the libuv thread pool, so a
 * slow resolver holds no thread and no other connection.
 */
export class DnsClient {
  private readonly _resolver: Resolver;

  /**
   * @param opts the resolver addresses and c-ares' per-try timeout
   * @throws TypeError from setServers when an address is invalid
   */
  constructor(opts: DnsClientOptions) {
    this._resolver = new Resolver({ timeout: opts.tryTimeoutMs ?? DNS_TRY_TIMEOUT_MS, tries: opts.tries ?? DNS_TRIES });
    this._resolver.setServers([...opts.servers]);
  }

  /**
   * The PTR name of an address, as djb's dns_name4/dns_name6 give it: the first PTR record,
   * lowercase, every byte other than `a-z 0-9 -` inside a label written as `\ooo`.
   * @param ip IPv4 dotted quad or IPv6 text
   * @returns the name (`name` is the form to query further), or undefined when there is none
   * @throws Error from c-ares (ENOTFOUND, ETIMEOUT, EBADRESP, ...) when the query fails
   */
  async lookupPtr(ip: string): Promise<{ text: string; name: string } | undefined> {
    const names = await this._resolver.resolvePtr(ptrQueryName(ip));
    const name = names[0];
    if (name === undefined) return undefined;
    const text = formatDnsName(name);
    return text === undefined ? undefined : { text, name };
  }

  /**
   * The paranoid check (-p): do the A (IPv4 peer) or AAAA (IPv6 peer) records of `name`
   * contain `ip`?
   * @param name a name as lookupPtr returned it (`name` field)
   * @param ip the peer address
   * @returns true when one record equals the address
   * @throws Error from c-ares when the query fails
   */
  async hasAddress(name: string, ip: string): Promise<boolean> {
    if (parseIPv4(ip) !== undefined) return (await this.addresses(name, 4)).includes(ip);
    const want = expandIPv6(ip);
    return (await this.addresses(name, 6)).some((a) => expandIPv6(a) === want);
  }

  /**
   * The A (4) or AAAA (6) records of a name, in the order of the answer.
   * @param name the name to query, as is (no search list, no /etc/hosts)
   * @param family 4 or 6
   * @throws Error from c-ares: ENOTFOUND (no such name), ENODATA (no such record), ETIMEOUT, ...
   */
  addresses(name: string, family: 4 | 6): Promise<string[]> {
    return family === 4 ? this._resolver.resolve4(name) : this._resolver.resolve6(name);
  }
}

/**
 * The query name for a reverse lookup: `d.c.b.a.in-addr.arpa` (RFC 1035 §3.5) or the 32
 * nibbles of `ip6.arpa` (RFC 3596 §2.5).
 * @param ip IPv4 dotted quad or IPv6 text
 * @returns the name to query for PTR
 * @throws TypeError when `ip` is not an address
 * @example ptrQueryName('127.0.0.3') // '3.0.0.127.in-addr.arpa'
 */
export function ptrQueryName(ip: string): string {
  const v4 = parseIPv4(ip);
  if (v4 !== undefined) return `${[...v4].reverse().join('.')}.in-addr.arpa`;
  const v6 = parseIPv6(ip);
  if (v6 === undefined) throw new TypeError(`Cannot build a PTR name: not an IP address: ${ip}`);
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const b = v6[i] as number;
    nibbles.push((b & 0xf).toString(16), (b >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}

/**
 * Turns a name as c-ares prints it (`.` between labels; `\.`, `\\` and other reserved bytes
 * escaped with `\`, unprintable ones as `\DDD` decimal) into djb's form (dns_domain_todot_cat):
 * lowercase, `a-z 0-9 -` kept, every other byte of a label as `\ooo` octal. The result holds
 * only `[a-z0-9.\\-]`: safe for the environment, a rules key and a log line.
 * @param name the name from c-ares
 * @returns the text, or undefined when the name is empty, has an empty label or is longer
 *   than MAX_DNS_NAME_BYTES (a resolver that sends such a name is not to be believed)
 * @example formatDnsName('Host_1.Example') // 'host\\1371.example'
 */
export function formatDnsName(name: string): string | undefined {
  const labels: number[][] = [[]];
  let bytes = 0;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (i === name.length - 1) break; // a final dot ends the name
      labels.push([]);
      bytes += 1;
      continue;
    }
    if (c === 0x5c) {
      const digits = /^[0-9]{3}/.exec(name.slice(i + 1, i + 4));
      if (digits !== null) {
        c = Number(digits[0]);
        i += 3;
      } else {
        i += 1;
        c = name.charCodeAt(i);
      }
      if (Number.isNaN(c) || c > 255) return undefined;
    } else if (c > 255) {
      return undefined; // c-ares never gives wider characters
    }
    (labels[labels.length - 1] as number[]).push(c);
    bytes += 1;
    if (bytes > MAX_DNS_NAME_BYTES) return undefined;
  }
  if (labels.some((l) => l.length === 0)) return undefined;
  return labels.map((l) => l.map(djbByte).join('')).join('.');
}

// as djb's dns_domain_todot_cat: uppercase folds to lowercase; anything but a-z, 0-9, '-' as \ooo
function djbByte(c: number): string {
  const b = c >= 0x41 && c <= 0x5a ? c + 32 : c;
  if ((b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d) return String.fromCharCode(b);
  return `\\${b.toString(8).padStart(3, '0')}`;
}
