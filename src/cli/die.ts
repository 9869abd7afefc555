// The strerr_die of this project: one fatal line on stderr, then exit with a ucspi code.
import { writeSync } from 'node:fs';
import type { ExitCode } from '../errors';

/**
 * Writes `PROG: fatal: parts...` and exits. writeSync so the line is out before exit.
 * @param prog program name used as the line prefix
 * @param code 100 (permanent) or 111 (temporary)
 * @param parts message pieces, joined without separators
 */
export function die(prog: string, code: ExitCode, ...parts: string[]): never {
  writeErr(`${prog}: fatal: ${parts.join('')}\n`);
  process.exit(code);
}

/** Writes one line to fd 2 synchronously; ignores EAGAIN/EPIPE (stderr gone is not fatal). */
export function writeErr(text: string): void {
  try {
    writeSync(2, text);
  } catch {
    // stderr closed or full: nothing sensible to do
  }
}
