// Tests for lookupRules on real cdb files written by compileRules.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SysError } from '../errors';
import { compileRules } from './compile';
import { lookupRules } from './rules-lookup';

const dir = mkdtempSync(join(tmpdir(), 'lookup-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const RULES = [
  'joe@10.0.0.1:allow,WHO="joe"',
  '10.0.0.1:deny',
  '=trusted.example:allow,T="1"',
  '10.0.0.:allow,P="dot"',
  '10.0.0.0/8:allow,C="8"',
  '192.168.0.0/16:deny',
  'fe80::/10:allow,LL="1"',
  '::1:allow,LO="1"',
  '2001:db8::/128:allow,EXACT128="1"',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128:allow,ONES="1"',
  '=.example:allow,S="example"',
  '=:allow,NAMED="1"',
  ':deny',
].join('\n');

test('lookupRules() returns the first key in SPEC order that the cdb holds', () => {
  const cdb = join(dir, 'r.cdb');
  compileRules(RULES, cdb, join(dir, 'r.tmp'));
  const cases: Array<[string, string | undefined, string | undefined, string, boolean, Array<[string, string]>]> = [
    ['10.0.0.1', undefined, 'joe', 'joe@10.0.0.1', false, [['WHO', 'joe']]],
    ['10.0.0.1', 'trusted.example', undefined, '10.0.0.1', true, []],
    ['10.0.0.2', 'trusted.example', undefined, '=trusted.example', false, [['T', '1']]],
    ['10.0.0.2', undefined, undefined, '10.0.0.', false, [['P', 'dot']]],
    ['10.9.9.9', 'a.example', undefined, '_0000e0g0', false, [['C', '8']]],
    ['192.168.7.7', undefined, undefined, '_ab000000i0k0m000', true, []],
    ['172.16.0.1', 'x.example', undefined, '=.example', false, [['S', 'example']]],
    ['172.16.0.1', 'x.other', undefined, '=', false, [['NAMED', '1']]],
    ['172.16.0.1', undefined, undefined, '', true, []],
    ['::1', undefined, undefined, '0000:0000:0000:0000:0000:0000:0000:0001', false, [['LO', '1']]],
    ['FE80::abcd', undefined, undefined, '^`abcdef0g0', false, [['LL', '1']]],
    ['2001:db8::', undefined, undefined, `^00\`000000000000a0000bc0de0fgh000${'0'.repeat(96)}`, false, [['EXACT128', '1']]],
    ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', undefined, undefined, '', false, [['ONES', '1']]],
  ];
  for (const [ip, host, info, key, deny, env] of cases) {
    const match = lookupRules(cdb, ip, host, info);
    assert.ok(match, ip);
    if (key !== '' || env.length === 0) assert.equal(match.key, key, ip);
    assert.equal(match.deny, deny, ip);
    assert.deepEqual(match.env, env, ip);
  }
});

test('lookupRules() returns undefined when nothing matches, throws SysError for a missing file', () => {
  const cdb = join(dir, 'n.cdb');
  compileRules('1.2.3.4:deny\n', cdb, join(dir, 'n.tmp'));
  assert.equal(lookupRules(cdb, '5.6.7.8'), undefined);
  assert.throws(() => lookupRules(join(dir, 'absent.cdb'), '1.2.3.4'), (err: unknown) => err instanceof SysError && err.code === 'ENOENT');
});

test('lookupRules() sees a cdb replaced by a new compile', () => {
  const cdb = join(dir, 'live.cdb');
  compileRules(':deny\n', cdb, join(dir, 'live.tmp'));
  assert.equal(lookupRules(cdb, '1.2.3.4')?.deny, true);
  compileRules(':allow\n', cdb, join(dir, 'live.tmp'));
  assert.equal(lookupRules(cdb, '1.2.3.4')?.deny, false);
});
