// Unit tests for sslserver's argv -> Options (defaults, bundles, toggles, long names, bad values).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSslserverUsage, parseSslserverArgs, SSLSERVER_USAGE, type Options } from './options';
import { UsageError } from '../errors';

const OPERANDS = ['0', '4433', 'prog'];

const DEFAULTS: Options = {
  printLocal: false,
  passwordFromFd3: false,
  family: 0,
  limit: 40,
  maxConIp: 40,
  allowMissingRules: false,
  banner: '',
  backlog: 20,
  identTimeoutMs: 26_000,
  handshakeTimeoutMs: 26_000,
  idleTimeoutMs: 3_600_000,
  lookupRemoteHost: true,
  paranoid: false,
  lookupRemoteInfo: false,
  tcpEnv: true,
  sslEnv: false,
  delayedTls: false,
  clientCert: 'none',
  verbosity: 1,
  killIpOptions: true,
  noDelay: true,
  host: '0',
  port: '4433',
  program: ['prog'],
};

function parse(flags: string[], env: Record<string, string | undefined> = {}): Options {
  return parseSslserverArgs([...flags, ...OPERANDS], env);
}

test('parseSslserverArgs() fills in the reference defaults', () => {
  assert.deepEqual(parseSslserverArgs(OPERANDS, {}), DEFAULTS);
});

// flags -> the fields that differ from DEFAULTS
const GOOD: Array<[flags: string[], changed: Partial<Options>]> = [
  [['-1346'], { printLocal: true, passwordFromFd3: true, family: 6 }],
  [['-6', '-4'], { family: 4 }],
  [['-vHl', 'name'], { verbosity: 2, lookupRemoteHost: false, localName: 'name' }],
  [['-vHlname'], { verbosity: 2, lookupRemoteHost: false, localName: 'name' }],
  [['-c40'], { limit: 40, maxConIp: 40 }],
  [['-c', '7'], { limit: 7, maxConIp: 7 }],
  [['-c', '007'], { limit: 7, maxConIp: 7 }],
  [['-h', '-H'], { lookupRemoteHost: false }],
  [['-H', '-h'], {}],
  [['-p', '-P', '-p'], { paranoid: true }],
  [['-rR'], {}],
  [['-Rr'], { lookupRemoteInfo: true }],
  [['-E'], { tcpEnv: false }],
  [['-E', '-e'], {}],
  [['-s'], { sslEnv: true }],
  [['-sS'], {}],
  [['-n'], { delayedTls: true }],
  [['-nN'], {}],
  [['-z'], { clientCert: 'verify-host' }],
  [['-m'], { clientCert: 'verify' }],
  [['-zmZ'], {}],
  [['-mz'], { clientCert: 'verify-host' }],
  [['-q'], { verbosity: 0 }],
  [['-V'], { verbosity: 3 }],
  [['-vQ'], {}],
  [['-o'], { killIpOptions: false }],
  [['-oO'], {}],
  [['-d'], { noDelay: false }],
  [['-dD'], {}],
  [['-X', '-x', 'r.cdb', '-y', 'ip.cdb'], { allowMissingRules: true, rulesFile: 'r.cdb', ipRulesFile: 'ip.cdb' }],
  [['-B', 'hello there\r\n'], { banner: 'hello there\r\n' }],
  [['-B', ''], {}],
  [['-u', '1000', '-g', '100'], { uid: 1000, gid: 100 }],
  [['-u', '0', '-g', '0'], {}],
  [['-b', '5'], { backlog: 5 }],
  [['-b', '0'], { backlog: 1 }],
  [['-t', '0'], { identTimeoutMs: 0 }],
  [['-t', '5', '-T', '7', '-w', '60'], { identTimeoutMs: 5000, handshakeTimeoutMs: 7000, idleTimeoutMs: 60_000 }],
  [['-w', '2147483'], { idleTimeoutMs: 2_147_483_000 }],
  [['-I', 'lo'], { interfaceName: 'lo' }],
  [['-Ilo'], { interfaceName: 'lo' }],
  [['-l', ''], { localName: '' }],
  [['--'], {}],
  [['-v', '--'], { verbosity: 2 }],
];

for (const [flags, changed] of GOOD) {
  test(`parseSslserverArgs(): ${flags.map((f) => JSON.stringify(f)).join(' ')}`, () => {
    assert.deepEqual(parse(flags), { ...DEFAULTS, ...changed });
  });
}

// Each long name against its short letter: same Options.
const LONG: Array<[long: string[], short: string[]]> = [
  [['--print-local'], ['-1']],
  [['--password-fd3'], ['-3']],
  [['--ipv4'], ['-4']],
  [['--ipv6'], ['-6']],
  [['--limit=9'], ['-c', '9']],
  [['--limit', '9'], ['-c9']],
  [['--ip-rules', 'a.cdb'], ['-y', 'a.cdb']],
  [['--rules=b.cdb'], ['-x', 'b.cdb']],
  [['--allow-missing-rules'], ['-X']],
  [['--banner=hi'], ['-B', 'hi']],
  [['--uid', '5'], ['-u', '5']],
  [['--gid', '6'], ['-g', '6']],
  [['--env-uid'], ['-U']],
  [['--backlog=3'], ['-b', '3']],
  [['--local-name', 'n'], ['-l', 'n']],
  [['--ident-timeout=3'], ['-t', '3']],
  [['--interface', 'eth0'], ['-I', 'eth0']],
  [['--handshake-timeout', '4'], ['-T', '4']],
  [['--idle-timeout', '5'], ['-w', '5']],
  [['--no-remote-host', '--remote-host'], ['-H', '-h']],
  [['--no-remote-host'], ['-H']],
  [['--paranoid'], ['-p']],
  [['--paranoid', '--no-paranoid'], ['-p', '-P']],
  [['--remote-info'], ['-r']],
  [['--remote-info', '--no-remote-info'], ['-r', '-R']],
  [['--no-tcp-env'], ['-E']],
  [['--no-tcp-env', '--tcp-env'], ['-E', '-e']],
  [['--ssl-env'], ['-s']],
  [['--ssl-env', '--no-ssl-env'], ['-s', '-S']],
  [['--starttls'], ['-n']],
  [['--starttls', '--no-starttls'], ['-n', '-N']],
  [['--verify-client'], ['-m']],
  [['--verify-client-host'], ['-z']],
  [['--verify-client', '--no-client-cert'], ['-m', '-Z']],
  [['--quiet'], ['-q']],
  [['--quiet', '--errors-only'], ['-q', '-Q']],
  [['--verbose'], ['-v']],
  [['--very-verbose'], ['-V']],
  [['--keep-ip-options'], ['-o']],
  [['--keep-ip-options', '--kill-ip-options'], ['-o', '-O']],
  [['--nagle'], ['-d']],
  [['--nagle', '--no-delay'], ['-d', '-D']],
  [['-v', '--quiet'], ['-vq']],
];

for (const [long, short] of LONG) {
  test(`parseSslserverArgs(): ${long.join(' ')} equals ${short.join(' ')}`, () => {
    const env = { UID: '11', GID: '12' };
    const a = parse(long, env);
    const b = parse(short, env);
    assert.deepEqual(a, b);
    // and the flag really did something, except where the pair toggles back to the default
    if (!long.some((w) => /^--(remote-host|no-paranoid|no-remote-info|tcp-env|no-ssl-env|no-starttls|no-client-cert|errors-only|kill-ip-options|no-delay)$/.test(w))) {
      assert.notDeepEqual(a, parse([], env));
    }
  });
}

test('parseSslserverArgs() stops at the host: the program keeps its own options', () => {
  const o = parseSslserverArgs(['-v', '0', '443', 'prog', '-x', 'y', '--', '-c', '0'], {});
  assert.equal(o.verbosity, 2);
  assert.equal(o.rulesFile, undefined);
  assert.equal(o.host, '0');
  assert.equal(o.port, '443');
  assert.deepEqual(o.program, ['prog', '-x', 'y', '--', '-c', '0']);
});

test('parseSslserverArgs(): -- lets a host start with a dash', () => {
  const o = parseSslserverArgs(['--', '-weird', '443', 'prog'], {});
  assert.equal(o.host, '-weird');
});

test('parseSslserverArgs(): -U takes UID and GID from the environment', () => {
  assert.deepEqual([parse(['-U'], { UID: '1000', GID: '100' }).uid, parse(['-U'], { UID: '1000', GID: '100' }).gid], [1000, 100]);
  // unset variables leave earlier values alone; the last of -u/-U wins
  const o = parse(['-u', '5', '-g', '6', '-U'], { UID: '7' });
  assert.deepEqual([o.uid, o.gid], [7, 6]);
  const p = parse(['-U', '-u', '5'], { UID: '7', GID: '8' });
  assert.deepEqual([p.uid, p.gid], [5, 8]);
  const q = parse(['-U'], {});
  assert.deepEqual([q.uid, q.gid], [undefined, undefined]);
});

test('parseSslserverArgs(): UID/GID are not read without -U', () => {
  const o = parse([], { UID: '1000', GID: '100' });
  assert.deepEqual([o.uid, o.gid], [undefined, undefined]);
});

test('parseSslserverArgs(): MAXCONIP from the environment beats -c, whatever the order', () => {
  assert.deepEqual([parse([], { MAXCONIP: '3' }).limit, parse([], { MAXCONIP: '3' }).maxConIp], [40, 3]);
  const o = parse(['-c', '10'], { MAXCONIP: '3' });
  assert.deepEqual([o.limit, o.maxConIp], [10, 3]);
  assert.equal(parse(['-c', '10'], { MAXCONIP: '0' }).maxConIp, 0);
  assert.equal(parse(['-c', '10'], { MAXCONIP: '' }).maxConIp, 10);
  assert.equal(parse(['-c', '10'], {}).maxConIp, 10);
});

// argv -> [illegalOption, message]; illegalOption undefined for bad values and operands
const BAD: Array<[argv: string[], option: string | undefined, message: RegExp]> = [
  [['-k', ...OPERANDS], 'k', /^illegal option -- k$/],
  [['-vk', ...OPERANDS], 'k', /^illegal option -- k$/],
  [['-c'], 'c', /^option requires an argument -- c$/],
  [['--limit'], 'limit', /^option requires an argument -- limit$/],
  [['--frobnicate', ...OPERANDS], 'frobnicate', /^illegal option -- frobnicate$/],
  [['--verbose=1', ...OPERANDS], 'verbose', /^option does not take an argument -- verbose$/],
  [['-c', 'abc', ...OPERANDS], undefined, /^bad value for -c: abc$/],
  [['-c', '4x', ...OPERANDS], undefined, /^bad value for -c: 4x$/],
  [['-c', '', ...OPERANDS], undefined, /^bad value for -c: $/],
  [['-c', '-1', ...OPERANDS], undefined, /^bad value for -c: -1$/],
  [['-c', ' 4', ...OPERANDS], undefined, /^bad value for -c:  4$/],
  [['-c', '0x10', ...OPERANDS], undefined, /^bad value for -c: 0x10$/],
  [['-c', '0', ...OPERANDS], undefined, /^bad value for -c: 0 \(allowed: 1 to/],
  [['-c', '99999999999999999999', ...OPERANDS], undefined, /^bad value for -c: 9+ \(allowed/],
  [['-b', 'x', ...OPERANDS], undefined, /^bad value for -b: x$/],
  [['-T', '0', ...OPERANDS], undefined, /^bad value for -T: 0 /],
  [['-w', '0', ...OPERANDS], undefined, /^bad value for -w: 0 /],
  [['-w', '2147484', ...OPERANDS], undefined, /^bad value for -w: 2147484 /],
  [['-t', '1.5', ...OPERANDS], undefined, /^bad value for -t: 1.5$/],
  [['-u', 'root', ...OPERANDS], undefined, /^bad value for -u: root$/],
  [['-g', 'wheel', ...OPERANDS], undefined, /^bad value for -g: wheel$/],
  [['-u', '4294967295', ...OPERANDS], undefined, /^bad value for -u: 4294967295 /],
  [['-x', '', ...OPERANDS], undefined, /^bad value for -x: empty$/],
  [['-y', '', ...OPERANDS], undefined, /^bad value for -y: empty$/],
  [['-I', '', ...OPERANDS], undefined, /^bad value for -I: empty$/],
  [[], undefined, /^missing host$/],
  [['-v'], undefined, /^missing host$/],
  [['', '443', 'prog'], undefined, /^empty host$/],
  [['0'], undefined, /^missing port$/],
  [['0', '', 'prog'], undefined, /^empty port$/],
  [['0', '443'], undefined, /^missing program$/],
  [['-v', '--', '0', '443'], undefined, /^missing program$/],
];

for (const [argv, option, message] of BAD) {
  test(`parseSslserverArgs() throws UsageError for ${argv.map((w) => JSON.stringify(w)).join(' ')}`, () => {
    assert.throws(() => parseSslserverArgs(argv, {}), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.equal(err.illegalOption, option);
      assert.match(err.message, message);
      return true;
    });
  });
}

test('parseSslserverArgs() throws UsageError for a bad MAXCONIP or -U value', () => {
  assert.throws(() => parse([], { MAXCONIP: 'lots' }), { message: 'bad value for MAXCONIP: lots' });
  assert.throws(() => parse(['-U'], { UID: 'x' }), { message: 'bad value for $UID: x' });
  assert.throws(() => parse(['-U'], { UID: '1', GID: '-1' }), { message: 'bad value for $GID: -1' });
});

test('SSLSERVER_USAGE is the reference usage text after the prefix', () => {
  assert.equal(
    `sslserver: usage: ${SSLSERVER_USAGE}`,
    'sslserver: usage: sslserver [ -1346UXpPhHrRoOdDqQvVIeEsSnNmzZ ] [ -c limit ] [ -y iprules.cdb ] ' +
      '[ -x rules.cdb ] [ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] ' +
      '[ -I interface ] [ -T ssltimeout ] [ -w progtimeout ] host port program',
  );
});

function usageFor(argv: string[]): string {
  try {
    parseSslserverArgs(argv, {});
  } catch (err) {
    if (err instanceof UsageError) return formatSslserverUsage(err);
    throw err;
  }
  throw new Error('no usage error');
}

test('formatSslserverUsage(): unknown option gets the sgetopt line before the usage line', () => {
  assert.equal(usageFor(['-k', ...OPERANDS]), `sslserver: illegal option -- k\nsslserver: usage: ${SSLSERVER_USAGE}\n`);
});

test('formatSslserverUsage(): missing operands print the usage line alone', () => {
  for (const argv of [[], ['0'], ['0', '443'], ['', '443', 'p']]) {
    assert.equal(usageFor(argv), `sslserver: usage: ${SSLSERVER_USAGE}\n`);
  }
});

test('formatSslserverUsage(): a bad value says which', () => {
  assert.equal(usageFor(['-c', 'abc', ...OPERANDS]), `sslserver: bad value for -c: abc\nsslserver: usage: ${SSLSERVER_USAGE}\n`);
});
