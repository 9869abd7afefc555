// Tests for the bounded DER reader: well-formed input, and every kind of malformed input throws DerFormatError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DerFormatError, decodeInteger, decodeOid, derChildren, expectTag, readDer } from './der';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('reads short and long form lengths', () => {
  const short = readDer(hex('04 03 616263'));
  assert.equal(short.tag, 0x04);
  assert.equal(short.contents.toString(), 'abc');
  assert.equal(short.end, 5);
  const body = Buffer.alloc(200, 0x41);
  const long = readDer(Buffer.concat([hex('04 81 c8'), body]));
  assert.equal(long.contents.length, 200);
  const longer = readDer(Buffer.concat([hex('04 82 0100'), Buffer.alloc(256)]));
  assert.equal(longer.contents.length, 256);
});

test('children of a SEQUENCE carry absolute offsets', () => {
  const seq = readDer(hex('30 08 0201 05 0403 010203'));
  const kids = derChildren(seq);
  assert.deepEqual(kids.map((k) => [k.tag, k.start, k.end]), [[0x02, 2, 5], [0x04, 5, 10]]);
  assert.equal(decodeInteger(kids[0]!.contents), 5n);
});

const malformed: Array<[string, string, RegExp]> = [
  ['empty input', '', /truncated/],
  ['a lone tag', '30', /truncated/],
  ['contents shorter than the length', '04 05 6162', /runs past/],
  ['long length truncated', '04 82 01', /length truncated/],
  ['indefinite length', '30 80 0000', /indefinite/],
  ['a five-byte length', '04 85 0000000001 00', /too long/],
  ['a non-minimal long length', '04 81 05 0102030405', /not minimal/],
  ['a leading zero length octet', '04 82 0080' + '00'.repeat(128), /not minimal/],
  ['a high tag number', '1f 81 00 00', /high tag/],
];
for (const [what, input, message] of malformed) {
  test(`rejects ${what} with DerFormatError`, () => {
    assert.throws(() => readDer(hex(input)), (err: unknown) => err instanceof DerFormatError && message.test(err.message));
  });
}

test('a child running past its parent is caught even when the buffer goes on', () => {
  // SEQUENCE of length 3 whose child claims 5 bytes; the bytes after the SEQUENCE must not be used.
  const seq = readDer(hex('30 03 0405 61 6263646566'));
  assert.throws(() => derChildren(seq), DerFormatError);
  assert.throws(() => readDer(hex('0405 6162636465'), 0, 4), DerFormatError);
});

test('derChildren refuses primitives and too many children', () => {
  assert.throws(() => derChildren(readDer(hex('04 00'))), /not constructed/);
  assert.throws(() => derChildren(readDer(hex('30 06 0500 0500 0500')), 2), /too many children/);
});

test('expectTag names the field', () => {
  assert.throws(() => expectTag(readDer(hex('04 00')), 0x30, 'Certificate'), /Certificate has tag 0x4, expected 0x30/);
  assert.throws(() => expectTag(undefined, 0x30, 'validity'), /validity missing/);
});

test('decodes OIDs', () => {
  assert.equal(decodeOid(hex('2a864886f70d01010b')), '1.2.840.113549.1.1.11');
  assert.equal(decodeOid(hex('550403')), '2.5.4.3');
  assert.equal(decodeOid(hex('0992268993f22c640119')), '0.9.2342.19200300.100.1.25');
  assert.equal(decodeOid(hex('8837')), '2.999');
  assert.throws(() => decodeOid(hex('2a86')), /truncated/);
  assert.throws(() => decodeOid(Buffer.alloc(0)), DerFormatError);
  assert.throws(() => decodeOid(Buffer.alloc(65, 1)), DerFormatError);
});

test('decodes INTEGERs in two\'s complement', () => {
  assert.equal(decodeInteger(hex('1234')), 4660n);
  assert.equal(decodeInteger(hex('00ff')), 255n);
  assert.equal(decodeInteger(hex('ff')), -1n);
  assert.equal(decodeInteger(hex('8000')), -32768n);
  assert.equal(decodeInteger(hex('018ee90ff6c373e0ee4e3f0ad2')), 123456789012345678901234567890n);
  assert.throws(() => decodeInteger(Buffer.alloc(0)), DerFormatError);
});
