// Text <-> bytes for IPv4 and IPv6 addresses, in the forms tcprules keys use (expanded uppercase IPv6).

/** Longest decimal field accepted in a dotted quad: keeps `parseInt` away from huge strings. */
const MAX_IPV4_FIELD_DIGITS = 3;
const IPV6_BYTES = 16;
const IPV6_GROUPS = 8;

/**
 * Parses a dotted-quad IPv4 address: four decimal fields 0..255 (leading zeros allowed, read as
 * decimal, as djb's ip4_scan does), nothing before or after.
 * @param text e.g. `127.0.0.1`
 * @returns the four byte values, or undefined when `text` is not a dotted quad
 * @example parseIPv4('10.0.0.1') // [10, 0, 0, 1]
 */
export function parseIPv4(text: string): number[] | undefined {
  const fields = text.split('.');
  if (fields.length !== 4) return undefined;
  const bytes: number[] = [];
  for (const field of fields) {
    if (field.length === 0 || field.length > MAX_IPV4_FIELD_DIGITS || !/^[0-9]+$/.test(field)) return undefined;
    const value = Number(field);
    if (value > 255) return undefined;
    bytes.push(value);
  }
  return bytes;
}

/**
 * Parses an IPv6 address in any RFC 4291 §2.2 text form: full, `::`-compressed, mixed-case hex,
 * or with a trailing dotted quad (`::ffff:1.2.3.4`). Zone suffixes (`%eth0`) are not addresses
 * and are rejected; strip them first.
 * @param text the address text
 * @returns the 16 address bytes, or undefined when `text` is not an IPv6 address
 */
export function parseIPv6(text: string): Uint8Array | undefined {
  let head = text;
  let tail = '';
  const gap = text.indexOf('::');
  if (gap >= 0) {
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
    if (tail.includes('::')) return undefined;
  }
  const headGroups = parseGroups(head, gap < 0);
  const tailGroups = gap < 0 ? [] : parseGroups(tail, true);
  if (headGroups === undefined || tailGroups === undefined) return undefined;
  // RFC 4291 §2.2: "::" stands for one or more groups of zeros.
  const total = headGroups.length + tailGroups.length;
  if (gap < 0 ? total !== IPV6_GROUPS : total > IPV6_GROUPS - 1) return undefined;
  const groups = [...headGroups, ...new Array<number>(IPV6_GROUPS - total).fill(0), ...tailGroups];
  const bytes = new Uint8Array(IPV6_BYTES);
  groups.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/** Colon-separated hex groups; the last may be a dotted quad (two groups) when `mayEndInIPv4`. */
function parseGroups(text: string, mayEndInIPv4: boolean): number[] | undefined {
  if (text === '') return [];
  const parts = text.split(':');
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    if (mayEndInIPv4 && i === parts.length - 1 && part.includes('.')) {
      const v4 = parseIPv4(part);
      if (v4 === undefined) return undefined;
      groups.push(((v4[0] as number) << 8) | (v4[1] as number), ((v4[2] as number) << 8) | (v4[3] as number));
    } else {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(part)) return undefined;
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

/**
 * Expands any valid IPv6 text to the form tcprules keys use: 8 groups of 4 uppercase hex digits
 * (as ucspi-tcp6's ip6_fmt_str).
 * @param text the address in any valid form
 * @returns e.g. `0000:0000:0000:0000:0000:0000:0000:0001`, or undefined when `text` is invalid
 * @example expandIPv6('fe80::1') // 'FE80:0000:0000:0000:0000:0000:0000:0001'
 */
export function expandIPv6(text: string): string | undefined {
  const bytes = parseIPv6(text);
  if (bytes === undefined) return undefined;
  const groups: string[] = [];
  for (let i = 0; i < IPV6_GROUPS; i++) {
    const g = ((bytes[2 * i] as number) << 8) | (bytes[2 * i + 1] as number);
    groups.push(g.toString(16).toUpperCase().padStart(4, '0'));
  }
  return groups.join(':');
}

/**
 * Formats 16 bytes as compact lowercase IPv6 text (RFC 5952 §4: longest run of two or more
 * zero groups becomes `::`, the first such run on a tie).
 * @param bytes the 16 address bytes
 * @returns e.g. `fe80::1`
 */
export function formatIPv6(bytes: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < IPV6_GROUPS; i++) groups.push(((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < IPV6_GROUPS; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < IPV6_GROUPS && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]): string => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
