// The rule-key lookup order (SPEC.md "Rules databases") and the CIDR key encoding of ucspi-tcp6.
import { bytesFromText } from '../env/env-bytes';
import { expandIPv6, formatIPv6, parseIPv4, parseIPv6 } from './ip-address';

/** ucspi-tcp6 ip4_bit.c: a set bit at position i (1-based) is the i-th letter of this alphabet. */
const IPV4_BIT_LETTERS = 'abcdefghijklmnopqrstuvwxyz123456';
/** ucspi-tcp6 ip6_bit.c: the first set bit is '`' (96), each further set bit the next byte. */
const IPV6_FIRST_SET_BIT_CODE = 96;
const IPV4_BITS = 32;
const IPV6_BITS = 128;
const IPV4_CIDR_MARK = '_';
const IPV6_CIDR_MARK = '^';

/**
 * The IPv4 CIDR key for a prefix: `_` then one character per prefix bit, `0` for a clear bit,
 * the bit's letter for a set bit.
 * @param bytes the 4 address bytes (bits past the prefix are ignored)
 * @param prefixBits 1..32
 * @returns e.g. `_0000e0g0` for 10.0.0.0/8
 */
export function ipv4CidrKey(bytes: readonly number[], prefixBits: number): string {
  let key = IPV4_CIDR_MARK;
  for (let bit = 0; bit < prefixBits && bit < IPV4_BITS; bit++) {
    const set = (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) === 1;
    key += set ? IPV4_BIT_LETTERS[bit] : '0';
  }
  return key;
}

/**
 * The IPv6 CIDR key for a prefix: `^` then one character per prefix bit, `0` for a clear bit
 * and successive characters from '`' for set bits. Past 31 set bits the characters leave ASCII
 * (up to U+00DF): such keys are byte strings, see {@link encodeRuleKey}.
 * @param bytes the 16 address bytes (bits past the prefix are ignored)
 * @param prefixBits 1..128
 * @returns e.g. ``^`abcdef0g0`` for fe80::/10
 */
export function ipv6CidrKey(bytes: Uint8Array, prefixBits: number): string {
  let key = IPV6_CIDR_MARK;
  let next = IPV6_FIRST_SET_BIT_CODE;
  for (let bit = 0; bit < prefixBits && bit < IPV6_BITS; bit++) {
    const set = (((bytes[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1) === 1;
    key += set ? String.fromCharCode(next++) : '0';
  }
  return key;
}

/**
 * Keys to try for one connection, first hit wins, in SPEC.md's order: `info@ip`, `info@=host`,
 * the exact address (IPv6 expanded uppercase), `=host`, IPv4 dot prefixes longest first, CIDR
 * keys longest prefix first (IPv4 32..1, IPv6 128..1), `=` + each dot suffix of host, `=`, and
 * the empty default key. Pure; no I/O.
 * An address containing `:` is IPv6; a `%zone` suffix is dropped. When it does not parse, the
 * keys built from it are left out (as ucspi-tcp6's rules.c), host keys and the default remain.
 * As fehcom's and ucspi-tcp6's rules.c, but CIDR goes down to /1 (theirs stops at /2) and IPv6
 * CIDR keys are tried even when a host name is known (theirs then scans the wrong string).
 * @param ip the peer address as text, IPv4 dotted or IPv6 in any form
 * @param host the peer's name (TCPREMOTEHOST), if known; `''` still yields the `=` key
 * @param info the IDENT answer (TCPREMOTEINFO), if known
 * @returns the keys, as strings of byte values (see {@link encodeRuleKey})
 * @example ruleKeys('10.1.2.3')[0] // '10.1.2.3'
 */
export function ruleKeys(ip: string, host?: string, info?: string): string[] {
  const keys: string[] = [];
  const isIPv6 = ip.includes(':');
  const address = isIPv6 ? expandIPv6(stripZone(ip)) : ip;

  if (info !== undefined) {
    if (address !== undefined) keys.push(`${info}@${address}`);
    if (host !== undefined) keys.push(`${info}@=${host}`);
  }
  if (address !== undefined) keys.push(address);
  if (host !== undefined) keys.push(`=${host}`);

  if (!isIPv6) {
    for (let length = ip.length; length > 0; length--) {
      if (ip[length - 1] === '.') keys.push(ip.slice(0, length));
    }
    const v4 = parseIPv4(ip);
    if (v4 !== undefined) pushCidrKeys(keys, ipv4CidrKey(v4, IPV4_BITS));
  } else {
    const v6 = parseIPv6(stripZone(ip));
    if (v6 !== undefined) pushCidrKeys(keys, ipv6CidrKey(v6, IPV6_BITS));
  }

  if (host !== undefined) {
    for (let i = 0; i < host.length; i++) {
      if (host[i] === '.') keys.push(`=${host.slice(i)}`);
    }
    keys.push('=');
  }
  keys.push('');
  return keys;
}

/** Every prefix of a full-length CIDR key, longest first: the key of addr/n is its first n bits. */
function pushCidrKeys(keys: string[], fullKey: string): void {
  for (let length = fullKey.length; length > 1; length--) keys.push(fullKey.slice(0, length));
}

function stripZone(ip: string): string {
  const percent = ip.indexOf('%');
  return percent < 0 ? ip : ip.slice(0, percent);
}

/**
 * Bytes of a rule key for a cdb lookup. IPv6 CIDR keys are byte strings (one char = one byte,
 * latin1); every other key is text (UTF-8, with bytes kept by {@link textFromBytes} as their
 * byte), so a host or IDENT name typed in a UTF-8 rules file matches, and so does one in any
 * other encoding.
 * @param key a key from {@link ruleKeys}
 * @returns the key bytes
 */
export function encodeRuleKey(key: string): Buffer {
  return isIPv6CidrKey(key) ? Buffer.from(key, 'latin1') : bytesFromText(key);
}

/** True for `^` followed by 1..128 chars that are `0` or successive set-bit chars from '`'. */
function isIPv6CidrKey(key: string): boolean {
  if (key[0] !== IPV6_CIDR_MARK || key.length < 2 || key.length > IPV6_BITS + 1) return false;
  let next = IPV6_FIRST_SET_BIT_CODE;
  for (let i = 1; i < key.length; i++) {
    const code = key.charCodeAt(i);
    if (code === next) next++;
    else if (code !== 0x30) return false;
  }
  return true;
}

function isIPv4CidrKey(key: string): boolean {
  if (key[0] !== IPV4_CIDR_MARK || key.length < 2 || key.length > IPV4_BITS + 1) return false;
  for (let i = 1; i < key.length; i++) {
    if (key[i] !== '0' && key[i] !== IPV4_BIT_LETTERS[i - 1]) return false;
  }
  return true;
}

/**
 * How tcprulescheck shows a matched key: CIDR keys as `address/prefix` (as ucspi-tcp6's
 * tcprulescheck does), every other key as it is.
 * @param key a matched key
 * @returns e.g. `10.0.0.0/8`, `fe80::/10`, or `key` unchanged
 */
export function describeRuleKey(key: string): string {
  if (isIPv4CidrKey(key)) {
    const bytes = [0, 0, 0, 0];
    for (let bit = 0; bit < key.length - 1; bit++) {
      if (key[bit + 1] !== '0') bytes[bit >> 3] = (bytes[bit >> 3] as number) | (0x80 >> (bit & 7));
    }
    return `${bytes.join('.')}/${key.length - 1}`;
  }
  if (isIPv6CidrKey(key)) {
    const bytes = new Uint8Array(16);
    for (let bit = 0; bit < key.length - 1; bit++) {
      if (key[bit + 1] !== '0') bytes[bit >> 3] = (bytes[bit >> 3] as number) | (0x80 >> (bit & 7));
    }
    return `${formatIPv6(bytes)}/${key.length - 1}`;
  }
  return key;
}
