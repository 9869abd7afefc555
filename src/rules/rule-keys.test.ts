// Tests for the rule-key lookup order and the CIDR key encoding (SPEC.md worked examples).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIPv4, parseIPv6 } from './ip-address';
import { describeRuleKey, encodeRuleKey, ipv4CidrKey, ipv6CidrKey, ruleKeys } from './rule-keys';

const LOOPBACK6 = '0000:0000:0000:0000:0000:0000:0000:0001';

test('ipv4CidrKey() matches the SPEC.md encoding vectors', () => {
  const cases: Array<[string, number, string]> = [
    ['10.0.0.0', 8, '_0000e0g0'],
    ['127.0.0.0', 8, '_0bcdefgh'],
    ['128.0.0.0', 1, '_a'],
    ['255.255.255.255', 32, '_abcdefghijklmnopqrstuvwxyz123456'],
    ['192.168.0.0', 16, '_ab000000i0k0m000'],
    ['10.1.2.3', 8, '_0000e0g0'], // host bits past the prefix do not count
  ];
  for (const [ip, bits, key] of cases) {
    const bytes = parseIPv4(ip);
    assert.ok(bytes);
    assert.equal(ipv4CidrKey(bytes, bits), key, `${ip}/${bits}`);
  }
});

test('ipv6CidrKey() matches the SPEC.md encoding vectors', () => {
  const cases: Array<[string, number, string]> = [
    ['fe80::', 10, '^`abcdef0g0'],
    ['::1', 128, `^${'0'.repeat(127)}\``],
    ['8000::', 1, '^`'],
    ['::', 3, '^000'],
    ['ffff::', 16, `^${Array.from({ length: 16 }, (_, i) => String.fromCharCode(96 + i)).join('')}`],
  ];
  for (const [ip, bits, key] of cases) {
    const bytes = parseIPv6(ip);
    assert.ok(bytes);
    assert.equal(ipv6CidrKey(bytes, bits), key, `${ip}/${bits}`);
  }
});

test('ruleKeys() follows the SPEC.md order for an IPv4 peer with host and info', () => {
  const keys = ruleKeys('127.0.0.7', 'peer.test.example', 'joe');
  const full = ipv4CidrKey([127, 0, 0, 7], 32);
  const cidr = Array.from({ length: 32 }, (_, i) => full.slice(0, 33 - i));
  assert.deepEqual(keys, [
    'joe@127.0.0.7',
    'joe@=peer.test.example',
    '127.0.0.7',
    '=peer.test.example',
    '127.0.0.',
    '127.0.',
    '127.',
    ...cidr,
    '=.test.example',
    '=.example',
    '=',
    '',
  ]);
  assert.equal(cidr[0]?.length, 33);
  assert.equal(cidr[24], '_0bcdefgh');
  assert.equal(cidr[31], '_0');
});

test('ruleKeys() expands IPv6 peers and tries 128 CIDR keys, no dot prefixes', () => {
  const keys = ruleKeys('::1', 'h', 'joe');
  assert.deepEqual(keys.slice(0, 4), [`joe@${LOOPBACK6}`, 'joe@=h', LOOPBACK6, '=h']);
  const cidr = keys.slice(4, 4 + 128);
  assert.equal(cidr[0], `^${'0'.repeat(127)}\``);
  assert.equal(cidr[127], '^0');
  assert.ok(cidr.every((k, i) => k.length === 129 - i));
  assert.deepEqual(keys.slice(132), ['=', '']);
});

test('ruleKeys() without host or info: address, prefixes, CIDR, default', () => {
  const keys = ruleKeys('10.1.2.3');
  assert.deepEqual(keys.slice(0, 4), ['10.1.2.3', '10.1.2.', '10.1.', '10.']);
  assert.equal(keys.length, 4 + 32 + 1);
  assert.equal(keys.at(-1), '');
  assert.ok(keys.includes('_0000e0g0'));
});

test('ruleKeys() handles odd input like rules.c: empty host, zone, bad addresses', () => {
  assert.deepEqual(ruleKeys('1.2.3.4', '').filter((k) => k.startsWith('=')), ['=', '=']);
  assert.equal(ruleKeys('fe80::1%eth0')[0], 'FE80:0000:0000:0000:0000:0000:0000:0001');
  assert.deepEqual(ruleKeys('not:an:address', 'h.x'), ['=h.x', '=.x', '=', '']);
  assert.deepEqual(ruleKeys('0'), ['0', '']);
  assert.deepEqual(ruleKeys('zz', undefined, 'joe'), ['joe@zz', 'zz', '']);
});

test('encodeRuleKey() keeps IPv6 CIDR keys as bytes and host keys as UTF-8', () => {
  const allOnes = ipv6CidrKey(new Uint8Array(16).fill(0xff), 128);
  const bytes = encodeRuleKey(allOnes);
  assert.equal(bytes.length, 129);
  assert.equal(bytes[128], 96 + 127);
  assert.deepEqual(encodeRuleKey('=bücher.example'), Buffer.from('=bücher.example', 'utf8'));
  assert.deepEqual(encodeRuleKey(''), Buffer.alloc(0));
});

test('describeRuleKey() shows CIDR keys as address/prefix and leaves others alone', () => {
  const cases: Array<[string, string]> = [
    ['_0000e0g0', '10.0.0.0/8'],
    ['_abcdefghijklmnopqrstuvwxyz123456', '255.255.255.255/32'],
    ['^`abcdef0g0', 'fe80::/10'],
    [`^${'0'.repeat(127)}\``, '::1/128'],
    ['_0000x0g0', '_0000x0g0'],
    ['_', '_'],
    ['^a', '^a'],
    ['1.2.3.', '1.2.3.'],
    ['', ''],
  ];
  for (const [key, text] of cases) assert.equal(describeRuleKey(key), text, key);
});
