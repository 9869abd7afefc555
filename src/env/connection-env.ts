// The connection variables the program gets (PROTO, SSL*, TCP*, TCP6*), in sslserver.c's order.

/** What is known about one connection when its environment is built. */
export interface ConnectionInfo {
  /** The connection's local address (getsockname), never the listening wildcard: IPv4 dotted or IPv6 compressed. */
  localIp: string;
  localPort: number;
  /** `-l` value or PTR name of the local IP; undefined = unset SSLLOCALHOST. */
  localHost?: string;
  /** Peer address: IPv4 dotted, or IPv6 compressed (`::1`); see {@link normalizeAddress}. */
  remoteIp: string;
  remotePort: number;
  /** PTR name (after `-p`); undefined = unset SSLREMOTEHOST. */
  remoteHost?: string;
  /** IDENT user (`-r`); undefined = unset SSLREMOTEINFO. */
  remoteInfo?: string;
  /** True for a real IPv6 peer; IPv4-mapped peers (`::ffff:a.b.c.d`) are IPv4. */
  ipv6: boolean;
  /** Interface name of a scoped (link-local) IPv6 connection, for TCP6INTERFACE. */
  interfaceName?: string;
}

/** One environment change: a value sets the variable, undefined removes it (pathexec_env(name, 0)). */
export type EnvEntry = [name: string, value: string | undefined];

/**
 * The connection variables, in the order sslserver.c (0.13.x, child part) sets them. Apply the
 * entries in order: `PROTO` appears twice with the TCP variables (`TLS` first, then `TCP` or
 * `TCP6`) and the later one wins, as in the reference. An entry with value undefined removes
 * the variable from the inherited environment (an unknown host name, no IDENT info).
 *
 * Order: PROTO=TLS, SSLLOCALIP, SSLLOCALPORT, SSLLOCALHOST, SSLREMOTEIP, SSLREMOTEPORT,
 * SSLREMOTEHOST, SSLREMOTEINFO; then, with `tcpEnv`, TCPLOCALIP, TCPLOCALPORT, TCPLOCALHOST,
 * TCPREMOTEIP, TCPREMOTEPORT, TCPREMOTEHOST, TCPREMOTEINFO and either PROTO=TCP (IPv4 peer)
 * or PROTO=TCP6, TCP6LOCALIP, TCP6LOCALHOST, TCP6LOCALPORT, TCP6REMOTEIP, TCP6REMOTEPORT,
 * TCP6REMOTEHOST and TCP6INTERFACE (only when there is an interface name).
 *
 * SSLCTLFD/SSLREADFD/SSLWRITEFD and rules variables are not included.
 *
 * @param info the connection's addresses, names and IDENT info
 * @param tcpEnv false for `-E`: only PROTO=TLS and the SSL* variables
 * @returns the entries to apply, in order
 * @example
 * ```ts
 * connectionEnv({ localIp: '127.0.0.1', localPort: 4433, remoteIp: '127.0.0.9', remotePort: 40000, ipv6: false }, false);
 * // [['PROTO', 'TLS'], ['SSLLOCALIP', '127.0.0.1'], ['SSLLOCALPORT', '4433'], ['SSLLOCALHOST', undefined], ...]
 * ```
 */
export function connectionEnv(info: ConnectionInfo, tcpEnv: boolean): EnvEntry[] {
  const localPort = String(info.localPort);
  const remotePort = String(info.remotePort);
  const env: EnvEntry[] = [
    ['PROTO', 'TLS'],
    ['SSLLOCALIP', info.localIp],
    ['SSLLOCALPORT', localPort],
    ['SSLLOCALHOST', info.localHost],
    ['SSLREMOTEIP', info.remoteIp],
    ['SSLREMOTEPORT', remotePort],
    ['SSLREMOTEHOST', info.remoteHost],
    ['SSLREMOTEINFO', info.remoteInfo],
  ];
  if (!tcpEnv) return env;
  env.push(
    ['TCPLOCALIP', info.localIp],
    ['TCPLOCALPORT', localPort],
    ['TCPLOCALHOST', info.localHost],
    ['TCPREMOTEIP', info.remoteIp],
    ['TCPREMOTEPORT', remotePort],
    ['TCPREMOTEHOST', info.remoteHost],
    ['TCPREMOTEINFO', info.remoteInfo],
  );
  if (!info.ipv6) {
    env.push(['PROTO', 'TCP']);
    return env;
  }
  // as sslserver.c: TCP6LOCALHOST comes before TCP6LOCALPORT.
  env.push(
    ['PROTO', 'TCP6'],
    ['TCP6LOCALIP', info.localIp],
    ['TCP6LOCALHOST', info.localHost],
    ['TCP6LOCALPORT', localPort],
    ['TCP6REMOTEIP', info.remoteIp],
    ['TCP6REMOTEPORT', remotePort],
    ['TCP6REMOTEHOST', info.remoteHost],
  );
  if (info.interfaceName !== undefined && info.interfaceName !== '') env.push(['TCP6INTERFACE', info.interfaceName]);
  return env;
}

const IPV4 = /^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const IPV6_GROUPS = 8;

/**
 * Normalises a socket address as Node reports it (`socket.remoteAddress`/`localAddress`).
 * IPv4-mapped IPv6 (`::ffff:1.2.3.4`, from a dual-stack listener) becomes plain IPv4 with
 * `ipv6: false`, as the reference prints it. Other IPv6 addresses come back in RFC 5952 form
 * (lowercase, no leading zeros, the longest run of two or more zero groups as `::`), which
 * is what Node already reports; a `%zone` suffix is dropped (SSLREMOTEIP has none).
 *
 * The reference's fehQlibs ip6_fmt compresses the first run of zero groups rather than the
 * longest; the two only differ for addresses with two separate zero runs.
 *
 * @param address an IPv4 or IPv6 address in text form
 * @returns the address to show and put in the environment, and whether it is IPv6
 * @throws SyntaxError when the text is not an IP address
 */
export function normalizeAddress(address: string): { ip: string; ipv6: boolean } {
  if (IPV4.test(address)) return { ip: address, ipv6: false };
  const groups = parseIpv6(address.split('%')[0]);
  if (groups === undefined) throw new SyntaxError(`Cannot parse IP address "${address}"`);
  // RFC 4291 §2.5.5.2: ::ffff:0:0/96 carries an IPv4 address.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const [hi, lo] = [groups[6], groups[7]];
    return { ip: `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`, ipv6: false };
  }
  return { ip: formatIpv6(groups), ipv6: true };
}

// Text -> 8 numbers, or undefined. Accepts one `::` and a dotted IPv4 tail (RFC 4291 §2.2).
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = parseGroups(halves[0]);
  const tail = halves.length === 2 ? parseGroups(halves[1]) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === IPV6_GROUPS ? head : undefined;
  const fill = IPV6_GROUPS - head.length - tail.length;
  if (fill < 1) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...tail];
}

function parseGroups(part: string): number[] | undefined {
  if (part === '') return [];
  const words = part.split(':');
  const groups: number[] = [];
  for (let i = 0; i < words.length; i += 1) {
    const w = words[i];
    if (i === words.length - 1 && IPV4.test(w)) {
      const b = w.split('.').map(Number);
      groups.push((b[0] << 8) | b[1], (b[2] << 8) | b[3]);
    } else if (HEX_GROUP.test(w)) {
      groups.push(parseInt(w, 16));
    } else {
      return undefined;
    }
  }
  return groups;
}

// RFC 5952 §4.2: compress the longest run (first on a tie) of at least two zero groups.
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j += 1;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}
