// Tests for tcprules line parsing: every accepted form, the colon rule, and bad lines.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RulesSyntaxError } from '../errors';
import { parseRuleLine } from './rule-line';

const ALLOW = { deny: false, env: [] };
const DENY = { deny: true, env: [] };

test('parseRuleLine() turns each address form into its keys', () => {
  const cases: Array<[string, string[]]> = [
    ['1.2.3.4:allow', ['1.2.3.4']],
    ['1.2.3.:allow', ['1.2.3.']],
    ['=host.example:allow', ['=host.example']],
    ['=.example:allow', ['=.example']],
    ['=:allow', ['=']],
    [':allow', ['']],
    ['joe@1.2.3.4:allow', ['joe@1.2.3.4']],
    ['joe@=host.example:allow', ['joe@=host.example']],
    ['joe@::1:allow', ['joe@0000:0000:0000:0000:0000:0000:0000:0001']],
    ['joe@1.2.3.0/24:allow', ['joe@1.2.3.0/24']],
    ['::1:allow', ['0000:0000:0000:0000:0000:0000:0000:0001']],
    ['fe80::A:allow', ['FE80:0000:0000:0000:0000:0000:0000:000A']],
    ['10.0.0.0/8:allow', ['_0000e0g0']],
    ['1.2.3.4/32:allow', ['_0000000h000000o0000000wx00000400']],
    ['fe80::/10:allow', ['^`abcdef0g0']],
    ['::1/128:allow', [`^${'0'.repeat(127)}\``]],
    ['1.2.3.4-6:allow', ['1.2.3.4', '1.2.3.5', '1.2.3.6']],
    ['1.2.3.253-300:allow', ['1.2.3.253', '1.2.3.254', '1.2.3.255']],
    ['1.2.3.254-0000000000300:allow', ['1.2.3.254', '1.2.3.255']],
    ['1.2.3.255-1000000000000:allow', ['1.2.3.255']],
    ['127./8:allow', ['_0bcdefgh']],
    ['1.2-3.:allow', ['1.2.', '1.3.']],
    ['7-7:allow', ['7']],
    ['host:allow', ['host']],
    [' 1.2.3.4:allow', [' 1.2.3.4']],
    ['=a,b:allow', ['=a,b']],
  ];
  for (const [line, keys] of cases) assert.deepEqual(parseRuleLine(line, 1)?.keys, keys, line);
});

test('parseRuleLine() takes an IPv4 CIDR network by its first octets, as ucspi-tcp6 does', () => {
  const key = (line: string): string | undefined => parseRuleLine(line, 1)?.keys[0];
  assert.equal(key('192.168./16:allow'), key('192.168.0.0/16:allow'));
  assert.equal(key('192.168/16:allow'), key('192.168.0.0/16:allow'));
  assert.equal(key('10.1.2./24:allow'), key('10.1.2.0/24:allow'));
  assert.equal(key('10/8:allow'), key('10.0.0.0/8:allow'));
  assert.equal(key('1.2.3/8:allow'), key('1.0.0.0/8:allow'));
});

test('parseRuleLine() reads allow/deny and variables with any quote character', () => {
  const cases: Array<[string, unknown]> = [
    ['1.2.3.4:allow', ALLOW],
    ['1.2.3.4:deny', DENY],
    ['1.2.3.4:allow,X="a:b",Y=#c,d#', { deny: false, env: [['X', 'a:b'], ['Y', 'c,d']] }],
    ['1.2.3.4:deny,X="1"', { deny: true, env: [['X', '1']] }],
    ['1.2.3.4:allow,A,B=xyx', { deny: false, env: [['A,B', 'y']] }],
    ['1.2.3.4:allow,E=""', { deny: false, env: [['E', '']] }],
    [':allow,="x"', { deny: false, env: [['', 'x']] }],
    ["1.2.3.4:allow,Q='say \"hi\"'", { deny: false, env: [['Q', 'say "hi"']] }],
    ['1.2.3.4:allow   \t', ALLOW],
  ];
  for (const [line, rule] of cases) assert.deepEqual(parseRuleLine(line, 1)?.rule, rule, line);
});

test('parseRuleLine() takes the colon before allow/deny, as Debian and ucspi-tcp6 both do', () => {
  // a:b contains ':' so it is read as IPv6 and rejected; with '=' it stays literal
  assert.deepEqual(parseRuleLine('=a:b:allow,X="c:deny"', 1)?.keys, ['=a:b']);
  assert.deepEqual(parseRuleLine('=a:b:allow,X="c:deny"', 1)?.rule.env, [['X', 'c:deny']]);
  assert.deepEqual(parseRuleLine('=x:denyx:allow', 1)?.keys, ['=x:denyx']);
});

test('parseRuleLine() skips comments and blank lines', () => {
  for (const line of ['#', '# 1.2.3.4:deny', '', '   ', '\t \t']) assert.equal(parseRuleLine(line, 1), undefined, line);
});

test('parseRuleLine() throws RulesSyntaxError with the trimmed line for bad lines', () => {
  const bad = [
    'garbage',
    '1.2.3.4:',
    '1.2.3.4:bogus',
    '1.2.3.4:allowx',
    '1.2.3.4:allow,X',
    '1.2.3.4:allow,X=',
    '1.2.3.4:allow,X="abc',
    '1.2.3.4:allow ,X="a"',
    '1.2.3.4: allow',
    '1.2.3.4:allow\r',
    'a:b:allow',
    '1:2:3:4:5:6:7:8:9:allow',
    'gg::1:allow',
    '1.2.3.4/33:allow',
    '1.2.3.4/0:allow',
    '1.2.3.4/:allow',
    '10./16:allow',
    '10.1.2./25:allow',
    '1..2/8:allow',
    '/8:allow',
    '.1/8:allow',
    '1.2.3.4.5/8:allow',
    '256./8:allow',
    '1.2.3.256/8:allow',
    '::/0:allow',
    '::/129:allow',
    'zz::/64:allow',
    '1.2.3.4-3:allow',
    '1.2.3.-2:allow',
    '1.2.3.4-:allow',
    '1.2.3.x-2:allow',
    '1.2.3.256-300:allow',
    'a-b:allow',
    'joe@zz::1:allow',
  ];
  for (const line of bad) {
    assert.throws(
      () => parseRuleLine(`${line}  `, 42),
      (err: unknown) => err instanceof RulesSyntaxError && err.line === line && err.lineNumber === 42,
      line,
    );
  }
});
