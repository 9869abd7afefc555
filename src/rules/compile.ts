// tcprules' job: rules text -> cdb, written to a temp file, fsync'ed, renamed into place.
import { renameSync, statSync, unlinkSync, type Stats } from 'node:fs';
import { exactArg } from '../env/env-bytes';
import { resolve } from 'node:path';
import { SysError, UsageError } from '../errors';
import { CdbWriter } from './cdb-write';
import { formatRuleData } from './rule-data';
import { parseRuleLine } from './rule-line';

/** What a compile wrote. */
export interface CompileResult {
  /** Rule lines (comments and blank lines not counted). */
  rules: number;
  /** cdb records: one per rule, more for ranges. */
  keys: number;
}

const NEWLINE = 0x0a;

/** Whether two paths name one file: the same absolute path, or one existing inode. */
function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  const sa = statOrUndefined(a);
  const sb = statOrUndefined(b);
  return sa !== undefined && sb !== undefined && sa.dev === sb.dev && sa.ino === sb.ino;
}

// missing or unreachable (ENOENT, ENOTDIR, EACCES): not the same file; creating it says why
function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(exactArg(path));
  } catch {
    return undefined;
  }
}

/**
 * A compile in progress, fed in chunks so a million-line rules file never sits in memory whole
 * (memory holds one partial line plus the writer's 8 bytes per record).
 * The temp file is created at once (as djb's tcprules, before any input is read); on any error
 * it is removed and the cdb is left untouched.
 * @example
 * const c = RulesCompiler.create('rules.cdb', 'rules.tmp');
 * try { c.write(chunk); c.end(); } catch (err) { c.abort(); throw err; }
 */
export class RulesCompiler {
  private carry: Buffer = Buffer.alloc(0);
  private lineNumber = 0;
  private rules = 0;
  private done = false;

  private constructor(
    private readonly writer: CdbWriter,
    private readonly cdbPath: string,
    private readonly tmpPath: string,
  ) {}

  /**
   * Creates the temp file.
   * @param cdbPath the cdb to replace at the end
   * @param tmpPath the temp file, on the same file system as cdbPath (rename must be atomic)
   * @returns a compiler waiting for input
   * @throws {SysError} when tmpPath cannot be created (syscall `open`)
   * @throws {UsageError} when tmpPath is cdbPath (the same name, or a link to it): creating
   *   the temp file would empty the cdb a server is reading, and a failure would remove it
   */
  static create(cdbPath: string, tmpPath: string): RulesCompiler {
    if (sameFile(cdbPath, tmpPath)) throw new UsageError(`rules.tmp is rules.cdb: ${tmpPath}`);
    return new RulesCompiler(CdbWriter.create(tmpPath), cdbPath, tmpPath);
  }

  /**
   * Feeds the next bytes of rules text.
   * @param chunk any slice of the input; lines may span chunks
   * @throws {RulesSyntaxError} for a bad line (call `abort()`)
   * @throws {SysError} when writing the temp file fails (call `abort()`)
   */
  write(chunk: Uint8Array): void {
    let bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.carry.length > 0) bytes = Buffer.concat([this.carry, bytes]);
    let start = 0;
    for (let nl = bytes.indexOf(NEWLINE, start); nl >= 0; nl = bytes.indexOf(NEWLINE, start)) {
      this.addLine(bytes.toString('latin1', start, nl));
      start = nl + 1;
    }
    // copy: the caller may reuse its chunk buffer
    this.carry = Buffer.from(bytes.subarray(start));
  }

  /**
   * Ends the input: the last line needs no newline. Finishes the cdb, fsyncs, closes and renames
   * the temp file over cdbPath.
   * @returns counts of rules and keys written
   * @throws {RulesSyntaxError} for a bad last line (call `abort()`)
   * @throws {SysError} on write/fsync/close (syscall as named) or `rename` failure (call `abort()`)
   */
  end(): CompileResult {
    if (this.carry.length > 0) this.addLine(this.carry.toString('latin1'));
    this.carry = Buffer.alloc(0);
    this.writer.finish();
    try {
      renameSync(exactArg(this.tmpPath), exactArg(this.cdbPath));
    } catch (err) {
      throw SysError.from(err, 'rename', this.cdbPath);
    }
    this.done = true;
    return { rules: this.rules, keys: this.writer.records };
  }

  /** Gives up: closes and removes the temp file. The cdb is untouched. Idempotent. */
  abort(): void {
    if (this.done) return;
    this.done = true;
    this.writer.abort();
    try {
      unlinkSync(exactArg(this.tmpPath));
    } catch {
      // already gone, or never ours to remove: nothing else to undo
    }
  }

  private addLine(line: string): void {
    this.lineNumber++;
    const parsed = parseRuleLine(line, this.lineNumber);
    if (parsed === undefined) return;
    this.rules++;
    const data = formatRuleData(parsed.rule);
    // latin1: the line was read byte for byte, so keys keep the input's exact bytes
    for (const key of parsed.keys) this.writer.add(Buffer.from(key, 'latin1'), data);
  }
}

/**
 * tcprules: parses the whole rules text and replaces cdbPath atomically through tmpPath
 * (CdbWriter on tmp, fsync, close, rename).
 * @param input the rules text; a string is encoded as UTF-8, a Buffer is read byte for byte
 * @param cdbPath the cdb to create or replace
 * @param tmpPath the temp file, on the same file system as cdbPath
 * @returns counts of rules and keys written
 * @throws {RulesSyntaxError} for a bad line; nothing renamed, temp file removed
 * @throws {SysError} on I/O failure (syscall `open`, `write`, `fsync`, `close` or `rename`); temp file removed
 * @example compileRules('127.0.0.1:allow\n:deny\n', 'rules.cdb', 'rules.tmp') // { rules: 2, keys: 2 }
 */
export function compileRules(input: string | Buffer, cdbPath: string, tmpPath: string): CompileResult {
  const compiler = RulesCompiler.create(cdbPath, tmpPath);
  try {
    compiler.write(typeof input === 'string' ? Buffer.from(input, 'utf8') : input);
    return compiler.end();
  } catch (err) {
    compiler.abort();
    throw err;
  }
}
