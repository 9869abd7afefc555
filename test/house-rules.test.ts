// House rules a grep can check (STYLE.md §2.4, §2.8): one addon loader, log lines only from src/log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '../..');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

test('only src/sys/native.ts loads the native addon', () => {
  const loaders = /\.node['"]|\bbindings\(|process\.dlopen|build\/(Release|Debug)/;
  const offenders = sources(join(ROOT, 'src'))
    .filter((f) => loaders.test(readFileSync(f, 'utf8')))
    .map((f) => relative(ROOT, f));
  assert.deepEqual(offenders, ['src/sys/native.ts']);
});

test('no console.* outside src/log: every line comes from a named function in log.ts', () => {
  const offenders = sources(join(ROOT, 'src'))
    .filter((f) => !f.includes(`${join('src', 'log')}`))
    .filter((f) => /console\.(log|error|warn|info)\(/.test(readFileSync(f, 'utf8')))
    .map((f) => relative(ROOT, f));
  assert.deepEqual(offenders, []);
});
