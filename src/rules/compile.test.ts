// Tests for compileRules/RulesCompiler: round trips through the cdb, atomic replace, cleanup on error.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { RulesSyntaxError, SysError } from '../errors';
import { CdbReader } from './cdb-read';
import { RulesCompiler, compileRules } from './compile';

const dir = mkdtempSync(join(tmpdir(), 'compile-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('compileRules() writes every key with its data and renames into place', () => {
  const cdb = join(dir, 'a.cdb');
  const tmp = join(dir, 'a.tmp');
  const result = compileRules('# c\n1.2.3.4:deny\n\n1.2.3.5-6:allow,X="y"\n10.0.0.0/8:allow\n:deny', cdb, tmp);
  assert.deepEqual(result, { rules: 4, keys: 5 });
  assert.equal(existsSync(tmp), false);
  const reader = CdbReader.open(cdb);
  try {
    assert.equal(reader.find('1.2.3.4')?.toString('latin1'), 'D\0');
    assert.equal(reader.find('1.2.3.6')?.toString('latin1'), '+X=y\0');
    assert.equal(reader.find('_0000e0g0')?.length, 0);
    assert.equal(reader.find('')?.toString('latin1'), 'D\0');
    assert.equal(reader.find('1.2.3.7'), undefined);
  } finally {
    reader.close();
  }
});

test('compileRules() keeps the input bytes of keys and values exactly', () => {
  const cdb = join(dir, 'b.cdb');
  const input = Buffer.from('=bücher.example:allow,N="é\xff"\n', 'latin1');
  compileRules(input, cdb, join(dir, 'b.tmp'));
  const reader = CdbReader.open(cdb);
  try {
    assert.deepEqual(reader.find(Buffer.from('=bücher.example', 'latin1')), Buffer.from('+N=é\xff\0', 'latin1'));
  } finally {
    reader.close();
  }
});

test('compileRules() leaves the old cdb untouched and removes the temp file on a bad line', () => {
  const cdb = join(dir, 'c.cdb');
  const tmp = join(dir, 'c.tmp');
  compileRules(':allow\n', cdb, tmp);
  const before = readFileSync(cdb);
  assert.throws(
    () => compileRules('1.2.3.4:allow\n\ngarbage\n', cdb, tmp),
    (err: unknown) => err instanceof RulesSyntaxError && err.lineNumber === 3 && err.line === 'garbage',
  );
  assert.deepEqual(readFileSync(cdb), before);
  assert.equal(existsSync(tmp), false);
});

test('compileRules() throws SysError for an uncreatable temp file and a failed rename', () => {
  assert.throws(
    () => compileRules(':allow\n', join(dir, 'd.cdb'), join(dir, 'missing', 'd.tmp')),
    (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'open',
  );
  writeFileSync(join(dir, 'plain'), 'x');
  assert.throws(
    () => compileRules(':allow\n', join(dir, 'plain', 'sub.cdb'), join(dir, 'e.tmp')),
    (err: unknown) => err instanceof SysError && err.syscall === 'rename',
  );
  assert.equal(existsSync(join(dir, 'e.tmp')), false);
});

test('RulesCompiler joins lines split across chunks', () => {
  const cdb = join(dir, 'f.cdb');
  const compiler = RulesCompiler.create(cdb, join(dir, 'f.tmp'));
  const text = Buffer.from('1.2.3.4:allow,A="1"\n5.6.7.8:deny\n');
  for (let i = 0; i < text.length; i += 3) compiler.write(text.subarray(i, i + 3));
  assert.deepEqual(compiler.end(), { rules: 2, keys: 2 });
  const reader = CdbReader.open(cdb);
  try {
    assert.equal(reader.find('1.2.3.4')?.toString(), '+A=1\0');
    assert.equal(reader.find('5.6.7.8')?.toString(), 'D\0');
  } finally {
    reader.close();
  }
});
