// Unit tests for CdbWriter: the exact file layout of cdb.txt, errors, and the 4 GiB limit.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdbFormatError, SysError } from '../errors';
import { cdbHash } from './cdb-hash';
import { CdbWriter } from './cdb-write';

const dir = mkdtempSync(join(tmpdir(), 'cdb-write-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileNumber = 0;
function writeCdb(records: Array<[string | Uint8Array, string | Uint8Array]>): Buffer {
  const path = join(dir, `w${fileNumber++}.cdb`);
  const w = CdbWriter.create(path);
  for (const [k, d] of records) w.add(Buffer.from(k), Buffer.from(d));
  w.finish();
  return readFileSync(path);
}

test('CdbWriter writes an empty db as a 2048-byte header of (2048, 0) pairs', () => {
  const file = writeCdb([]);
  assert.equal(file.length, 2048);
  for (let t = 0; t < 256; t++) {
    assert.equal(file.readUInt32LE(8 * t), 2048);
    assert.equal(file.readUInt32LE(8 * t + 4), 0);
  }
});

test('CdbWriter lays out one record, its two-slot table and the header as cdb.txt says', () => {
  const key = Buffer.from('127.0.0.1');
  const data = Buffer.from('D\0');
  const file = writeCdb([[key, data]]);
  const h = cdbHash(key);
  // Record: klen, dlen, key, data right after the header.
  assert.equal(file.readUInt32LE(2048), key.length);
  assert.equal(file.readUInt32LE(2052), data.length);
  assert.deepEqual(file.subarray(2056, 2056 + key.length), key);
  assert.deepEqual(file.subarray(2056 + key.length, 2056 + key.length + data.length), data);
  const tablesPos = 2056 + key.length + data.length;
  assert.equal(file.length, tablesPos + 16, 'one table of two 8-byte slots');
  for (let t = 0; t < 256; t++) {
    // Empty tables point at where they would start: after every table before them.
    assert.equal(file.readUInt32LE(8 * t), tablesPos + (t > (h & 0xff) ? 16 : 0), `pos of ${t}`);
    assert.equal(file.readUInt32LE(8 * t + 4), t === (h & 0xff) ? 2 : 0, `len of table ${t}`);
  }
  const slot = (h >>> 8) % 2;
  assert.equal(file.readUInt32LE(tablesPos + 8 * slot), h);
  assert.equal(file.readUInt32LE(tablesPos + 8 * slot + 4), 2048);
  assert.equal(file.readUInt32LE(tablesPos + 8 * (1 - slot) + 4), 0, 'the other slot is empty');
});

test('CdbWriter gives every table twice as many slots as records, and places each reachably', () => {
  const records: Array<[string, string]> = [];
  for (let i = 0; i < 3000; i++) records.push([`10.${i >> 8}.${i & 255}.1`, `+N=${i}\0`]);
  records.push(['10.0.0.1', 'duplicate']);
  const file = writeCdb(records);
  const perTable = new Array<number>(256).fill(0);
  for (const [k] of records) perTable[cdbHash(Buffer.from(k)) & 0xff]++;
  let slotsTotal = 0;
  for (let t = 0; t < 256; t++) {
    const len = file.readUInt32LE(8 * t + 4);
    assert.equal(len, 2 * (perTable[t] as number));
    slotsTotal += len;
  }
  // Tables follow each other and end the file.
  const lastPos = file.readUInt32LE(8 * 255);
  assert.equal(lastPos + 8 * file.readUInt32LE(8 * 255 + 4), file.length);
  assert.equal(file.readUInt32LE(0) + 8 * slotsTotal, file.length);
});

test('CdbWriter handles keys and data larger than its 64 KiB write buffer', () => {
  const big = Buffer.alloc(200_000, 0xab);
  const file = writeCdb([['k', big], [big, 'v']]);
  assert.equal(file.readUInt32LE(2048), 1);
  assert.equal(file.readUInt32LE(2052), big.length);
  assert.deepEqual(file.subarray(2057, 2057 + big.length), big);
  assert.equal(file.length, 2048 + (8 + 1 + big.length) + (8 + big.length + 1) + 2 * 16);
});

test('CdbWriter.create() makes the file mode 0644 (less the umask) and truncates', () => {
  const path = join(dir, 'mode.cdb');
  const w = CdbWriter.create(path);
  w.add(Buffer.from('a'), Buffer.from('b'));
  w.finish();
  const umask = process.umask();
  assert.equal(statSync(path).mode & 0o777, 0o644 & ~umask);
  const w2 = CdbWriter.create(path);
  w2.finish();
  assert.equal(statSync(path).size, 2048);
});

test('CdbWriter.create() throws SysError ENOENT in a missing directory', () => {
  assert.throws(
    () => CdbWriter.create(join(dir, 'missing', 'x.cdb')),
    (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'open',
  );
});

test('CdbWriter reports a failing write as SysError (ENOSPC on /dev/full) and closes', () => {
  const w = CdbWriter.create('/dev/full');
  assert.throws(
    () => {
      for (let i = 0; i < 10_000; i++) w.add(Buffer.from(`key${i}`), Buffer.alloc(100));
      w.finish();
    },
    (err: unknown) => err instanceof SysError && err.code === 'ENOSPC' && err.syscall === 'write',
  );
  w.abort();
  w.abort();
});

test('CdbWriter.finish() on a full disk throws SysError and leaves the writer closed', () => {
  const w = CdbWriter.create('/dev/full');
  w.add(Buffer.from('a'), Buffer.from('b'));
  assert.throws(() => w.finish(), (err: unknown) => err instanceof SysError && err.code === 'ENOSPC');
  assert.throws(() => w.add(Buffer.from('a'), Buffer.from('b')), (err: unknown) =>
    err instanceof SysError && err.code === 'EBADF');
});

test('CdbWriter refuses add() and finish() after finish or abort (SysError EBADF)', () => {
  const path = join(dir, 'closed.cdb');
  const w = CdbWriter.create(path);
  w.finish();
  const isEbadf = (err: unknown) => err instanceof SysError && err.code === 'EBADF';
  assert.throws(() => w.add(Buffer.from('a'), Buffer.from('b')), isEbadf);
  assert.throws(() => w.finish(), isEbadf);
  const w2 = CdbWriter.create(join(dir, 'aborted.cdb'));
  w2.add(Buffer.from('a'), Buffer.from('b'));
  w2.abort();
  assert.throws(() => w2.finish(), isEbadf);
  assert.ok(existsSync(join(dir, 'aborted.cdb')), 'abort leaves unlinking to the caller');
});

test('CdbWriter.add() throws CdbFormatError before writing a record that passes 4 GiB', () => {
  const path = join(dir, 'huge.cdb');
  const w = CdbWriter.create(path);
  w.add(Buffer.from('a'), Buffer.from('b'));
  // A view that claims 4 GiB: add() must check lengths before touching the bytes.
  const huge = new Uint8Array(1);
  Object.defineProperty(huge, 'length', { value: 2 ** 32 - 2048 });
  assert.throws(() => w.add(Buffer.from('k'), huge), CdbFormatError);
  assert.equal(w.records, 1, 'the refused record was not counted');
  w.finish();
  assert.equal(statSync(path).size, 2048 + 10 + 16);
});

test('CdbWriter holds 1,000,000 records in typed arrays', () => {
  const path = join(dir, 'million.cdb');
  const w = CdbWriter.create(path);
  const key = Buffer.alloc(4);
  const data = Buffer.alloc(0);
  for (let i = 0; i < 1_000_000; i++) {
    key.writeUInt32LE(i);
    w.add(key, data);
  }
  assert.equal(w.records, 1_000_000);
  w.finish();
  assert.equal(statSync(path).size, 2048 + 1_000_000 * 12 + 1_000_000 * 16);
  rmSync(path);
});
