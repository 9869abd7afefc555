// Unit tests for the table-driven djb-style getopt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getopt, type FlagSpec } from './getopt';
import { UsageError } from '../errors';

interface T {
  log: string[];
}

// A small table: toggles a/b, valued l (long "local"), long-only "frob" with a value, short-only z.
const TABLE: FlagSpec<T>[] = [
  { short: 'a', long: 'alpha', arg: false, apply: (t) => { t.log.push('a'); } },
  { short: 'b', long: 'beta', arg: false, apply: (t) => { t.log.push('b'); } },
  { short: 'l', long: 'local', arg: true, apply: (t, v) => { t.log.push(`l=${String(v)}`); } },
  { short: '', long: 'frob', arg: true, apply: (t, v) => { t.log.push(`frob=${String(v)}`); } },
  { short: 'z', long: '', arg: false, apply: (t) => { t.log.push('z'); } },
];

function run(argv: string[]): { log: string[]; rest: string[] } {
  const t: T = { log: [] };
  const { rest } = getopt(argv, TABLE, t);
  return { log: t.log, rest };
}

const CASES: Array<[name: string, argv: string[], log: string[], rest: string[]]> = [
  ['no options', ['x', 'y'], [], ['x', 'y']],
  ['empty argv', [], [], []],
  ['separate flags', ['-a', '-b', 'x'], ['a', 'b'], ['x']],
  ['bundle', ['-ab', 'x'], ['a', 'b'], ['x']],
  ['order kept (last wins for the caller)', ['-b', '-a', '-b'], ['b', 'a', 'b'], []],
  ['value in next word', ['-l', 'name', 'x'], ['l=name'], ['x']],
  ['value attached', ['-lname', 'x'], ['l=name'], ['x']],
  ['bundle then value in next word', ['-abl', 'name', 'x'], ['a', 'b', 'l=name'], ['x']],
  ['bundle with attached value', ['-ablname', 'x'], ['a', 'b', 'l=name'], ['x']],
  ['value ends the bundle', ['-lab', 'x'], ['l=ab'], ['x']],
  ['value may look like an option', ['-l', '-a', 'x'], ['l=-a'], ['x']],
  ['value may be --', ['-l', '--', 'x'], ['l=--'], ['x']],
  ['empty value in next word', ['-l', '', 'x'], ['l='], ['x']],
  ['-- ends options and is dropped', ['-a', '--', '-b', 'x'], ['a'], ['-b', 'x']],
  ['stops at first non-option', ['-a', 'x', '-b'], ['a'], ['x', '-b']],
  ['lone - is a non-option', ['-a', '-', '-b'], ['a'], ['-', '-b']],
  ['program args untouched', ['-a', '0', '443', 'prog', '-x', '--', '-l'], ['a'], ['0', '443', 'prog', '-x', '--', '-l']],
  ['long flag', ['--alpha', 'x'], ['a'], ['x']],
  ['long value with =', ['--local=name', 'x'], ['l=name'], ['x']],
  ['long value with = may be empty', ['--local=', 'x'], ['l='], ['x']],
  ['long value with = keeps later =', ['--local=a=b'], ['l=a=b'], []],
  ['long value in next word', ['--local', 'name', 'x'], ['l=name'], ['x']],
  ['long-only flag', ['--frob', '3'], ['frob=3'], []],
  ['short-only flag', ['-z'], ['z'], []],
  ['long and short mixed', ['-a', '--beta', '-lx', '--alpha'], ['a', 'b', 'l=x', 'a'], []],
];

for (const [name, argv, log, rest] of CASES) {
  test(`getopt(): ${name}`, () => {
    assert.deepEqual(run(argv), { log, rest });
  });
}

const BAD: Array<[name: string, argv: string[], option: string, message: string]> = [
  ['unknown short', ['-k'], 'k', 'illegal option -- k'],
  ['unknown inside a bundle', ['-akb'], 'k', 'illegal option -- k'],
  ['missing value at the end', ['-a', '-l'], 'l', 'option requires an argument -- l'],
  ['missing value at the end of a bundle', ['-al'], 'l', 'option requires an argument -- l'],
  ['unknown long', ['--gamma'], 'gamma', 'illegal option -- gamma'],
  ['unknown long with value', ['--gamma=1'], 'gamma', 'illegal option -- gamma'],
  ['long without value at the end', ['--local'], 'local', 'option requires an argument -- local'],
  ['value for a long flag that takes none', ['--alpha=1'], 'alpha', 'option does not take an argument -- alpha'],
  ['short-only letter has no long name', ['--z'], 'z', 'illegal option -- z'],
  ['long-only name has no letter', ['-f'], 'f', 'illegal option -- f'],
];

for (const [name, argv, option, message] of BAD) {
  test(`getopt() throws UsageError: ${name}`, () => {
    assert.throws(() => run(argv), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.illegalOption, option);
      assert.equal(err.message, message);
      return true;
    });
  });
}

test('getopt() lets a UsageError from apply() through', () => {
  const table: FlagSpec<T>[] = [{ short: 'c', long: '', arg: true, apply: () => { throw new UsageError('bad value for -c: x'); } }];
  assert.throws(() => getopt(['-cx'], table, { log: [] }), { message: 'bad value for -c: x' });
});

test('getopt() applies flags before the error in order, then stops', () => {
  const t: T = { log: [] };
  assert.throws(() => getopt(['-a', '-k', '-b'], TABLE, t), UsageError);
  assert.deepEqual(t.log, ['a']);
});
