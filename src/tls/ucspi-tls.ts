// UCSPI-TLS control protocol (-n): the one-byte command and the NAME=value\0…\0\0 block, strict and bounded.
import { ProtocolError } from '../errors';

/** A command a program may write on SSLCTLFD: `y` start TLS, `Y` start TLS and send the variables. */
export type UcspiTlsCommand = 'y' | 'Y';

/** Largest variable block we write or read: two PEM certificates and their DNs fit many times over. */
export const MAX_ENV_BLOCK_BYTES = 256 * 1024;

const NUL = 0;

/**
 * Reads the program's command from the first bytes on the control socket: `y` or `Y`, and at
 * most a line end after it (`echo y >&$SSLCTLFD` in a shell script writes `y\n`; the reference
 * reads one byte and never looks at the rest). The reference (sslserver.c) starts a handshake
 * on any byte it reads; here an unknown byte, or other bytes after the command, are a protocol
 * error: guessing what a program meant is how plaintext ends up treated as protected (the
 * CVE-2011-0411 class).
 * @param chunk the bytes read so far from the control socket, not yet interpreted
 * @returns the command
 * @throws ProtocolError for an empty chunk, an unknown byte or trailing bytes other than a line end
 * @example parseControlCommand(Buffer.from('Y')) // 'Y'
 */
export function parseControlCommand(chunk: Buffer): UcspiTlsCommand {
  if (chunk.length === 0) throw new ProtocolError('empty UCSPI-TLS command');
  const c = chunk[0] as number;
  if (c !== 0x79 && c !== 0x59) throw new ProtocolError(`unknown UCSPI-TLS command 0x${c.toString(16).padStart(2, '0')}`);
  if (chunk.length > 1 && !isLineEnd(chunk.subarray(1))) throw new ProtocolError(`${chunk.length - 1} unexpected byte(s) after UCSPI-TLS command`);
  return c === 0x79 ? 'y' : 'Y';
}

/**
 * True for `\n` or `\r\n`: the line end a shell's `echo` (or a CRLF-minded program) puts after
 * the command, in the same write or just after it.
 * @param bytes the bytes after the command
 */
export function isLineEnd(bytes: Buffer): boolean {
  return (bytes.length === 1 && bytes[0] === 0x0a) || (bytes.length === 2 && bytes[0] === 0x0d && bytes[1] === 0x0a);
}

/**
 * Encodes the `Y` answer: each variable as `NAME=value\0`, then one more `\0`, so the block ends
 * with two NULs (sslserver.c: ssl_server_env, then stralloc_0 once more).
 * @param entries name/value pairs in the order the program should see them
 * @param maxBytes bound on the encoded size
 * @returns the block
 * @throws ProtocolError when a name is empty or holds `=` or NUL, a value holds NUL (a client
 *   certificate can carry one in a DN), or the block would exceed `maxBytes`
 */
export function encodeEnvBlock(entries: Iterable<readonly [string, string]>, maxBytes = MAX_ENV_BLOCK_BYTES): Buffer {
  const parts: Buffer[] = [];
  let size = 1;
  for (const [name, value] of entries) {
    if (name === '' || name.includes('=') || name.includes('\0')) throw new ProtocolError(`bad variable name in TLS environment: ${JSON.stringify(name)}`);
    if (value.includes('\0')) throw new ProtocolError(`NUL byte in TLS variable ${name}`);
    const part = Buffer.from(`${name}=${value}\0`, 'utf8');
    size += part.length;
    if (size > maxBytes) throw new ProtocolError(`TLS environment longer than ${maxBytes} bytes`);
    parts.push(part);
  }
  parts.push(Buffer.from([NUL]));
  return Buffer.concat(parts, size);
}

/** A decoded `Y` block: the variables and how many bytes of the input it took. */
export interface DecodedEnvBlock {
  entries: Array<[string, string]>;
  /** Bytes consumed, the final empty entry included; bytes after it are not part of the block. */
  length: number;
}

/**
 * Decodes a `Y` block (what a program, or a test, reads from SSLCTLFD).
 * @param buf the bytes read so far
 * @param maxBytes bound on the block: more without the terminator is an error
 * @returns the block, or undefined when `buf` ends before the empty terminating entry
 * @throws ProtocolError for an entry without `=` or with an empty name, or an oversized block
 */
export function decodeEnvBlock(buf: Buffer, maxBytes = MAX_ENV_BLOCK_BYTES): DecodedEnvBlock | undefined {
  const entries: Array<[string, string]> = [];
  const end = Math.min(buf.length, maxBytes);
  let pos = 0;
  while (pos < end) {
    const nul = buf.indexOf(NUL, pos);
    if (nul < 0 || nul >= end) break;
    if (nul === pos) return { entries, length: pos + 1 };
    const entry = buf.toString('utf8', pos, nul);
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new ProtocolError(`bad entry in TLS environment at byte ${pos}`);
    entries.push([entry.slice(0, eq), entry.slice(eq + 1)]);
    pos = nul + 1;
  }
  if (buf.length >= maxBytes) throw new ProtocolError(`TLS environment longer than ${maxBytes} bytes`);
  return undefined;
}
