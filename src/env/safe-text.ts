// Log-field sanitising: the equivalent of djb's safecats (ucspi-tcp tcpserver.c, ucspi-ssl sslserver.c).
import { bytesFromText } from './env-bytes';

/** Bytes of a field kept before it is cut (safecats' `for (i = 0;i < 100;++i)`). */
export const SAFE_TEXT_MAX_BYTES = 100;

const QUESTION = 0x3f;
const PERCENT = 0x25;
const COLON = 0x3a;
const SPACE = 0x20;

/**
 * Makes a client-controlled string safe for one log field, as safecats does: every byte
 * below 33 or above 126 (controls, space, DEL, every byte of a non-ASCII character) and `%`
 * ("logger stupidity") becomes `?`; with `colon`, `:` too (djb's tcpserver does this; sslserver
 * does not, since its `ok` lines use `:` as the field separator around already-safe fields).
 * A field longer than 100 bytes is cut to 100 and `...` is appended.
 *
 * `space: true` keeps spaces: for free text such as OpenSSL's reason in
 * `unable to accept TLS from: IP for pid: PID REASON`, which the reference prints as is
 * (`peer did not return a certificate`); every other rule still applies.
 *
 * A string is taken as the bytes it stands for ({@link bytesFromText}: UTF-8, and a byte kept
 * from a non-UTF-8 source as that byte), the bytes the C program would have seen, so `é` gives
 * `??` and a Latin-1 `é` one `?`.
 * Pass the raw bytes (a Buffer) for text read from the network in another encoding.
 *
 * Difference from safecats: it appends `...` after exactly 100 bytes too (its loop ends
 * without looking at byte 101); here `...` means something was really cut.
 *
 * @param s the field: a string (UTF-8) or raw bytes
 * @param opts `colon: true` also replaces `:`; `space: true` keeps ` `
 * @returns printable ASCII only, at most 103 characters
 * @example
 * ```ts
 * safeText('a b%c'); // 'a?b?c'
 * ```
 */
export function safeText(s: string | Uint8Array, opts?: { colon?: boolean; space?: boolean }): string {
  const bytes = typeof s === 'string' ? bytesFromText(s) : s;
  const n = Math.min(bytes.length, SAFE_TEXT_MAX_BYTES);
  const out = Buffer.allocUnsafe(n);
  const colon = opts?.colon === true;
  const space = opts?.space === true;
  for (let i = 0; i < n; i += 1) {
    const b = bytes[i];
    const keep = (b >= 33 && b <= 126 && b !== PERCENT && !(colon && b === COLON)) || (space && b === SPACE);
    out[i] = keep ? b : QUESTION;
  }
  const text = out.toString('latin1');
  return bytes.length > SAFE_TEXT_MAX_BYTES ? `${text}...` : text;
}
