// One line of tcprules input -> its cdb keys and instructions (ucspi-tcp6's syntax, a superset of djb's).
import { RulesSyntaxError } from '../errors';
import { expandIPv6, parseIPv4, parseIPv6 } from './ip-address';
import type { RuleData } from './rule-data';
import { ipv4CidrKey, ipv6CidrKey } from './rule-keys';

/** A parsed rules line: the cdb keys it stands for (all with the same data) and what it says. */
export interface ParsedRule {
  keys: string[];
  rule: RuleData;
}

const MAX_IPV4_PREFIX_BITS = 32;
const MAX_IPV6_PREFIX_BITS = 128;
/** Largest value of an IPv4 byte; as djb's tcprules, a range's top is cut down to it. */
const MAX_IPV4_BYTE = 255;
/** Decimal fields longer than this are rejected before Number() sees them. */
const MAX_DECIMAL_DIGITS = 9;

/**
 * Parses one line of tcprules input.
 *
 * Lines starting with `#` and lines that are empty after trimming are skipped. Trailing spaces
 * and tabs are trimmed (as djb). The address part ends at a `:` followed by `allow` or `deny`
 * and a well-formed list of `,NAME=qVALUEq` (q: any quote character): the first such colon,
 * which is where both Debian's tcprules (first colon before `allow`/`deny`) and ucspi-tcp6's
 * (last colon before the first comma) put it for every line they accept.
 *
 * Addresses, as ucspi-tcp6's tcprules: anything with `=` (`=host`, `=.suffix`, `=`,
 * `user@=host`) is kept as written; `user@IPv6` gets the address expanded; IPv6 is stored
 * expanded uppercase; `addr/n` becomes a CIDR key (also for /32 and /128, which ucspi-tcp6 does
 * too: such a rule ranks with the CIDR keys, after `=host` and dot prefixes); `a.b.c.x-y`
 * becomes one key per value (any one dotted field may be the range); everything else, IPv4
 * exact addresses and `1.2.3.` prefixes included, is kept as written.
 *
 * @param line one line without its newline, as a byte string (one char per byte, latin1)
 * @param lineNumber 1-based, for the error
 * @returns the keys and instructions, or undefined for a comment or blank line
 * @throws {RulesSyntaxError} for any line that is not a rule (with the trimmed line)
 * @example parseRuleLine('10.0.0.0/8:deny', 1) // { keys: ['_0000e0g0'], rule: { deny: true, env: [] } }
 */
export function parseRuleLine(line: string, lineNumber: number): ParsedRule | undefined {
  if (line.startsWith('#')) return undefined;
  let end = line.length;
  while (end > 0 && (line[end - 1] === ' ' || line[end - 1] === '\t' || line[end - 1] === '\n')) end--;
  const text = line.slice(0, end);
  // djb/ucspi-tcp6 skip a line with nothing left; Debian's spins on it (SPEC.md).
  if (text === '') return undefined;
  const bad = (): RulesSyntaxError => new RulesSyntaxError(text, lineNumber);

  for (let colon = text.indexOf(':'); colon >= 0; colon = text.indexOf(':', colon + 1)) {
    const rule = parseInstructions(text, colon + 1);
    if (rule === undefined) continue;
    const keys = addressKeys(text.slice(0, colon));
    if (keys === undefined) throw bad();
    return { keys, rule };
  }
  throw bad();
}

/** `allow` or `deny`, then `,NAME=qVALUEq`... to the end of the line; undefined if not. */
function parseInstructions(text: string, start: number): RuleData | undefined {
  const rule: RuleData = { deny: false, env: [] };
  let pos: number;
  if (text.startsWith('deny', start)) {
    rule.deny = true;
    pos = start + 4;
  } else if (text.startsWith('allow', start)) {
    pos = start + 5;
  } else {
    return undefined;
  }
  while (pos < text.length) {
    if (text[pos] !== ',') return undefined;
    // as djb: the name runs to the first '=', the byte after it is the quote character
    const eq = text.indexOf('=', pos + 1);
    if (eq < 0 || eq + 1 >= text.length) return undefined;
    const quote = text[eq + 1] as string;
    const close = text.indexOf(quote, eq + 2);
    if (close < 0) return undefined;
    rule.env.push([text.slice(pos + 1, eq), text.slice(eq + 2, close)]);
    pos = close + 1;
  }
  return rule;
}

/** The cdb keys for an address part, or undefined when it is a malformed IP form. */
function addressKeys(address: string): string[] | undefined {
  if (address.includes('=')) return [address];
  const isIPv6 = address.includes(':');
  const slash = address.indexOf('/');
  const at = address.indexOf('@');

  if (at >= 0) {
    // as ucspi-tcp6: only user@IPv6 is rewritten; user@IPv4, user@CIDR stay literal
    if (!isIPv6 || slash >= 0) return [address];
    const expanded = expandIPv6(address.slice(at + 1));
    return expanded === undefined ? undefined : [`${address.slice(0, at + 1)}${expanded}`];
  }
  if (slash >= 0) {
    const bits = parseDecimal(address.slice(slash + 1));
    const ip = address.slice(0, slash);
    if (isIPv6) {
      const bytes = parseIPv6(ip);
      if (bytes === undefined || bits === undefined || bits < 1 || bits > MAX_IPV6_PREFIX_BITS) return undefined;
      return [ipv6CidrKey(bytes, bits)];
    }
    const bytes = parseIPv4Network(ip, bits);
    if (bytes === undefined || bits === undefined || bits < 1 || bits > MAX_IPV4_PREFIX_BITS) return undefined;
    return [ipv4CidrKey(bytes, bits)];
  }
  if (isIPv6) {
    const expanded = expandIPv6(address);
    return expanded === undefined ? undefined : [expanded];
  }
  const dash = address.indexOf('-');
  if (dash >= 0) return rangeKeys(address, dash);
  return [address];
}

/**
 * The network of an IPv4 CIDR line: a dotted quad, or (as ucspi-tcp6's own example `127./8`)
 * its first one to three octets, with or without the trailing dot, when the prefix lies within
 * them (`192.168./16`, `10.1/16`). ucspi-tcp6 reads the octets it can and takes the rest from
 * uninitialised memory; here a prefix longer than the octets given is an error.
 */
function parseIPv4Network(text: string, bits: number | undefined): number[] | undefined {
  const full = parseIPv4(text);
  if (full !== undefined || bits === undefined) return full;
  const octets = (text.endsWith('.') ? text.slice(0, -1) : text).split('.');
  if (octets.length > 3 || bits > octets.length * 8) return undefined;
  return parseIPv4([...octets, '0', '0', '0'].slice(0, 4).join('.'));
}

/** djb's range form: the dotted field holding the first '-' is `bot-top`; one key per value. */
function rangeKeys(address: string, dash: number): string[] | undefined {
  const left = address.lastIndexOf('.', dash) + 1;
  let right = address.indexOf('.', dash);
  if (right < 0) right = address.length;
  const bottom = parseDecimal(address.slice(left, dash));
  const topText = address.slice(dash + 1, right);
  // any number of digits, as djb: whatever is past 255 is cut down to it below
  let top = /^[0-9]{10,}$/.test(topText) ? MAX_IPV4_BYTE : parseDecimal(topText);
  // Stricter than djb, which reads an empty field as 0 and silently writes nothing for
  // bottom > top: both are typing mistakes.
  if (bottom === undefined || top === undefined || bottom > MAX_IPV4_BYTE || bottom > top) return undefined;
  if (top > MAX_IPV4_BYTE) top = MAX_IPV4_BYTE; // as djb's tcprules
  const keys: string[] = [];
  const before = address.slice(0, left);
  const after = address.slice(right);
  for (let n = bottom; n <= top; n++) keys.push(`${before}${n}${after}`);
  return keys;
}

function parseDecimal(text: string): number | undefined {
  if (text.length === 0 || text.length > MAX_DECIMAL_DIGITS || !/^[0-9]+$/.test(text)) return undefined;
  return Number(text);
}
