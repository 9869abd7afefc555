// Turns the command line's host and port into an address to bind, as ucspi-ssl reads them.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from '../errors';
import { DnsClient } from '../lookup/dns';
import { resolverServersFromEnv } from '../lookup/resolver-servers';

/** What to bind: a literal address, its family, and whether IPv4 is accepted on an IPv6 socket. */
export interface BindAddress {
  address: string;
  family: 4 | 6;
  /** false on `::` and `:0`: dual stack, IPv4 peers arrive as plain IPv4 addresses. */
  v6only: boolean;
  /** The `%zone` of a link-local literal (`fe80::1%eth0`): the interface to bind to. */
  zone?: string;
}

/**
 * Resolves sslserver's host argument: `0` is 0.0.0.0 (IPv4 only), `::` and `:0` the dual-stack
 * IPv6 wildcard, a literal binds just that address, a name is asked of DNS as the reference's
 * stub asks it (fehQlibs' dns_ip6: AAAA, then A; -4/-6 ask only one), through the resolvers of
 * `$DNSCACHEIP` or resolv.conf. /etc/hosts is not read: the reference never reads it.
 * @param host the command line's host
 * @param family 0 (any), 4 or 6
 * @param resolvers the resolvers to ask (default: resolverServersFromEnv(process.env))
 * @throws ConfigError `no IP address for: NAME` / `temporarily unable to figure out IP address for: NAME`
 */
export async function resolveBindAddress(host: string, family: 0 | 4 | 6, resolvers?: readonly string[]): Promise<BindAddress> {
  if (host === '0') return { address: '0.0.0.0', family: 4, v6only: false };
  if (host === '::' || host === ':0') return { address: '::', family: 6, v6only: false };
  const [bare = host, zone] = host.split('%', 2);
  const literal = isIP(bare);
  if (literal === 4) return { address: host, family: 4, v6only: false };
  if (literal === 6) return { address: bare, family: 6, v6only: true, ...(zone === undefined || zone === '' ? {} : { zone }) };
  let dns: DnsClient;
  try {
    dns = new DnsClient({ servers: resolvers ?? resolverServersFromEnv(process.env) });
  } catch (err) {
    throw new ConfigError(`temporarily unable to figure out IP address for: ${host}`, { kind: 'fatal', cause: err });
  }
  // c-ares ends each query by itself (DNS_TRY_TIMEOUT_MS, DNS_TRIES per server)
  let failure: unknown;
  for (const f of family === 0 ? ([6, 4] as const) : [family]) {
    try {
      const first = (await dns.addresses(host, f))[0];
      if (first !== undefined) return { address: first, family: f, v6only: f === 6 };
    } catch (err) {
      const code = (err as { code?: string }).code;
      // no such name or no such record is an answer; anything else (timeout, SERVFAIL, refused) is not
      if (code !== 'ENOTFOUND' && code !== 'ENODATA') failure ??= err;
    }
  }
  if (failure !== undefined) throw new ConfigError(`temporarily unable to figure out IP address for: ${host}`, { kind: 'fatal', cause: failure });
  throw new ConfigError(`no IP address for: ${host}`, { kind: 'fatal' });
}

const servicesCache = new Map<string, Map<string, number>>();

/**
 * A port number, or a TCP service name from /etc/services (as getservbyname(3)).
 * @throws ConfigError `unable to figure out port number for: NAME`
 */
export function resolvePort(port: string, servicesFile = '/etc/services'): number {
  if (/^[0-9]{1,5}$/.test(port) && Number(port) <= 65535) return Number(port);
  let services = servicesCache.get(servicesFile);
  if (services === undefined) servicesCache.set(servicesFile, (services = readServices(servicesFile)));
  const n = services.get(port);
  if (n === undefined) throw new ConfigError(`unable to figure out port number for: ${port}`, { kind: 'fatal' });
  return n;
}

function readServices(path: string): Map<string, number> {
  const map = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(path, 'latin1');
  } catch {
    return map;
  }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const [name, portProto, ...aliases] = line.split(/\s+/);
    const m = /^([0-9]+)\/tcp$/.exec(portProto ?? '');
    if (name === undefined || m === null) continue;
    for (const n of [name, ...aliases]) if (!map.has(n)) map.set(n, Number(m[1]));
  }
  return map;
}
