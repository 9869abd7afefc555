// The strerr_die of this project: one fatal line on stderr, then exit with a ucspi code.
import { writeSync } from 'node:fs';
import type { ExitCode } from '../errors';
import { bytesFromText } from '../env/env-bytes';

/**
 * Writes `PROG: fatal: parts...` and exits. writeSync so the line is out before exit.
 * @param prog program name used as the line prefix
 * @param code 100 (permanent) or 111 (temporary)
 * @param parts message pieces, joined without separators; a Buffer goes out byte for byte
 *   (a line of the user's input), a string as the bytes it stands for (`bytesFromText`: UTF-8,
 *   and an argument's non-UTF-8 bytes as they came)
 */
export function die(prog: string, code: ExitCode, ...parts: Array<string | Buffer>): never {
  writeErr(Buffer.concat([`${prog}: fatal: `, ...parts, '\n'].map((p) => (typeof p === 'string' ? bytesFromText(p) : p))));
  process.exit(code);
}

/** Writes one line to fd 2 synchronously; ignores EAGAIN/EPIPE (stderr gone is not fatal). */
export function writeErr(text: string | Buffer): void {
  try {
    writeSync(2, typeof text === 'string' ? bytesFromText(text) : text);
  } catch {
    // stderr closed or full: nothing sensible to do
  }
}
