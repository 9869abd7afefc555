// Unit tests for safeText, the safecats equivalent for log fields.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { safeText, SAFE_TEXT_MAX_BYTES } from './safe-text';

const A100 = 'a'.repeat(100);

const CASES: Array<[name: string, input: string | Uint8Array, colon: boolean, expected: string]> = [
  ['empty', '', false, ''],
  ['plain host name', 'peer.test.example', false, 'peer.test.example'],
  ['printable ASCII kept', '!~azAZ09-_.@=[]', false, '!~azAZ09-_.@=[]'],
  ['space becomes ?', 'a b', false, 'a?b'],
  ['control bytes become ?', 'a\x00b\x01c\tb\nd\re\x1f', false, 'a?b?c?b?d?e?'],
  ['DEL becomes ?', 'a\x7fb', false, 'a?b'],
  ['% becomes ? (logger stupidity)', '100%', false, '100?'],
  ['colon kept by default (sslserver)', 'joe:x', false, 'joe:x'],
  ['colon replaced when asked (tcpserver)', 'joe:x', true, 'joe?x'],
  ['non-ASCII: one ? per UTF-8 byte', 'é', false, '??'],
  ['non-ASCII: 4-byte character', 'a\u{1F600}b', false, 'a????b'],
  ['raw bytes above 126', Buffer.from([0x41, 0x80, 0xff, 0x42]), false, 'A??B'],
  ['a byte kept from Latin-1 (U+DCE9): one ?, as its one byte', 'caf\udce9!', false, 'caf?!'],
  ['raw bytes with %', Buffer.from('x%y'), false, 'x?y'],
  ['99 bytes kept whole', 'a'.repeat(99), false, 'a'.repeat(99)],
  ['exactly 100 bytes kept whole', A100, false, A100],
  ['101 bytes cut to 100 plus ...', `${A100}b`, false, `${A100}...`],
  ['long field cut at 100 bytes', 'x'.repeat(300), false, `${'x'.repeat(100)}...`],
  ['cut counts bytes, not characters', `${'a'.repeat(99)}é`, false, `${'a'.repeat(99)}?...`],
  ['cut after replacing', `${'%'.repeat(120)}`, false, `${'?'.repeat(100)}...`],
];

for (const [name, input, colon, expected] of CASES) {
  test(`safeText(): ${name}`, () => {
    assert.equal(safeText(input, colon ? { colon: true } : undefined), expected);
  });
}

test('safeText() with space: true keeps spaces only', () => {
  assert.equal(safeText('peer did not return a certificate', { space: true }), 'peer did not return a certificate');
  assert.equal(safeText('a b\tc\nd%e:f', { space: true }), 'a b?c?d?e:f');
  assert.equal(safeText('a b:c', { space: true, colon: true }), 'a b?c');
  assert.equal(safeText(' '.repeat(101), { space: true }), `${' '.repeat(100)}...`);
});

test('safeText() output is printable ASCII for every byte value', () => {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i += 1) all[i] = i;
  const out = safeText(all.subarray(0, SAFE_TEXT_MAX_BYTES));
  assert.match(out, /^[!-~]*$/);
  assert.doesNotMatch(out, /%/);
  for (let i = 0; i < 256; i += 1) {
    const one = safeText(all.subarray(i, i + 1));
    const keep = i >= 33 && i <= 126 && i !== 0x25;
    assert.equal(one, keep ? String.fromCharCode(i) : '?', `byte ${i}`);
  }
});
