// Text that keeps every byte: what a C program passes on as bytes (environment values, argv,
// rules' variables) goes through our JS strings and comes out as the same bytes.
//
// Valid UTF-8 decodes as usual; each byte that is not part of a valid UTF-8 sequence becomes
// the lone surrogate U+DC80..U+DCFF (Python's "surrogateescape", PEP 383), which no decoded
// UTF-8 text can contain. Encoding turns those back into their byte. Plain strings (every
// string from anywhere else) are well-formed and encode as UTF-8, exactly as before.
import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';

const ESCAPE_BASE = 0xdc00;
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

/**
 * Decodes bytes as UTF-8, keeping each byte that is not valid UTF-8 as U+DC80..U+DCFF.
 * @param bytes the source
 * @param start first byte (default 0)
 * @param end byte after the last (default the end)
 * @returns text that {@link bytesFromText} turns back into exactly these bytes
 * @example textFromBytes(Buffer.from([0x67, 0xe9])) // 'g\udce9'
 */
export function textFromBytes(bytes: Uint8Array, start = 0, end = bytes.length): string {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
  if (isUtf8(buf)) return buf.toString('utf8');
  let out = '';
  let i = 0;
  while (i < buf.length) {
    const n = sequenceLength(buf, i);
    if (n === 0) {
      out += String.fromCharCode(ESCAPE_BASE + (buf[i] as number));
      i += 1;
    } else {
      out += buf.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

// The length of the valid UTF-8 sequence at i (RFC 3629 §4: no overlongs, no surrogates,
// nothing above U+10FFFF), or 0 when the byte there does not start one.
function sequenceLength(b: Buffer, i: number): number {
  const c = b[i] as number;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && (b[i + k] as number) >= lo && (b[i + k] as number) <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const [lo, hi] = c === 0xe0 ? [0xa0, 0xbf] : c === 0xed ? [0x80, 0x9f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const [lo, hi] = c === 0xf0 ? [0x90, 0xbf] : c === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}

/**
 * Encodes text as the bytes it stands for: UTF-8, with U+DC80..U+DCFF (from
 * {@link textFromBytes}) as their single byte. Any other lone surrogate becomes U+FFFD, as
 * Node's own UTF-8 encoder writes it.
 * @param text any string
 * @returns the bytes
 * @example bytesFromText('g\udce9') // <Buffer 67 e9>
 */
export function bytesFromText(text: string): Buffer {
  if (text.isWellFormed()) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < text.length; i += 1) {
    const u = text.charCodeAt(i);
    if (u < 0xd800 || u > 0xdfff) continue;
    if (u <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i += 1; // a pair: UTF-8 as it stands
        continue;
      }
    }
    parts.push(Buffer.from(text.slice(from, i), 'utf8'));
    parts.push(u >= 0xdc80 && u <= 0xdcff ? Buffer.from([u - ESCAPE_BASE]) : REPLACEMENT);
    from = i + 1;
  }
  parts.push(Buffer.from(text.slice(from), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * What a call that takes a string or a Buffer and writes a string as UTF-8 (`node:fs` for a file
 * name, the addon's spawn) should get for `text`: the string itself when it is plain, else its
 * exact bytes (a name or value from a non-UTF-8 variable, argument or rules file).
 * @param text any string
 * @returns `text`, or a Buffer when it carries kept bytes
 */
export function exactArg(text: string): string | Buffer {
  return text.isWellFormed() ? text : bytesFromText(text);
}

// NUL-separated entries (the kernel's layout of /proc/PID/environ and cmdline), as text.
function nulEntries(raw: Buffer): string[] {
  const out: string[] = [];
  let pos = 0;
  while (pos < raw.length) {
    let nul = raw.indexOf(0, pos);
    if (nul < 0) nul = raw.length;
    out.push(textFromBytes(raw, pos, nul));
    pos = nul + 1;
  }
  return out;
}

/**
 * The environment this process started with, byte for byte (from /proc/self/environ; Node's
 * `process.env` turns bytes that are not UTF-8 into U+FFFD). Falls back to `process.env`
 * when /proc cannot be read, or when it and `process.env` do not hold the same names (the
 * environment was changed since the start).
 * @returns name -> value, in the order of the environment
 */
export function inheritedEnv(): Map<string, string> {
  const fromNode = new Map<string, string>();
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) fromNode.set(k, v);
  let raw: Buffer;
  try {
    raw = readFileSync('/proc/self/environ');
  } catch {
    return fromNode;
  }
  const env = new Map<string, string>();
  for (const entry of nulEntries(raw)) {
    const eq = entry.indexOf('=');
    // as Node and getenv: an entry without '=' is no variable; the first of a name wins
    if (eq <= 0) continue;
    const name = entry.slice(0, eq);
    if (!env.has(name)) env.set(name, entry.slice(eq + 1));
  }
  if (env.size !== fromNode.size || !sameText(env, fromNode)) return fromNode;
  return env;
}

// Whether every name is in both and each value reads the same once decoded as Node decodes.
function sameText(exact: ReadonlyMap<string, string>, fromNode: ReadonlyMap<string, string>): boolean {
  for (const [k, v] of exact) {
    const plainName = bytesFromText(k).toString('utf8');
    if (fromNode.get(plainName) !== bytesFromText(v).toString('utf8')) return false;
  }
  return true;
}

/**
 * This process's arguments after the script, byte for byte (from /proc/self/cmdline, whose
 * last entries they are; Node's `process.argv` turns bytes that are not UTF-8 into U+FFFD).
 * Falls back to `process.argv` when /proc cannot be read or does not match it.
 * @returns the arguments, `process.argv.slice(2)` with their exact bytes
 */
export function inheritedArgs(): string[] {
  const fromNode = process.argv.slice(2);
  let entries: string[];
  try {
    entries = nulEntries(readFileSync('/proc/self/cmdline'));
  } catch {
    return fromNode;
  }
  const args = entries.slice(entries.length - fromNode.length);
  if (entries.length < fromNode.length || args.some((a, i) => bytesFromText(a).toString('utf8') !== fromNode[i])) return fromNode;
  return args;
}
