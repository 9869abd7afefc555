// Checks our cdb writer and reader against tinycdb (/usr/bin/cdb), byte for byte where possible.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdbReader } from '../../src/rules/cdb-read';
import { CdbWriter } from '../../src/rules/cdb-write';

const CDB = '/usr/bin/cdb';
/** tinycdb exits 100 when `cdb -q` does not find the key. */
const CDB_NOT_FOUND_EXIT = 100;
const TINYCDB_TIMEOUT_MS = 30_000;

const dir = mkdtempSync(join(tmpdir(), 'cdb-oracle-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Record = [Buffer, Buffer];
const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** Runs tinycdb; fails the test on a signal, a timeout, or an exit code other than `expectCode`. */
function runCdb(args: string[], input?: Buffer, expectCode = 0): Buffer {
  const r = spawnSync(CDB, args, { input, timeout: TINYCDB_TIMEOUT_MS, maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  assert.equal(r.status, expectCode, `cdb ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout;
}

function writeOurs(path: string, records: Record[]): void {
  const w = CdbWriter.create(path);
  for (const [k, d] of records) w.add(k, d);
  w.finish();
}

/** cdbmake input format (what `cdb -d` prints and `cdb -c` reads): +klen,dlen:key->data, blank end. */
function cdbmakeText(records: Record[]): Buffer {
  const parts: Buffer[] = [];
  for (const [k, d] of records) {
    parts.push(b(`+${k.length},${d.length}:`), k, b('->'), d, b('\n'));
  }
  parts.push(b('\n'));
  return Buffer.concat(parts);
}

/** A key of each kind tcprules writes: IPv4, =host, CIDR (`_` + bits as letters), IPv6. */
function ruleKey(i: number): string {
  const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
  switch (i % 4) {
    case 0:
      return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    case 1:
      return `=host${i}.example.net`;
    case 2:
      return `_0bcdefgh${i.toString(2)}`;
    default:
      return `2001:0DB8:0000:0000:0000:0000:${hex4(i >> 16)}:${hex4(i & 0xffff)}`;
  }
}

/** Records shaped like tcprules output: D and +VAR=value data. */
function rulesRecords(count: number): Record[] {
  const records: Record[] = [];
  for (let i = 0; i < count; i++) {
    records.push([b(ruleKey(i)), i % 5 === 0 ? b('D\0') : b(`+RELAYCLIENT=\0+N=${i}\0`)]);
  }
  return records;
}

const mixedRecords: Record[] = [
  [b('127.0.0.1'), b('+RELAYCLIENT=\0')],
  [b('127.'), b('')],
  [b('=localhost'), b('+A=x\0+B=y z\0')],
  [b('127.0.0.1'), b('D\0')],
  [b(''), b('D\0')],
  [b('_0bcdefgh'), b('+X=1\0')],
  [Buffer.from([0, 1, 2, 0xff, 0x0a]), Buffer.from([0x0a, 0, 0x2d, 0x3e])],
  [b('k->v'), b('data with\nnewline')],
];

test('tinycdb dumps a cdb we wrote (cdb -d) as exactly our records, in order', () => {
  const path = join(dir, 'ours-dump.cdb');
  writeOurs(path, mixedRecords);
  assert.deepEqual(runCdb(['-d', path]), cdbmakeText(mixedRecords));
  const big = rulesRecords(20_000);
  writeOurs(path, big);
  assert.deepEqual(runCdb(['-d', path]), cdbmakeText(big));
});

test('tinycdb finds keys in a cdb we wrote (cdb -q), first duplicate first, misses exit 100', () => {
  const path = join(dir, 'ours-query.cdb');
  const records = [...mixedRecords, ...rulesRecords(5000)];
  writeOurs(path, records);
  assert.deepEqual(runCdb(['-q', '-n', '1', path, '127.0.0.1']), b('+RELAYCLIENT=\0'));
  assert.deepEqual(runCdb(['-q', '-n', '2', path, '127.0.0.1']), b('D\0'));
  // Without -n tinycdb prints every record for the key, concatenated, in file order.
  assert.deepEqual(runCdb(['-q', path, '127.0.0.1']), b('+RELAYCLIENT=\0D\0'));
  assert.deepEqual(runCdb(['-q', path, '=localhost']), b('+A=x\0+B=y z\0'));
  for (const [k, d] of records.slice(mixedRecords.length).filter((_, i) => i % 97 === 0)) {
    assert.deepEqual(runCdb(['-q', '-n', '1', path, k.toString('latin1')]), d, k.toString('latin1'));
  }
  runCdb(['-q', path, '127.0.0.2'], undefined, CDB_NOT_FOUND_EXIT);
  runCdb(['-q', path, '127.0.0.'], undefined, CDB_NOT_FOUND_EXIT);
});

test('CdbReader reads a cdb tinycdb made from cdbmake input (cdb -c)', () => {
  const path = join(dir, 'tiny-c.cdb');
  const records = [...mixedRecords, ...rulesRecords(20_000)];
  runCdb(['-c', path], cdbmakeText(records));
  const db = CdbReader.open(path);
  try {
    assert.deepEqual(db.find('127.0.0.1'), b('+RELAYCLIENT=\0'));
    assert.deepEqual(db.findAll('127.0.0.1'), [b('+RELAYCLIENT=\0'), b('D\0')]);
    assert.deepEqual(db.find(''), b('D\0'));
    assert.deepEqual(db.find(Buffer.from([0, 1, 2, 0xff, 0x0a])), Buffer.from([0x0a, 0, 0x2d, 0x3e]));
    assert.deepEqual(db.find('k->v'), b('data with\nnewline'));
    for (const [k, d] of records.slice(mixedRecords.length)) assert.deepEqual(db.find(k), d);
    assert.equal(db.find('10.255.255.255'), undefined);
  } finally {
    db.close();
  }
});

test('CdbReader reads a cdb tinycdb made from "key value" lines (cdb -c -m)', () => {
  const path = join(dir, 'tiny-m.cdb');
  const lines = '127.0.0.1 +RELAYCLIENT=\n=mx.example.net allow\n10.0.0. deny\n127.0.0.1 second\n';
  runCdb(['-c', '-m', path], b(lines));
  const db = CdbReader.open(path);
  try {
    assert.deepEqual(db.findAll('127.0.0.1'), [b('+RELAYCLIENT='), b('second')]);
    assert.deepEqual(db.find('=mx.example.net'), b('allow'));
    assert.deepEqual(db.find('10.0.0.'), b('deny'));
    assert.equal(db.find('10.0.0'), undefined);
  } finally {
    db.close();
  }
});

test('our cdb is byte-identical to tinycdb\'s for the same records in the same order', () => {
  const cases: Array<[string, Record[]]> = [
    ['empty', []],
    ['one record', [[b('127.0.0.1'), b('D\0')]]],
    ['mixed with duplicates and binary', mixedRecords],
    ['50,000 tcprules-like records', rulesRecords(50_000)],
    ['many duplicates of one key', Array.from({ length: 300 }, (_, i): Record => [b('dup'), b(`${i}`)])],
  ];
  for (const [name, records] of cases) {
    const ours = join(dir, 'same-ours.cdb');
    const theirs = join(dir, 'same-theirs.cdb');
    writeOurs(ours, records);
    runCdb(['-c', theirs], cdbmakeText(records));
    const a = readFileSync(ours);
    const t = readFileSync(theirs);
    assert.equal(a.length, t.length, `${name}: sizes`);
    assert.ok(a.equals(t), `${name}: bytes differ`);
  }
});
