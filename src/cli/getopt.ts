// djb-style option parsing driven by a flag table (sgetopt/subgetopt semantics plus s6-style long names).
import { UsageError } from '../errors';

/**
 * One entry of a flag table: a short letter and/or a long name, and what it does to the target.
 * @typeParam O the object the flags fill in (an options record)
 */
export interface FlagSpec<O> {
  /** One character (`'c'`), or `''` for a flag with a long name only. */
  short: string;
  /** Long name without the dashes (`'limit'`), or `''` for a flag with a short letter only. */
  long: string;
  /** True when the flag takes a value (`-c 40`, `-c40`, `--limit=40`, `--limit 40`). */
  arg: boolean;
  /**
   * Applies the flag to the target. May throw UsageError for a bad value.
   * @param o the target object
   * @param value the flag's value when `arg` is true, else undefined
   */
  apply(o: O, value: string | undefined): void;
}

/**
 * Parses leading options out of argv, as djb's subgetopt does, calling each flag's `apply` in
 * command-line order (so the last of `-h -H` wins).
 *
 * - Short flags bundle (`-vH`); a flag with a value takes the rest of its word (`-c40`,
 *   `-vHlname`) or, if that is empty, the next word whatever it looks like (`-l -v` sets
 *   the local name to `-v`), as subgetopt does.
 * - Long names: `--limit=40`, `--limit 40`, `--verbose`. Exact names only, no abbreviations.
 * - `--` ends the options and is dropped. Parsing stops at the first word that is not an
 *   option (`-` alone counts as a non-option), so the program's own arguments are untouched.
 *
 * Difference from subgetopt: djb's parser takes any word starting with `--` as the end of the
 * options (`--frob` is silently eaten); here `--name` is a long option and an unknown one is
 * a usage error. A plain `--` behaves the same in both.
 *
 * @param argv the arguments after the program name
 * @param table the flags this program accepts
 * @param target the object the flags' `apply` functions fill in
 * @returns `rest`: the words after the options (operands, then the program and its arguments)
 * @throws UsageError with `illegalOption` set (letter or long name) for an unknown option, a
 *   missing value or a value given to a long flag that takes none; `message` is then the text
 *   sgetopt prints after `PROG: `, e.g. `illegal option -- k`. UsageError thrown by an `apply`
 *   (bad values) passes through.
 * @example
 * ```ts
 * const o = { verbose: false };
 * getopt(['-v', 'x'], [{ short: 'v', long: 'verbose', arg: false, apply: (t) => { t.verbose = true; } }], o);
 * // => { rest: ['x'] }, o.verbose === true
 * ```
 */
export function getopt<O>(argv: readonly string[], table: readonly FlagSpec<O>[], target: O): { rest: string[] } {
  const byShort = new Map<string, FlagSpec<O>>();
  const byLong = new Map<string, FlagSpec<O>>();
  for (const spec of table) {
    if (spec.short !== '') byShort.set(spec.short, spec);
    if (spec.long !== '') byLong.set(spec.long, spec);
  }

  let i = 0;
  while (i < argv.length) {
    const word = argv[i];
    if (word === '--') return { rest: argv.slice(i + 1) };
    // subgetopt: a word not starting with '-', or '-' alone, ends the options and is kept.
    if (word.length < 2 || word[0] !== '-') break;
    i += 1;

    if (word.startsWith('--')) {
      const eq = word.indexOf('=');
      const name = eq === -1 ? word.slice(2) : word.slice(2, eq);
      const spec = byLong.get(name);
      if (spec === undefined) throw illegal(name);
      if (!spec.arg) {
        if (eq !== -1) throw new UsageError(`option does not take an argument -- ${name}`, name);
        spec.apply(target, undefined);
      } else if (eq !== -1) {
        spec.apply(target, word.slice(eq + 1));
      } else {
        if (i >= argv.length) throw missing(name);
        spec.apply(target, argv[i]);
        i += 1;
      }
      continue;
    }

    // A bundle of short flags; one that takes a value consumes the rest of the word or the next word.
    for (let pos = 1; pos < word.length; pos += 1) {
      const letter = word[pos];
      const spec = byShort.get(letter);
      if (spec === undefined) throw illegal(letter);
      if (!spec.arg) {
        spec.apply(target, undefined);
        continue;
      }
      const attached = word.slice(pos + 1);
      if (attached !== '') {
        spec.apply(target, attached);
      } else {
        if (i >= argv.length) throw missing(letter);
        spec.apply(target, argv[i]);
        i += 1;
      }
      break;
    }
  }
  return { rest: argv.slice(i) };
}

// sgetopt's two wordings, so the CLI can print `PROG: ` + message byte for byte.
function illegal(name: string): UsageError {
  return new UsageError(`illegal option -- ${name}`, name);
}

function missing(name: string): UsageError {
  return new UsageError(`option requires an argument -- ${name}`, name);
}
