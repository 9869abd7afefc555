// Turns the command line's host and port into an address to bind, as ucspi-ssl reads them.
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { ConfigError } from '../errors';

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
 * IPv6 wildcard, a literal binds just that address, a name is resolved (-4/-6 pick the family).
 * @param host the command line's host
 * @param family 0 (any), 4 or 6
 * @throws ConfigError `no IP address for: NAME` / `temporarily unable to figure out IP address for: NAME`
 */
export async function resolveBindAddress(host: string, family: 0 | 4 | 6): Promise<BindAddress> {
  if (host === '0') return { address: '0.0.0.0', family: 4, v6only: false };
  if (host === '::' || host === ':0') return { address: '::', family: 6, v6only: false };
  const [bare = host, zone] = host.split('%', 2);
  const literal = isIP(bare);
  if (literal === 4) return { address: host, family: 4, v6only: false };
  if (literal === 6) return { address: bare, family: 6, v6only: true, ...(zone === undefined || zone === '' ? {} : { zone }) };
  // A name: unlike the reference's DNS-only stub we use the system resolver, so that
  // `localhost` and /etc/hosts names work as an administrator expects for a listen address.
  try {
    const all = await lookup(host, { all: true, verbatim: true });
    const pick = all.find((a) => family === 0 || a.family === family);
    if (pick === undefined) throw new ConfigError(`no IP address for: ${host}`, { kind: 'fatal' });
    return { address: pick.address, family: pick.family === 6 ? 6 : 4, v6only: pick.family === 6 };
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as { code?: string }).code;
    if (code === 'ENOTFOUND' || code === 'ENODATA') throw new ConfigError(`no IP address for: ${host}`, { kind: 'fatal', cause: err });
    throw new ConfigError(`temporarily unable to figure out IP address for: ${host}`, { kind: 'fatal', cause: err });
  }
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
