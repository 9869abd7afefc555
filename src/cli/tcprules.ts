#!/usr/bin/env node
// tcprules: compiles rules text from stdin into a cdb, atomically (djb's interface, ucspi-tcp6's syntax).
import { readSync } from 'node:fs';
import { CdbFormatError, EXIT_PERMANENT, EXIT_TEMPORARY, RulesSyntaxError, SysError, UsageError, errnoText } from '../errors';
import { RulesCompiler } from '../rules/compile';
import { inheritedArgs } from '../env/env-bytes';
import { die, writeErr } from './die';

const PROG = 'tcprules';
const READ_CHUNK_BYTES = 64 * 1024;
/** Pause before retrying a read of a non-blocking stdin that had nothing yet (EAGAIN). */
const EAGAIN_PAUSE_MS = 10;

function usage(): never {
  writeErr(`${PROG}: usage: tcprules rules.cdb rules.tmp\n`);
  process.exit(EXIT_PERMANENT);
}

/** Reads fd 0 to the end, handing each chunk to `consume`. */
function readInput(consume: (chunk: Buffer) => void): void {
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES);
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buffer, 0, buffer.length, null);
    } catch (err) {
      // stdin inherited in non-blocking mode: wait a little, bounded per try, and read again
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
        Atomics.wait(pause, 0, 0, EAGAIN_PAUSE_MS);
        continue;
      }
      throw SysError.from(err, 'read');
    }
    if (n === 0) return;
    consume(buffer.subarray(0, n));
  }
}

function main(argv: readonly string[]): void {
  const cdbPath = argv[0];
  const tmpPath = argv[1];
  if (cdbPath === undefined || tmpPath === undefined) usage();

  let compiler: RulesCompiler;
  try {
    compiler = RulesCompiler.create(cdbPath, tmpPath);
  } catch (err) {
    if (err instanceof UsageError) {
      writeErr(`${PROG}: fatal: ${err.message}\n`);
      usage();
    }
    die(PROG, EXIT_TEMPORARY, 'unable to create ', tmpPath, ': ', errnoText(err));
  }
  try {
    readInput((chunk) => compiler.write(chunk));
    compiler.end();
  } catch (err) {
    compiler.abort();
    // as djb's tcprules: one fixed message per step that failed
    if (err instanceof RulesSyntaxError) {
      // the line was read byte for byte (latin1); give the user back the same bytes, as djb
      die(PROG, EXIT_PERMANENT, 'unable to parse this line: ', Buffer.from(err.line, 'latin1'));
    }
    if (err instanceof SysError) {
      if (err.syscall === 'read') die(PROG, EXIT_TEMPORARY, 'unable to read input: ', errnoText(err));
      if (err.syscall === 'rename') die(PROG, EXIT_TEMPORARY, 'unable to move ', tmpPath, ' to ', cdbPath, ': ', errnoText(err));
      die(PROG, EXIT_TEMPORARY, 'unable to write to ', tmpPath, ': ', errnoText(err));
    }
    if (err instanceof CdbFormatError) die(PROG, EXIT_TEMPORARY, 'unable to write to ', tmpPath, ': ', err.message);
    if (err instanceof RangeError) die(PROG, EXIT_TEMPORARY, 'out of memory');
    die(PROG, EXIT_TEMPORARY, 'internal error; please report: ', String(err));
  }
  process.exit(0);
}

// the names' bytes, as given (process.argv would mend non-UTF-8)
main(inheritedArgs());
