// Debian's tcprules/tcprulescheck (ucspi-tcp-ipv6 0.88) and tinycdb's cdb as oracles for ours.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, test } from 'node:test';

const OUR_TCPRULES = join(__dirname, '..', '..', 'src', 'cli', 'tcprules.js');
const OUR_TCPRULESCHECK = join(__dirname, '..', '..', 'src', 'cli', 'tcprulescheck.js');
const DEBIAN_TCPRULES = '/usr/bin/tcprules';
const DEBIAN_TCPRULESCHECK = '/usr/bin/tcprulescheck';
const TINYCDB = '/usr/bin/cdb';
/** Debian's tcprules spins forever on some bad lines (SPEC.md): never wait on it unbounded. */
const DEBIAN_TIMEOUT_MS = 5000;
const OUR_TIMEOUT_MS = 20000;

const dir = mkdtempSync(join(tmpdir(), 'tcprules-oracle-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

function run(argv: string[], input: string | Buffer, env: NodeJS.ProcessEnv, timeoutMs: number): Run {
  const [cmd, ...args] = argv as [string, ...string[]];
  const r = spawnSync(cmd, args, { input, env, timeout: timeoutMs });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() };
}

function debianTcprules(cdb: string, input: string | Buffer): Run {
  return run([DEBIAN_TCPRULES, cdb, `${cdb}.tmp`], input, {}, DEBIAN_TIMEOUT_MS);
}

function ourTcprules(cdb: string, input: string | Buffer): Run {
  return run([process.execPath, OUR_TCPRULES, cdb, `${cdb}.tmp`], input, {}, OUR_TIMEOUT_MS);
}

function dump(cdb: string): Buffer {
  const r = run([TINYCDB, '-d', cdb], '', {}, OUR_TIMEOUT_MS);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

let counter = 0;
function fresh(name: string): string {
  return join(dir, `${name}-${counter++}.cdb`);
}

/** Every rule form Debian's tcprules stores the same way ours does. */
const DEBIAN_FORMS = [
  '1.2.3.4:allow',
  '1.2.3.4:deny',
  '1.2.3.:allow',
  '10.:deny',
  '=host.example:allow',
  '=.example:deny',
  '=:allow',
  ':deny',
  ':allow,DEFAULT="1"',
  'joe@1.2.3.4:allow',
  'joe@=host.example:deny',
  '0000:0000:0000:0000:0000:0000:0000:0001:allow',
  'FE80:0000:0000:0000:0000:0000:0000:000A:deny,V6="yes"',
  '1.2.3.4:allow,X="a:b",Y=#c,d#',
  "1.2.3.4:allow,Q='say \"hi\"',E=\"\"",
  '1.2.3.4:deny,X="1",Y="2"',
  '1.2.3.4:allow,A,B=xyx',
  ':allow,="x"',
  '1.2.3.4-6:allow',
  '1.2.3.253-300:allow,TOP="capped"',
  '1.2.3.254-1000000000000:allow,TOP="long"',
  '1.2-3.4:allow',
  '1.2.3-4.:allow',
  ' 1.2.3.4:allow',
  '1.2.3.4 :allow',
  '1.2.3.5:allow   \t',
  '=a,b:allow',
  '# a comment',
  '',
  '=bücher.example:allow,N="é"',
];

test('tcprules writes the same cdb as Debian for every form Debian supports', () => {
  for (const line of DEBIAN_FORMS) {
    const debian = fresh('debian');
    const ours = fresh('ours');
    const d = debianTcprules(debian, `${line}\n`);
    const o = ourTcprules(ours, `${line}\n`);
    assert.equal(d.status, 0, `${line}: ${d.stderr}`);
    assert.equal(o.status, 0, `${line}: ${o.stderr}`);
    assert.deepEqual(dump(ours), dump(debian), line);
    assert.deepEqual(readFileSync(ours), readFileSync(debian), line);
  }
});

test('tcprules writes the same cdb as Debian for all forms in one file, with duplicates', () => {
  const text = `${DEBIAN_FORMS.join('\n')}\n1.2.3.4:allow,DUP="second"\n:allow`;
  const debian = fresh('debian-all');
  const ours = fresh('ours-all');
  assert.equal(debianTcprules(debian, text).status, 0);
  assert.equal(ourTcprules(ours, text).status, 0);
  assert.deepEqual(dump(ours), dump(debian));
  assert.deepEqual(readFileSync(ours), readFileSync(debian));
});

/** Forms only ucspi-tcp6's syntax has: our keys against the SPEC.md encoding. */
const EXTENDED_FORMS: Array<[string, string]> = [
  ['10.0.0.0/8:allow', '+9,0:_0000e0g0->\n'],
  ['127./8:allow', '+9,0:_0bcdefgh->\n'],
  ['192.168./16:allow', '+17,0:_ab000000i0k0m000->\n'],
  ['fe80::/10:deny', '+11,2:^`abcdef0g0->D\0\n'],
  ['::1/128:allow', `+129,0:^${'0'.repeat(127)}\`->\n`],
  ['::1:allow', '+39,0:0000:0000:0000:0000:0000:0000:0000:0001->\n'],
  ['fe80::a:deny', '+39,2:FE80:0000:0000:0000:0000:0000:0000:000A->D\0\n'],
  ['joe@::1:allow', '+43,0:joe@0000:0000:0000:0000:0000:0000:0000:0001->\n'],
  ['10.0.0.1-2:allow', '+8,0:10.0.0.1->\n+8,0:10.0.0.2->\n'],
];

test('tcprules writes SPEC.md keys for CIDR, compact IPv6 and ranges', () => {
  for (const [line, expected] of EXTENDED_FORMS) {
    const cdb = fresh('ext');
    const o = ourTcprules(cdb, `${line}\n`);
    assert.equal(o.status, 0, `${line}: ${o.stderr}`);
    assert.equal(dump(cdb).toString('latin1'), `${expected}\n`, line);
  }
});

const CHECK_RULES = [
  'joe@10.0.0.1:allow,WHO="joe"',
  'joe@=trusted.example:allow,WHO="joe-host"',
  '10.0.0.1:deny',
  '10.0.0.2:allow,A="1",B="x:y"',
  '10.0.0.3:allow,A="1",B="2"',
  '10.0.0.3:deny',
  '=trusted.example:allow,T="1"',
  '10.0.0.:allow,P="dot"',
  '10.1.:deny',
  '0000:0000:0000:0000:0000:0000:0000:0001:allow,LO="1"',
  '=.example:allow,S="example"',
  '=:allow,NAMED="1"',
  ':deny',
].join('\n');

/** [TCPREMOTEIP, TCPREMOTEHOST, TCPREMOTEINFO]; undefined leaves the variable unset. */
const CHECK_PEERS: Array<[string | undefined, string | undefined, string | undefined]> = [
  ['10.0.0.1', undefined, undefined],
  ['10.0.0.1', undefined, 'joe'],
  ['10.0.0.9', 'trusted.example', 'joe'],
  ['10.0.0.9', 'trusted.example', undefined],
  ['10.0.0.2', undefined, undefined],
  ['10.0.0.3', undefined, undefined],
  ['10.0.0.9', undefined, undefined],
  ['10.1.2.3', 'a.example', undefined],
  ['10.2.3.4', 'a.b.example', undefined],
  ['10.2.3.4', 'a.b.other', undefined],
  ['10.2.3.4', '', undefined],
  ['10.2.3.4', undefined, undefined],
  ['0000:0000:0000:0000:0000:0000:0000:0001', undefined, undefined],
  ['', undefined, undefined],
  [undefined, undefined, undefined],
];

function checkEnv(ip?: string, host?: string, info?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  if (ip !== undefined) env.TCPREMOTEIP = ip;
  if (host !== undefined) env.TCPREMOTEHOST = host;
  if (info !== undefined) env.TCPREMOTEINFO = info;
  return env;
}

test('tcprulescheck prints what Debian prints for a table of peers', () => {
  const cdb = fresh('check');
  assert.equal(debianTcprules(cdb, CHECK_RULES).status, 0);
  for (const [ip, host, info] of CHECK_PEERS) {
    const env = checkEnv(ip, host, info);
    const d = run([DEBIAN_TCPRULESCHECK, cdb], '', env, DEBIAN_TIMEOUT_MS);
    const o = run([process.execPath, OUR_TCPRULESCHECK, cdb], '', env, OUR_TIMEOUT_MS);
    const what = JSON.stringify(env);
    assert.equal(o.status, d.status, what);
    assert.equal(o.stdout.toString(), d.stdout.toString(), what);
    assert.equal(o.stderr, d.stderr, what);
  }
});

test('tcprulescheck matches and prints bytes that are not UTF-8 as Debian does (keys, values, TCPREMOTE*)', () => {
  const cdb = fresh('bytes');
  const rules = Buffer.concat([
    Buffer.from('caf\xe9@127.0.0.1:allow,NAME="gr\xfc\xdf"\n=h\xf6st:deny\n', 'latin1'),
    Buffer.from('127.0.0.1:allow,UTF="grüß"\n', 'utf8'),
  ]);
  assert.equal(debianTcprules(cdb, rules).status, 0);
  // Node passes a child only UTF-8: the shell sets the Latin-1 variables
  const peers = [
    'TCPREMOTEIP=127.0.0.1 TCPREMOTEINFO="$(printf \'caf\\351\')"',
    'TCPREMOTEIP=10.0.0.1 TCPREMOTEHOST="$(printf \'h\\366st\')"',
    'TCPREMOTEIP=127.0.0.1',
  ];
  const outputs: Buffer[] = [];
  for (const peer of peers) {
    const script = `${peer} exec "$@"`;
    const d = run(['/bin/sh', '-c', script, 'sh', DEBIAN_TCPRULESCHECK, cdb], '', {}, DEBIAN_TIMEOUT_MS);
    const o = run(['/bin/sh', '-c', script, 'sh', process.execPath, OUR_TCPRULESCHECK, cdb], '', {}, OUR_TIMEOUT_MS);
    assert.equal(o.status, d.status, peer);
    assert.equal(o.stdout.toString('hex'), d.stdout.toString('hex'), `${peer}: ${o.stdout.toString('latin1')}`);
    outputs.push(o.stdout);
  }
  assert.equal(outputs[0]?.toString('latin1'), 'rule caf\xe9@127.0.0.1:\nset environment variable NAME=gr\xfc\xdf\nallow connection\n');
  assert.equal(outputs[1]?.toString('latin1'), 'rule =h\xf6st:\ndeny connection\n');
  assert.equal(outputs[2]?.toString('utf8'), 'rule 127.0.0.1:\nset environment variable UTF=grüß\nallow connection\n');
});

test('tcprulescheck shows every + instruction as Debian does, one without = too, up to a D (a cdb from tinycdb)', () => {
  const cdb = fresh('raw');
  // records tcprules never writes: `+NAME` without `=`, an unknown instruction, bytes after the last NUL
  const records: Array<[string, string]> = [
    ['127.0.0.1', '+NOEQ\0+A=b\0Xjunk\0+C=d\0D\0+E=f\0tail'],
    ['10.0.0.1', '+X\0+Y=z\0trailing'],
  ];
  const input = `${records.map(([k, d]) => `+${k.length},${d.length}:${k}->${d}\n`).join('')}\n`;
  const made = run([TINYCDB, '-c', cdb], input, {}, OUR_TIMEOUT_MS);
  assert.equal(made.status, 0, made.stderr);
  const want = [
    'rule 127.0.0.1:\nset environment variable NOEQ\nset environment variable A=b\nset environment variable C=d\ndeny connection\n',
    'rule 10.0.0.1:\nset environment variable X\nset environment variable Y=z\nallow connection\n',
  ];
  records.forEach(([ip], i) => {
    const env = checkEnv(ip);
    const d = run([DEBIAN_TCPRULESCHECK, cdb], '', env, DEBIAN_TIMEOUT_MS);
    const o = run([process.execPath, OUR_TCPRULESCHECK, cdb], '', env, OUR_TIMEOUT_MS);
    assert.equal(d.stdout.toString('latin1'), want[i]);
    assert.equal(o.stdout.toString('latin1'), want[i]);
    assert.equal(o.status, d.status);
  });
});

test('tcprulescheck prints "default:" like Debian when no key matches', () => {
  const cdb = fresh('nodefault');
  assert.equal(debianTcprules(cdb, '1.2.3.4:deny\n').status, 0);
  const env = checkEnv('5.6.7.8');
  const d = run([DEBIAN_TCPRULESCHECK, cdb], '', env, DEBIAN_TIMEOUT_MS);
  const o = run([process.execPath, OUR_TCPRULESCHECK, cdb], '', env, OUR_TIMEOUT_MS);
  assert.equal(o.stdout.toString(), 'default:\nallow connection\n');
  assert.equal(o.stdout.toString(), d.stdout.toString());
});

test('tcprulescheck shows CIDR matches as address/prefix', () => {
  const cdb = fresh('cidr');
  assert.equal(ourTcprules(cdb, '10.0.0.0/8:allow,C="8"\nfe80::/10:deny\n:deny\n').status, 0);
  const v4 = run([process.execPath, OUR_TCPRULESCHECK, cdb], '', checkEnv('10.200.0.1'), OUR_TIMEOUT_MS);
  assert.equal(v4.stdout.toString(), 'rule 10.0.0.0/8:\nset environment variable C=8\nallow connection\n');
  const v6 = run([process.execPath, OUR_TCPRULESCHECK, cdb], '', { TCP6REMOTEIP: 'fe80::1' }, OUR_TIMEOUT_MS);
  assert.equal(v6.stdout.toString(), 'rule fe80::/10:\ndeny connection\n');
});

test('usage lines and exit codes match Debian', () => {
  const pairs: Array<[string[], string[]]> = [
    [[DEBIAN_TCPRULES], [process.execPath, OUR_TCPRULES]],
    [[DEBIAN_TCPRULES, 'only-one.cdb'], [process.execPath, OUR_TCPRULES, 'only-one.cdb']],
    [[DEBIAN_TCPRULESCHECK], [process.execPath, OUR_TCPRULESCHECK]],
  ];
  for (const [debianArgv, ourArgv] of pairs) {
    const d = run(debianArgv, '', {}, DEBIAN_TIMEOUT_MS);
    const o = run(ourArgv, '', {}, OUR_TIMEOUT_MS);
    assert.equal(o.status, 100);
    assert.equal(o.status, d.status);
    assert.equal(o.stderr, d.stderr);
  }
});

/** Bad lines Debian rejects (it spins on the others, so it only runs on these). */
const BAD_LINES_DEBIAN_REJECTS = ['1.2.3.4:allowx', '1.2.3.4:allow,X', '1.2.3.4:allow,X=', '1.2.3.4:allow,X="abc', 'a-b:allow'];
/** Bad lines only ours rejects: Debian's spins on the first ones, stores junk keys for the rest. */
const BAD_LINES_OURS_ONLY = ['garbage', '1.2.3.4:', '1.2.3.4:bogus', '   x', '10.0.0.0/33:allow', '::/0:allow', 'zz::1:allow', '1.2.3.9-3:allow'];

test('tcprules exits 100 naming the bad line, leaving the old cdb and no temp file', () => {
  for (const line of [...BAD_LINES_DEBIAN_REJECTS, ...BAD_LINES_OURS_ONLY]) {
    const cdb = fresh('bad');
    assert.equal(ourTcprules(cdb, ':allow\n').status, 0);
    const before = readFileSync(cdb);
    const o = ourTcprules(cdb, `1.2.3.4:allow\n${line}\n5.6.7.8:deny\n`);
    assert.equal(o.status, 100, line);
    assert.equal(o.stderr, `tcprules: fatal: unable to parse this line: ${line.trimEnd()}\n`, line);
    assert.deepEqual(readFileSync(cdb), before, line);
    assert.equal(existsSync(`${cdb}.tmp`), false, line);
  }
});

test('tcprules rejects the same lines as Debian with the same message', () => {
  for (const line of BAD_LINES_DEBIAN_REJECTS) {
    const d = debianTcprules(fresh('bad-debian'), `${line}\n`);
    const o = ourTcprules(fresh('bad-ours'), `${line}\n`);
    assert.equal(o.status, d.status, line);
    assert.equal(o.stderr, d.stderr, line);
  }
});

test('tcprules echoes a bad line byte for byte, as Debian does, whatever its bytes', () => {
  const line = Buffer.from('h\xffx:allowx', 'latin1');
  const input = Buffer.concat([line, Buffer.from('\n')]);
  const d = spawnSync(DEBIAN_TCPRULES, [fresh('raw-debian'), join(dir, 'raw-debian.tmp')], { input, timeout: DEBIAN_TIMEOUT_MS });
  const o = spawnSync(process.execPath, [OUR_TCPRULES, fresh('raw-ours'), join(dir, 'raw-ours.tmp')], { input, timeout: OUR_TIMEOUT_MS });
  assert.equal(o.status, 100);
  assert.deepEqual(o.stderr, Buffer.concat([Buffer.from('tcprules: fatal: unable to parse this line: '), line, Buffer.from('\n')]));
  assert.deepEqual(o.stderr, d.stderr);
});

test('tcprules refuses a temp file that is the cdb itself (exit 100), leaving the cdb as it was', () => {
  const cdb = fresh('same');
  assert.equal(ourTcprules(cdb, ':allow\n').status, 0);
  const before = readFileSync(cdb);
  const link = join(dir, 'same-link.tmp');
  symlinkSync(cdb, link);
  for (const tmp of [cdb, join(dir, '.', basename(cdb)), link]) {
    const o = run([process.execPath, OUR_TCPRULES, cdb, tmp], 'bad\n', {}, OUR_TIMEOUT_MS);
    assert.equal(o.status, 100, tmp);
    assert.equal(o.stderr, `tcprules: fatal: rules.tmp is rules.cdb: ${tmp}\ntcprules: usage: tcprules rules.cdb rules.tmp\n`, tmp);
    assert.deepEqual(readFileSync(cdb), before, tmp);
  }
});

test('tcprules reports an uncreatable temp file with exit 111', () => {
  const o = run([process.execPath, OUR_TCPRULES, join(dir, 'x.cdb'), join(dir, 'no', 'x.tmp')], ':allow\n', {}, OUR_TIMEOUT_MS);
  assert.equal(o.status, 111);
  assert.equal(o.stderr, `tcprules: fatal: unable to create ${join(dir, 'no', 'x.tmp')}: no such file or directory\n`);
});
