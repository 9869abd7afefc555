// Which resolvers to ask: $DNSCACHEIP, else the nameserver lines of /etc/resolv.conf, as djb's dns_rcip.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

/** djb's dns_rcip: with neither source, ask a cache on the local host. */
export const DEFAULT_RESOLVER = '127.0.0.1';

/**
 * The resolver addresses for PTR/A/AAAA queries, always port 53. `DNSCACHEIP` (addresses
 * separated by spaces, commas or tabs; as fehQlibs' dns_rcip both IPv4 and IPv6) wins;
 * otherwise the `nameserver` lines of resolv.conf. Entries that are not IP addresses are
 * skipped. /etc/hosts is never read.
 * @param env the start-up environment (`process.env` from the CLI)
 * @param resolvConf path of resolv.conf (tests pass their own)
 * @returns at least one address
 * @example resolverServersFromEnv({ DNSCACHEIP: '127.0.0.53' }) // ['127.0.0.53']
 */
export function resolverServersFromEnv(env: Readonly<Record<string, string | undefined>>, resolvConf = '/etc/resolv.conf'): string[] {
  const fromEnv = env.DNSCACHEIP;
  if (fromEnv !== undefined) {
    const list = fromEnv.split(/[\s,]+/).filter(isPlainIp);
    if (list.length > 0) return list;
  }
  let text = '';
  try {
    text = readFileSync(resolvConf, 'latin1');
  } catch {
    // no resolv.conf: the local cache, as djb's resolver
  }
  const list: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m !== null && isPlainIp(m[1] as string)) list.push(m[1] as string);
  }
  return list.length > 0 ? list : [DEFAULT_RESOLVER];
}

// an address c-ares' setServers takes as is; zone suffixes (fe80::1%eth0) are left out
function isPlainIp(a: string): boolean {
  return isIP(a) !== 0 && !a.includes('%');
}
