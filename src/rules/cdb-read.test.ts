// Unit tests for CdbReader and cdbReaderFor: round trips, errors, corrupt-file fuzzing, live replacement.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  copyFileSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdbFormatError, SysError } from '../errors';
import { cdbHash } from './cdb-hash';
import { CdbReader, cdbReaderFor } from './cdb-read';
import { CdbWriter } from './cdb-write';
import { prng } from '../../test/fixtures/prng';

const dir = mkdtempSync(join(tmpdir(), 'cdb-read-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Record = [Uint8Array, Uint8Array];

let fileNumber = 0;
function writeCdb(records: Record[], path = join(dir, `r${fileNumber++}.cdb`)): string {
  const w = CdbWriter.create(path);
  for (const [k, d] of records) w.add(k, d);
  w.finish();
  return path;
}

function withReader<T>(path: string, fn: (db: CdbReader) => T): T {
  const db = CdbReader.open(path);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function randomBytes(rand: () => number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

test('CdbReader finds nothing in an empty db', () => {
  const path = writeCdb([]);
  withReader(path, (db) => {
    assert.equal(db.size, 2048);
    assert.equal(db.find('x'), undefined);
    assert.equal(db.find(''), undefined);
    assert.deepEqual(db.findAll('x'), []);
  });
});

test('CdbReader round-trips one record, by string and by bytes', () => {
  const path = writeCdb([[b('127.0.0.1'), b('+A=x\0+B=y\0')]]);
  withReader(path, (db) => {
    assert.deepEqual(db.find('127.0.0.1'), b('+A=x\0+B=y\0'));
    assert.deepEqual(db.find(b('127.0.0.1')), b('+A=x\0+B=y\0'));
    assert.equal(db.find('127.0.0.2'), undefined);
    assert.equal(db.find('127.0.0.'), undefined);
    assert.equal(db.find('127.0.0.10'), undefined);
  });
});

test('CdbReader returns the first of duplicate keys; findAll returns all in order', () => {
  const path = writeCdb([
    [b('k'), b('one')],
    [b('other'), b('x')],
    [b('k'), b('two')],
    [b(''), b('empty key')],
    [b('k'), b('')],
  ]);
  withReader(path, (db) => {
    assert.deepEqual(db.find('k'), b('one'));
    assert.deepEqual(db.findAll('k'), [b('one'), b('two'), b('')]);
    assert.deepEqual(db.find(''), b('empty key'));
    assert.deepEqual(db.findAll('other'), [b('x')]);
  });
});

test('CdbReader handles binary keys and data, including NULs and bytes >= 0x80', () => {
  const rand = prng(7);
  const records: Record[] = [];
  for (let i = 0; i < 500; i++) {
    records.push([randomBytes(rand, 1 + (i % 40)), randomBytes(rand, i % 300)]);
  }
  records.push([Buffer.from([0, 0, 0]), Buffer.from([0xff, 0, 0x80])]);
  const path = writeCdb(records);
  withReader(path, (db) => {
    // Random keys may repeat: expect the first record added with each key.
    const first = new Map<string, Uint8Array>();
    for (const [k, d] of records) {
      const hex = Buffer.from(k).toString('hex');
      if (!first.has(hex)) first.set(hex, d);
    }
    for (const [hex, d] of first) assert.deepEqual(db.find(Buffer.from(hex, 'hex')), Buffer.from(d));
  });
});

test('CdbReader reads keys and data longer than its prefetch buffer', () => {
  const longKey = Buffer.alloc(5000, 0x41);
  const longData = Buffer.alloc(300_000, 0x42);
  const path = writeCdb([
    [longKey, b('short')],
    [b('short'), longData],
    [Buffer.concat([longKey, b('!')]), longData],
  ]);
  withReader(path, (db) => {
    assert.deepEqual(db.find(longKey), b('short'));
    assert.deepEqual(db.find('short'), longData);
    assert.deepEqual(db.find(Buffer.concat([longKey, b('!')])), longData);
    assert.equal(db.find(longKey.subarray(1)), undefined);
  });
});

test('CdbReader round-trips 100,000 records and misses absent keys', () => {
  const records: Record[] = [];
  for (let i = 0; i < 100_000; i++) {
    records.push([b(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), b(`+N=${i}\0`)]);
  }
  const path = writeCdb(records);
  withReader(path, (db) => {
    for (const [k, d] of records) assert.deepEqual(db.find(k), Buffer.from(d));
    for (let i = 0; i < 1000; i++) assert.equal(db.find(`11.0.${i >> 8}.${i & 255}`), undefined);
  });
});

test('CdbReader does not look for a key longer than the file', () => {
  const path = writeCdb([[b('a'), b('b')]]);
  withReader(path, (db) => {
    assert.equal(db.find(Buffer.alloc(db.size + 1, 0x61)), undefined);
    assert.deepEqual(db.findAll(Buffer.alloc(10 * db.size)), []);
  });
});

test('CdbReader.open() throws SysError for a missing file and CdbFormatError for a short one', () => {
  assert.throws(
    () => CdbReader.open(join(dir, 'absent.cdb')),
    (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'open',
  );
  const short = join(dir, 'short.cdb');
  writeFileSync(short, Buffer.alloc(2047));
  assert.throws(() => CdbReader.open(short), CdbFormatError);
  writeFileSync(short, '');
  assert.throws(() => CdbReader.open(short), CdbFormatError);
});

test('CdbReader refuses lookups after close() with SysError EBADF', () => {
  const db = CdbReader.open(writeCdb([[b('a'), b('b')]]));
  db.close();
  db.close();
  assert.equal(db.closed, true);
  assert.throws(() => db.find('a'), (err: unknown) => err instanceof SysError && err.code === 'EBADF');
});

test('CdbReader throws CdbFormatError for pointers outside the file', () => {
  const key = b('127.0.0.1');
  const h = cdbHash(key);
  const good = readFileSync(writeCdb([[key, b('D\0')]]));
  const tablesPos = good.readUInt32LE(8 * (h & 0xff));
  const slot = tablesPos + 8 * ((h >>> 8) % 2);
  const cases: Array<[string, (f: Buffer) => void]> = [
    ['table beyond the end', (f) => f.writeUInt32LE(good.length, 8 * (h & 0xff))],
    ['table longer than the file', (f) => f.writeUInt32LE(0xffffffff, 8 * (h & 0xff) + 4)],
    ['record pointer beyond the end', (f) => f.writeUInt32LE(good.length - 4, slot + 4)],
    ['data length beyond the end', (f) => f.writeUInt32LE(0xfffffff0, 2052)],
  ];
  for (const [name, corrupt] of cases) {
    const bad = Buffer.from(good);
    corrupt(bad);
    const path = join(dir, 'corrupt.cdb');
    writeFileSync(path, bad);
    withReader(path, (db) => {
      assert.throws(() => db.find(key), CdbFormatError, name);
      assert.throws(() => db.findAll(key), CdbFormatError, name);
    });
  }
});

test('CdbReader stops after one pass over a full table whose slots all collide', () => {
  // A hand-made table of 1000 slots, all with the key's hash, none with its key, none empty:
  // only the slot-count bound ends the probe.
  const key = b('needle');
  const h = cdbHash(key);
  const slots = 1000;
  const record = Buffer.alloc(8 + 6);
  record.writeUInt32LE(6, 0);
  record.write('nEEdle', 8, 'latin1');
  const header = Buffer.alloc(2048);
  const tablePos = 2048 + record.length;
  for (let t = 0; t < 256; t++) {
    header.writeUInt32LE(tablePos, 8 * t);
    header.writeUInt32LE(t === (h & 0xff) ? slots : 0, 8 * t + 4);
  }
  const table = Buffer.alloc(8 * slots);
  for (let s = 0; s < slots; s++) {
    table.writeUInt32LE(h, 8 * s);
    table.writeUInt32LE(2048, 8 * s + 4);
  }
  const path = join(dir, 'collide.cdb');
  writeFileSync(path, Buffer.concat([header, record, table]));
  withReader(path, (db) => {
    assert.equal(db.find(key), undefined);
    assert.deepEqual(db.findAll(key), []);
  });
});

/** Runs one lookup; it must return, or throw one of the two expected error classes. */
function lookupOutcome(
  fn: () => Buffer | Buffer[] | undefined,
): Buffer | Buffer[] | undefined | Error {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CdbFormatError || err instanceof SysError) return err;
    throw err;
  }
}

/** Opens `path` and looks up every key; any answer returned must be one `valid` allows. */
function probeFile(
  path: string,
  keys: Uint8Array[],
  valid?: (key: Uint8Array, data: Buffer) => boolean,
): void {
  let db: CdbReader;
  try {
    db = CdbReader.open(path);
  } catch (err) {
    assert.ok(err instanceof CdbFormatError || err instanceof SysError, String(err));
    return;
  }
  try {
    for (const key of keys) {
      const one = lookupOutcome(() => db.find(key));
      const all = lookupOutcome(() => db.findAll(key));
      if (valid === undefined) continue;
      if (one instanceof Buffer) assert.ok(valid(key, one), `find(${Buffer.from(key).toString('latin1')})`);
      if (Array.isArray(all)) for (const d of all) assert.ok(valid(key, d));
    }
  } finally {
    db.close();
  }
}

function sampleRecords(count: number, rand: () => number): Record[] {
  const records: Record[] = [];
  for (let i = 0; i < count; i++) {
    const kind = i % 3;
    const key =
      kind === 0 ? `10.${i & 255}.${(i >> 8) & 255}.${i % 7}` : kind === 1 ? `=host${i}.example` : `_0bcd${i}`;
    records.push([b(key), randomBytes(rand, Math.floor(rand() * 40))]);
  }
  return records;
}

test('fuzz: every truncation of a small cdb either answers correctly or throws CdbFormatError', () => {
  const rand = prng(1);
  const records = sampleRecords(40, rand);
  const full = readFileSync(writeCdb(records));
  const expected = new Map(records.map(([k, d]) => [Buffer.from(k).toString('latin1'), Buffer.from(d)]));
  // Every third key (all three kinds) plus misses: ~2600 lengths x 17 keys x 2 calls.
  const probed = records.filter((_, i) => i % 3 !== 1).slice(0, 14);
  const keys = [...probed.map(([k]) => k), b('=host1.example'), b('absent'), b('10.0.0.'), b('')];
  const valid = (k: Uint8Array, d: Buffer): boolean =>
    expected.get(Buffer.from(k).toString('latin1'))?.equals(d) === true;
  const path = join(dir, 'truncated-small.cdb');
  writeFileSync(path, full);
  // The untruncated file answers everything.
  withReader(path, (db) => {
    for (const [k, d] of expected) assert.deepEqual(db.find(k), d);
  });
  // Shrink one byte at a time, down to the empty file.
  for (let length = full.length - 1; length >= 0; length--) {
    truncateSync(path, length);
    probeFile(path, keys, valid);
  }
  assert.throws(() => CdbReader.open(path), CdbFormatError);
});

test('fuzz: random truncations of a large cdb either answer correctly or throw CdbFormatError', () => {
  const rand = prng(2);
  const records = sampleRecords(30_000, rand);
  const source = writeCdb(records);
  const size = readFileSync(source).length;
  const expected = new Map(records.map(([k, d]) => [Buffer.from(k).toString('latin1'), Buffer.from(d)]));
  const valid = (k: Uint8Array, d: Buffer): boolean =>
    expected.get(Buffer.from(k).toString('latin1'))?.equals(d) === true;
  const keys: Uint8Array[] = [];
  for (let i = 0; i < 200; i++) keys.push((records[Math.floor(rand() * records.length)] as Record)[0]);
  keys.push(b('absent'), b('=nohost.example'));
  const lengths: number[] = [];
  for (let i = 0; i < 150; i++) lengths.push(Math.floor(rand() * size));
  // Cut the tail off just before and inside the tables too, where it matters most.
  lengths.push(size - 1, size - 8, size - 9);
  lengths.sort((x, y) => y - x);
  const path = join(dir, 'truncated-large.cdb');
  copyFileSync(source, path);
  for (const length of lengths) {
    truncateSync(path, length);
    probeFile(path, keys, valid);
  }
});

test('fuzz: flipped header pointers, flipped bytes and random files never escape as other errors', () => {
  const rand = prng(3);
  const records = sampleRecords(300, rand);
  const good = readFileSync(writeCdb(records));
  const keys = [...records.slice(0, 60).map(([k]) => k), b('absent'), randomBytes(rand, 9)];
  const path = join(dir, 'flipped.cdb');
  for (let round = 0; round < 300; round++) {
    const bad = Buffer.from(good);
    const mode = round % 3;
    if (mode === 0) {
      // Replace a few header words (positions and lengths) with random uint32s.
      for (let n = 0; n < 4; n++) {
        bad.writeUInt32LE(Math.floor(rand() * 2 ** 32), 4 * Math.floor(rand() * 512));
      }
    } else if (mode === 1) {
      // Small header values: tables pointing into the header or into records.
      const t = Math.floor(rand() * 256);
      bad.writeUInt32LE(Math.floor(rand() * good.length), 8 * t);
      bad.writeUInt32LE(Math.floor(rand() * 64), 8 * t + 4);
    } else {
      // Random byte flips anywhere, mostly in the records and tables.
      for (let n = 0; n < 20; n++) bad[Math.floor(rand() * bad.length)] ^= 1 << Math.floor(rand() * 8);
    }
    writeFileSync(path, bad);
    probeFile(path, keys);
  }
  for (let round = 0; round < 200; round++) {
    writeFileSync(path, randomBytes(rand, Math.floor(rand() * 6000)));
    probeFile(path, [...keys, randomBytes(rand, Math.floor(rand() * 20))]);
  }
});

test('cdbReaderFor() keeps one reader open and sees an atomically renamed replacement', () => {
  const path = join(dir, 'live.cdb');
  writeCdb([[b('127.0.0.1'), b('old')]], path);
  const first = cdbReaderFor(path);
  assert.deepEqual(first.find('127.0.0.1'), b('old'));
  assert.equal(cdbReaderFor(path), first, 'unchanged file: same reader');

  // tcprules: write a temp file, then rename(2) it over the old one.
  writeCdb([[b('127.0.0.1'), b('new')]], `${path}.tmp`);
  renameSync(`${path}.tmp`, path);
  const second = cdbReaderFor(path);
  assert.notEqual(second, first);
  assert.equal(first.closed, true, 'the replaced reader is closed');
  assert.deepEqual(second.find('127.0.0.1'), b('new'));

  // Rewritten in place with another size: also reopened.
  writeCdb([[b('127.0.0.1'), b('newer, longer')]], path);
  assert.deepEqual(cdbReaderFor(path).find('127.0.0.1'), b('newer, longer'));

  // A caller that closed the shared reader gets a fresh one.
  cdbReaderFor(path).close();
  assert.deepEqual(cdbReaderFor(path).find('127.0.0.1'), b('newer, longer'));
});

test('cdbReaderFor() throws SysError ENOENT once the file is gone, and recovers when it is back', () => {
  const path = join(dir, 'vanishing.cdb');
  writeCdb([[b('k'), b('v')]], path);
  const reader = cdbReaderFor(path);
  unlinkSync(path);
  assert.throws(() => cdbReaderFor(path), (err: unknown) => err instanceof SysError && err.code === 'ENOENT');
  assert.equal(reader.closed, true);
  writeCdb([[b('k'), b('back')]], path);
  assert.deepEqual(cdbReaderFor(path).find('k'), b('back'));
  writeFileSync(path, 'short');
  assert.throws(() => cdbReaderFor(path), CdbFormatError);
});
