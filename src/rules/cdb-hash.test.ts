// Unit tests for cdbHash: fixed values and agreement with a BigInt transcription of cdb.txt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cdbHash } from './cdb-hash';

/** cdb.txt's hash in BigInt arithmetic, so the uint32 wrap is explicit rather than implied. */
function referenceHash(key: Uint8Array): number {
  let h = 5381n;
  for (const c of key) h = (((h << 5n) + h) & 0xffffffffn) ^ BigInt(c);
  return Number(h);
}

test('cdbHash() gives the known values for short keys', () => {
  const cases: Array<[string, number]> = [
    ['', 5381],
    // (5381 * 33) ^ 0x61
    ['a', 177604],
    ['ab', ((177604 * 33) ^ 0x62) >>> 0],
  ];
  for (const [key, expected] of cases) assert.equal(cdbHash(Buffer.from(key)), expected, key);
});

test('cdbHash() wraps at 32 bits and stays unsigned for long and high-byte keys', () => {
  const keys = [
    Buffer.from('0000:0000:0000:0000:0000:0000:0000:0001'),
    Buffer.from('=a.very.long.host.name.that.overflows.the.hash.many.times.example'),
    Buffer.alloc(1000, 0xff),
    Buffer.from([0x80, 0x00, 0xfe, 0x01]),
  ];
  for (const key of keys) {
    const h = cdbHash(key);
    assert.ok(Number.isInteger(h) && h >= 0 && h <= 0xffffffff, `uint32: ${h}`);
    assert.equal(h, referenceHash(key));
  }
});

test('cdbHash() matches the reference on 2000 random keys', () => {
  let seed = 12345;
  for (let n = 0; n < 2000; n++) {
    const key = new Uint8Array(n % 97);
    for (let i = 0; i < key.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      key[i] = seed >>> 24;
    }
    assert.equal(cdbHash(key), referenceHash(key));
  }
});
