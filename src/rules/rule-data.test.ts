// Tests for reading and writing rule record data (D, +NAME=VALUE).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatRuleData, parseRuleData } from './rule-data';
import type { RuleData } from './rule-data';

test('parseRuleData() reads instructions, tolerant like djb', () => {
  const cases: Array<[string, RuleData]> = [
    ['', { deny: false, env: [] }],
    ['D\0', { deny: true, env: [] }],
    ['+A=x\0+B=\0', { deny: false, env: [['A', 'x'], ['B', '']] }],
    ['+A=x=y\0', { deny: false, env: [['A', 'x=y']] }],
    ['+A=1\0D\0+B=2\0', { deny: true, env: [['A', '1']] }],
    ['+NOEQ\0+=v\0', { deny: false, env: [['', 'v']] }],
    ['?junk\0+A=1\0', { deny: false, env: [['A', '1']] }],
    ['+A=1\0+B=2', { deny: false, env: [['A', '1']] }],
    ['D', { deny: false, env: [] }],
    ['\0\0D\0', { deny: true, env: [] }],
  ];
  for (const [data, expected] of cases) {
    assert.deepEqual(parseRuleData(Buffer.from(data, 'latin1')), expected, JSON.stringify(data));
  }
});

test('parseRuleData() reads only its own view of a larger buffer', () => {
  const whole = Buffer.from('XX+A=1\0D\0');
  assert.deepEqual(parseRuleData(whole.subarray(2, 7)), { deny: false, env: [['A', '1']] });
});

test('parseRuleData() decodes values as UTF-8, and keeps other bytes as they are', () => {
  assert.deepEqual(parseRuleData(Buffer.from('+N=é\0', 'utf8')).env, [['N', 'é']]);
  // a Latin-1 rules file: each byte that is not UTF-8 becomes U+DC80+byte (textFromBytes)
  assert.deepEqual(parseRuleData(Buffer.from('+N\xc4ME=gr\xfc\xdf\0', 'latin1')).env, [['N\udcc4ME', 'gr\udcfc\udcdf']]);
});

test('formatRuleData() writes what tcprules writes and round-trips', () => {
  const rule: RuleData = { deny: true, env: [['X', 'a:b'], ['Y', 'c,d']] };
  assert.equal(formatRuleData(rule).toString('latin1'), 'D\0+X=a:b\0+Y=c,d\0');
  assert.equal(formatRuleData({ deny: false, env: [] }).length, 0);
  const allow: RuleData = { deny: false, env: [['A', '1']] };
  assert.deepEqual(parseRuleData(formatRuleData(allow)), allow);
});
