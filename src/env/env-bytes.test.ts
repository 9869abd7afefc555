// Tests for text that keeps every byte: decoding, encoding, and this process's inherited env and args.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { prng } from '../../test/fixtures/prng';
import { bytesFromText, exactArg, inheritedArgs, inheritedEnv, textFromBytes } from './env-bytes';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('valid UTF-8 decodes as Buffer does, and plain text encodes as UTF-8', () => {
  for (const s of ['', 'plain', 'grüß', '€ and 😁', 'a\u0000b', '\ufffd kept']) {
    const b = Buffer.from(s, 'utf8');
    assert.equal(textFromBytes(b), s);
    assert.equal(hex(bytesFromText(s)), hex(b));
    assert.equal(exactArg(s), s, 'plain text goes to the addon as the string');
  }
});

test('each byte that is not valid UTF-8 becomes one U+DC80..U+DCFF and goes back out as itself', () => {
  const cases: Array<[number[], string]> = [
    [[0x67, 0x72, 0xfc, 0xdf], 'gr\udcfc\udcdf'], // Latin-1 "grüß"
    [[0xc0, 0x80], '\udcc0\udc80'], // overlong NUL
    [[0xed, 0xa0, 0x80], '\udced\udca0\udc80'], // an encoded surrogate
    [[0xf4, 0x90, 0x80, 0x80], '\udcf4\udc90\udc80\udc80'], // above U+10FFFF
    [[0xe2, 0x82], '\udce2\udc82'], // cut at the end
    [[0xe2, 0x82, 0x41], '\udce2\udc82A'], // cut before ASCII
    [[0xe9, 0xe2, 0x82, 0xac], '\udce9€'], // a stray byte before a whole sequence
    [[0xf0, 0x9f, 0x98, 0x81, 0xff], '😁\udcff'],
  ];
  for (const [bytes, text] of cases) {
    assert.equal(textFromBytes(Buffer.from(bytes)), text, hex(Buffer.from(bytes)));
    assert.equal(hex(bytesFromText(text)), hex(Buffer.from(bytes)));
  }
  // a window of a larger buffer
  assert.equal(textFromBytes(Buffer.from([0x41, 0xe9, 0x42, 0x43]), 1, 3), '\udce9B');
  const mixed = 'x\udce9y';
  assert.deepEqual(exactArg(mixed), Buffer.from([0x78, 0xe9, 0x79]));
});

test('any bytes survive decode then encode (every single byte, 20,000 random strings)', () => {
  for (let b = 0; b < 256; b += 1) assert.equal(hex(bytesFromText(textFromBytes(Buffer.from([b])))), hex(Buffer.from([b])));
  const seed = 0x5eed;
  const next = prng(seed);
  for (let i = 0; i < 20_000; i += 1) {
    const len = Math.floor(next() * 12);
    // mostly high bytes and lead bytes, so that near-valid sequences are common
    const bytes = Buffer.from(Array.from({ length: len }, () => (next() < 0.2 ? Math.floor(next() * 128) : 0x80 + Math.floor(next() * 128))));
    assert.equal(hex(bytesFromText(textFromBytes(bytes))), hex(bytes), `seed ${seed}, string ${i}`);
  }
});

test('a lone surrogate that no decoding made is written as U+FFFD, as Node writes it', () => {
  assert.equal(hex(bytesFromText('a\ud800b')), hex(Buffer.from('a\ud800b', 'utf8')));
  assert.equal(hex(bytesFromText('\udc00')), 'efbfbd');
  assert.equal(hex(bytesFromText('\ud83d\ude01\udce9')), 'f09f9881e9', 'a pair stays a pair, the escape after it a byte');
});

/** Runs `node -e CODE` with a Latin-1 variable and argument put in by the shell; returns its stdout. */
function underShell(code: string, ...args: string[]): string {
  const script = 'LATIN="$(printf "gr\\374\\337")" UTF="grüß" exec "$@" "$(printf "caf\\351")"';
  return execFileSync('/bin/sh', ['-c', script, 'sh', process.execPath, '-e', code, ...args], { encoding: 'utf8' });
}

test('inheritedEnv and inheritedArgs give the bytes this process started with', () => {
  const self = join(__dirname, 'env-bytes.js');
  const code = `const e = require(${JSON.stringify(self)});
    const env = e.inheritedEnv();
    console.log(JSON.stringify({ latin: e.bytesFromText(env.get('LATIN')).toString('hex'), utf: env.get('UTF'),
      node: process.env.LATIN, args: e.inheritedArgs().map((a) => e.bytesFromText(a).toString('hex')) }));`;
  // with -e, process.argv[1] is the first argument: it stands in for sslserver's script
  const out = JSON.parse(underShell(code, 'script', 'plain', '')) as { latin: string; utf: string; node: string; args: string[] };
  assert.equal(out.latin, '6772fcdf');
  assert.equal(out.utf, 'grüß');
  assert.equal(out.node, 'gr\ufffd\ufffd', "Node's own process.env mends the bytes");
  assert.deepEqual(out.args, [Buffer.from('plain').toString('hex'), '', '636166e9']);
});

test('a changed environment falls back to process.env (what this process sees now)', () => {
  const self = join(__dirname, 'env-bytes.js');
  const code = `process.env.ADDED = '1'; const e = require(${JSON.stringify(self)});
    console.log(JSON.stringify({ latin: e.inheritedEnv().get('LATIN'), added: e.inheritedEnv().get('ADDED') }));`;
  assert.deepEqual(JSON.parse(underShell(code)), { latin: 'gr\ufffd\ufffd', added: '1' });
  // in this process nothing changed the environment: the two agree on every name
  assert.deepEqual([...inheritedEnv().keys()].sort(), Object.keys(process.env).sort());
  assert.deepEqual(inheritedArgs(), process.argv.slice(2));
});
