import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtocolError } from '../errors';
import { decodeEnvBlock, encodeEnvBlock, parseControlCommand } from './ucspi-tls';

test('parseControlCommand: y and Y only, one byte and at most a line end', () => {
  assert.equal(parseControlCommand(Buffer.from('y')), 'y');
  assert.equal(parseControlCommand(Buffer.from('Y')), 'Y');
  // echo y >&$SSLCTLFD
  assert.equal(parseControlCommand(Buffer.from('y\n')), 'y');
  assert.equal(parseControlCommand(Buffer.from('Y\r\n')), 'Y');
  for (const bad of ['', 'x', 'n', '\0', 'yy', 'Y\n\n', 'y\r', 'y\0', '\ny']) {
    assert.throws(() => parseControlCommand(Buffer.from(bad)), ProtocolError, JSON.stringify(bad));
  }
  assert.throws(() => parseControlCommand(Buffer.from('x')), /unknown UCSPI-TLS command 0x78/);
  assert.throws(() => parseControlCommand(Buffer.from('yy')), /1 unexpected byte\(s\) after UCSPI-TLS command/);
});

test('encodeEnvBlock: NAME=value NUL each, one more NUL at the end', () => {
  const b = encodeEnvBlock([['SSL_PROTOCOL', 'TLSv1.3'], ['SSL_SERVER_CERT', '-----BEGIN\nX\n'], ['EMPTY', '']]);
  assert.deepEqual(b, Buffer.from('SSL_PROTOCOL=TLSv1.3\0SSL_SERVER_CERT=-----BEGIN\nX\n\0EMPTY=\0\0', 'latin1'));
  assert.deepEqual(encodeEnvBlock([]), Buffer.from([0]));
  assert.deepEqual(encodeEnvBlock([['DN', 'Jörg']]), Buffer.from('DN=Jörg\0\0', 'utf8'));
});

test('encodeEnvBlock refuses what cannot be represented, and bounds the size', () => {
  assert.throws(() => encodeEnvBlock([['A', 'x\0y']]), ProtocolError);
  assert.throws(() => encodeEnvBlock([['A=B', 'x']]), ProtocolError);
  assert.throws(() => encodeEnvBlock([['', 'x']]), ProtocolError);
  assert.throws(() => encodeEnvBlock([['A', 'x'.repeat(100)]], 50), /longer than 50 bytes/);
  assert.equal(encodeEnvBlock([['A', 'x'.repeat(46)]], 50).length, 50);
});

test('decodeEnvBlock: round trip, incomplete input, trailing bytes not consumed', () => {
  const entries: Array<[string, string]> = [['A', '1'], ['B', 'x=y'], ['C', '']];
  const b = encodeEnvBlock(entries);
  assert.deepEqual(decodeEnvBlock(b), { entries, length: b.length });
  assert.deepEqual(decodeEnvBlock(Buffer.concat([b, Buffer.from('more')])), { entries, length: b.length });
  for (let cut = 0; cut < b.length; cut++) assert.equal(decodeEnvBlock(b.subarray(0, cut)), undefined, `cut at ${cut}`);
});

test('decodeEnvBlock: malformed entries and oversized blocks are ProtocolErrors', () => {
  assert.throws(() => decodeEnvBlock(Buffer.from('NOEQUALS\0\0')), ProtocolError);
  assert.throws(() => decodeEnvBlock(Buffer.from('=v\0\0')), ProtocolError);
  assert.throws(() => decodeEnvBlock(Buffer.alloc(64, 0x41), 32), /longer than 32 bytes/);
  // a terminator beyond the budget does not count
  assert.throws(() => decodeEnvBlock(Buffer.from(`A=${'x'.repeat(40)}\0\0`), 32), ProtocolError);
});
