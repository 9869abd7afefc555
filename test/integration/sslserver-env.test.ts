// What the program sees: environment (-e/-E/-s/-S), fds, argv, for IPv4 and IPv6, RSA/ECDSA/chain/-3,
// and the -v log lines of a connection; run for both spawn paths (native addon and child_process).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { openSync, closeSync, copyFileSync, existsSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FIXTURES, TCPRULES, TCPRULESCHECK, parseEnv, serverTmpDir, startServer, testCerts, tlsExchange, assertSpawnPath, spawnPathName } from './harness';

const PRINT_ENV = join(FIXTURES, 'print-env.sh');
// a program that prints its environment and exits without waiting for EOF: TLS 1.2 clients
// leave the close to the server (no half-close in TLS 1.2, see harness.ts)
const ENV_AND_EXIT = '/usr/bin/env';

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] default -e: PROTO=TCP, SSL* and TCP* variables for an IPv4 client, fds 0 1 2 only`, async () => {
    const s = await startServer(['-v', '-H', '-R', '-l', 'lname', '127.0.0.1', '0', PRINT_ENV, 'arg1'], { spawnImpl: impl });
    try {
      assertSpawnPath(s.proc.pid as number, impl);
      const { data, localPort } = await tlsExchange(s.port, 'ping\n');
      const out = data.toString();
      const env = parseEnv(out);
      const cport = String(localPort);
      const want: Record<string, string> = {
        PROTO: 'TCP',
        SSLLOCALIP: '127.0.0.1',
        SSLLOCALPORT: String(s.port),
        SSLLOCALHOST: 'lname',
        SSLREMOTEIP: '127.0.0.1',
        SSLREMOTEPORT: cport,
        TCPLOCALIP: '127.0.0.1',
        TCPLOCALPORT: String(s.port),
        TCPLOCALHOST: 'lname',
        TCPREMOTEIP: '127.0.0.1',
        TCPREMOTEPORT: cport,
      };
      for (const [k, v] of Object.entries(want)) assert.equal(env.get(k), v, k);
      for (const k of ['SSLREMOTEHOST', 'SSLREMOTEINFO', 'TCPREMOTEHOST', 'TCPREMOTEINFO', 'TCP6REMOTEIP', 'SSL_PROTOCOL', 'SSLCTLFD']) assert.equal(env.has(k), false, k);
      assert.equal(env.get('CERTFILE'), join(testCerts(), 'server.pem'), 'the server environment is inherited');
      assert.equal(env.get('ARGV'), `${PRINT_ENV} arg1`);
      assert.deepEqual(env.get('FDS')?.split(' ').map(Number).sort(), [0, 1, 2]);
      assert.match(out, /\n---\nping\n$/, 'stdin echoed back through TLS');
      const pidLine = await s.waitFor(/^sslserver: pid [0-9]+ from 127\.0\.0\.1$/);
      const pid = /pid ([0-9]+)/.exec(pidLine)?.[1];
      await s.waitFor(new RegExp(`^sslserver: ended by ${pid} status 0$`));
      const connectionLines = (): string[] => s.lines().filter((l) => !/^sslserver: (ciphers|cafile|ccafile|cadir|certchainfile|cert|key|dhparam) /.test(l));
      // the status line follows `ended by` in a separate write: wait for it, bounded
      for (let i = 0; i < 50 && connectionLines().length < 7; i++) await new Promise((r) => setTimeout(r, 100));
      const lines = connectionLines();
      assert.deepEqual(lines, [
        'sslserver: status: 0/40/40',
        'sslserver: status: 1/40/40',
        `sslserver: pid ${pid} from 127.0.0.1`,
        `sslserver: ok ${pid} lname:127.0.0.1:${s.port} :127.0.0.1::${cport}`,
        `sslserver: tls ${pid} accept`,
        `sslserver: ended by ${pid} status 0`,
        'sslserver: status: 0/40/40',
      ]);
    } finally {
      await s.stop();
    }
  });
}

// The shell puts in what Node cannot pass a child: a Latin-1 variable, and Latin-1 arguments
// where the test wrote @CAFE@ and @BANNER@.
const LATIN1_SHELL = [
  'LATIN="$(printf \'gr\\374\\337\')"; export LATIN',
  'for a do shift; case $a in @CAFE@) a="$(printf \'caf\\351\')";; @BANNER@) a="$(printf \'\\351t\\351\')";; esac; set -- "$@" "$a"; done',
  'exec "$@"',
].join('\n');

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] bytes that are not UTF-8 reach the program as they are: rules' values, inherited variables, arguments, -B`, async () => {
    const dir = serverTmpDir('bytes-');
    try {
      const cdb = join(dir, 'rules.cdb');
      const rules = Buffer.concat([Buffer.from('127.0.0.1:allow,LATIN_RULE="gr\xfc\xdf",UTF_RULE="', 'latin1'), Buffer.from('grüß"\n', 'utf8')]);
      execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], { input: rules });
      const s = await startServer(['-x', cdb, '-B', '@BANNER@', '-H', '-R', '127.0.0.1', '0', PRINT_ENV, '@CAFE@'], { spawnImpl: impl, shell: LATIN1_SHELL });
      try {
        assertSpawnPath(s.proc.pid as number, impl);
        const { data } = await tlsExchange(s.port, '');
        const has = (text: string, enc: BufferEncoding = 'latin1'): boolean => data.includes(Buffer.from(text, enc));
        assert.equal(data.subarray(0, 3).toString('latin1'), '\xe9t\xe9', '-B: the banner bytes, written by the server on every path');
        assert.ok(has('\nUTF_RULE=grüß\n', 'utf8'), 'UTF-8 from a rule stays UTF-8');
        if (spawnPathName(impl) === 'node') {
          // child_process takes strings and writes UTF-8: there the bytes are mended (README)
          assert.ok(has('\nLATIN_RULE=gr\ufffd\ufffd\n', 'utf8'), data.toString('latin1'));
          assert.ok(has('\nLATIN=gr\ufffd\ufffd\n', 'utf8'));
          assert.ok(has('\nARGV=@CAFE@ caf\ufffd\n'.replace('@CAFE@ ', `${PRINT_ENV} `), 'utf8'));
        } else {
          assert.ok(has('\nLATIN_RULE=gr\xfc\xdf\n'), data.toString('latin1'));
          assert.ok(has('\nLATIN=gr\xfc\xdf\n'), 'an inherited variable, byte for byte');
          assert.ok(has(`\nARGV=${PRINT_ENV} caf\xe9\n`), "the program's argument, byte for byte");
        }
      } finally {
        await s.stop();
      }
    } finally {
      rmSync(dir, { recursive: true });
    }
  });
}

test('file names that are not UTF-8 are opened by their bytes: tcprules, tcprulescheck, -x, CERTFILE and KEYFILE', async () => {
  const dir = serverTmpDir('names-');
  try {
    // Latin-1 names: D/café.pem, D/café.key, D/règles.cdb
    const latin = (name: string): Buffer => Buffer.concat([Buffer.from(`${dir}/`), Buffer.from(name, 'latin1')]);
    copyFileSync(join(testCerts(), 'server.pem'), latin('caf\xe9.pem'));
    copyFileSync(join(testCerts(), 'server.key'), latin('caf\xe9.key'));
    const rules = `"$D/$(printf 'r\\350gles')"`;
    const viaShell = (script: string, args: string[], input = ''): string =>
      execFileSync('/bin/sh', ['-c', script, 'sh', ...args], { input, env: { PATH: process.env.PATH, D: dir }, encoding: 'latin1' });
    viaShell(`exec "$@" ${rules}.cdb ${rules}.tmp`, [process.execPath, TCPRULES], '127.0.0.1:allow,NAMED="yes"\n');
    assert.ok(existsSync(latin('r\xe8gles.cdb')), 'tcprules wrote the cdb under its Latin-1 name');
    assert.equal(viaShell(`TCPREMOTEIP=127.0.0.1 exec "$@" ${rules}.cdb`, [process.execPath, TCPRULESCHECK]), 'rule 127.0.0.1:\nset environment variable NAMED=yes\nallow connection\n');
    const shell = [
      `CERTFILE="$D/$(printf 'caf\\351').pem"; KEYFILE="$D/$(printf 'caf\\351').key"; RULES=${rules}.cdb; export CERTFILE KEYFILE`,
      'for a do shift; case $a in @RULES@) a=$RULES;; esac; set -- "$@" "$a"; done',
      'exec "$@"',
    ].join('\n');
    const s = await startServer(['-x', '@RULES@', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], { shell, env: { D: dir } });
    try {
      const env = parseEnv((await tlsExchange(s.port, '')).data.toString('latin1'));
      assert.equal(env.get('NAMED'), 'yes', 'the rule from the Latin-1 cdb name');
      assert.equal(env.get('CERTFILE'), `${dir}/caf\xe9.pem`, 'the certificate from the Latin-1 name served the handshake');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('IPv6 client on ::1: PROTO=TCP6 and the TCP6* variables, compressed addresses', async () => {
  const s = await startServer(['-H', '-R', '-l', 'lname', '::1', '0', PRINT_ENV]);
  try {
    const { data, localPort } = await tlsExchange(s.port, '', { host: '::1' });
    const env = parseEnv(data.toString());
    assert.equal(env.get('PROTO'), 'TCP6');
    for (const p of ['SSL', 'TCP', 'TCP6']) {
      assert.equal(env.get(`${p}LOCALIP`), '::1', p);
      assert.equal(env.get(`${p}REMOTEIP`), '::1', p);
      assert.equal(env.get(`${p}LOCALPORT`), String(s.port), p);
      assert.equal(env.get(`${p}REMOTEPORT`), String(localPort), p);
      assert.equal(env.get(`${p}LOCALHOST`), 'lname', p);
    }
  } finally {
    await s.stop();
  }
});

test('dual stack ":0" takes IPv4 clients as plain IPv4 and SSLLOCALIP is the real local address', async () => {
  const s = await startServer(['-H', '-R', ':0', '0', PRINT_ENV]);
  try {
    assert.match(s.firstLine, /^:: : /);
    const v4 = parseEnv((await tlsExchange(s.port, '', { host: '127.0.0.1' })).data.toString());
    assert.equal(v4.get('PROTO'), 'TCP');
    assert.equal(v4.get('SSLREMOTEIP'), '127.0.0.1');
    assert.equal(v4.get('SSLLOCALIP'), '127.0.0.1', 'never the wildcard');
    const v6 = parseEnv((await tlsExchange(s.port, '', { host: '::1' })).data.toString());
    assert.equal(v6.get('PROTO'), 'TCP6');
    assert.equal(v6.get('SSLLOCALIP'), '::1');
  } finally {
    await s.stop();
  }
});

test('-E: PROTO=TLS and only the SSL* connection variables', async () => {
  const s = await startServer(['-E', '-H', '-R', '127.0.0.1', '0', PRINT_ENV]);
  try {
    const env = parseEnv((await tlsExchange(s.port)).data.toString());
    assert.equal(env.get('PROTO'), 'TLS');
    assert.equal(env.get('SSLREMOTEIP'), '127.0.0.1');
    assert.equal([...env.keys()].some((k) => k.startsWith('TCP')), false);
  } finally {
    await s.stop();
  }
});

/** `openssl x509` fields of a certificate file, for comparison with SSL_SERVER_*. */
function x509(file: string, what: string): string {
  return execFileSync('openssl', ['x509', '-in', file, '-noout', what, '-nameopt', 'compat'], { encoding: 'utf8' }).trim();
}

for (const [name, cert, key] of [
  ['RSA', 'server.pem', 'server.key'],
  ['ECDSA', 'ec-server.pem', 'ec-server.key'],
] as const) {
  test(`-s with an ${name} certificate: the SSL_* block matches openssl x509`, async () => {
    const c = testCerts();
    const s = await startServer(['-s', '-V', '-H', '-R', '127.0.0.1', '0', PRINT_ENV], { env: { CERTFILE: join(c, cert), KEYFILE: join(c, key) } });
    try {
      const env = parseEnv((await tlsExchange(s.port)).data.toString());
      assert.equal(env.get('SSL_PROTOCOL'), 'TLSv1.3');
      assert.match(env.get('SSL_SESSION_ID') ?? '', /^[0-9a-f]{64}$/);
      assert.match(env.get('SSL_CIPHER') ?? '', /^TLS_/);
      assert.equal(env.get('SSL_VERSION_INTERFACE'), 'ucspi-ssl');
      assert.equal(env.get('SSL_SERVER_M_VERSION'), '3');
      assert.equal(env.get('SSL_SERVER_M_SERIAL'), name === 'RSA' ? '4660' : '4661');
      assert.equal(`subject=${env.get('SSL_SERVER_S_DN')}`, x509(join(c, cert), '-subject'));
      assert.equal(`issuer=${env.get('SSL_SERVER_I_DN')}`, x509(join(c, cert), '-issuer'));
      assert.equal(`notBefore=${env.get('SSL_SERVER_V_START')}`, x509(join(c, cert), '-startdate'));
      assert.equal(env.get('SSL_SERVER_S_DN_CN'), 'localhost');
      assert.equal(env.get('SSL_SERVER_A_KEY'), name === 'RSA' ? 'rsaEncryption' : 'id-ecPublicKey');
      assert.equal(env.get('SSL_SERVER_A_SIG'), 'sha256WithRSAEncryption');
      assert.match(await s.waitFor(/ accept /), /^sslserver: tls [0-9]+ accept TLSv1\.3:TLS_/);
    } finally {
      await s.stop();
    }
  });
}

test('a chain file (CERTCHAINFILE, leaf first) is served whole and verifies against the root', async () => {
  const c = testCerts();
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')], {
    env: { CERTFILE: undefined, CERTCHAINFILE: join(c, 'chain.pem'), KEYFILE: join(c, 'chain-leaf.key') },
  });
  try {
    const { data, socket } = await tlsExchange(s.port, '', { rejectUnauthorized: true, ca: execFileSync('cat', [join(c, 'ca.pem')]), servername: 'localhost' });
    assert.equal(data.toString(), 'hello from 127.0.0.1\n');
    assert.equal(socket.authorized, true);
  } finally {
    await s.stop();
  }
});

test('-3 reads an encrypted key password from fd 3 (up to NUL)', async () => {
  const c = testCerts();
  const dir = mkdtempSync(join(tmpdir(), 'pw-'));
  writeFileSync(join(dir, 'pw'), 'secret\0ignored');
  const fd = openSync(join(dir, 'pw'), 'r');
  try {
    const s = await startServer(['-3', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')], { env: { KEYFILE: join(c, 'server-enc.key') }, extraStdio: [fd] });
    try {
      assert.equal((await tlsExchange(s.port)).data.toString(), 'hello from 127.0.0.1\n');
    } finally {
      await s.stop();
    }
  } finally {
    closeSync(fd);
  }
});

test('openssl s_client gets the program output over TLS 1.3 and TLS 1.2', async () => {
  const s = await startServer(['-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')]);
  try {
    for (const v of ['-tls1_3', '-tls1_2']) {
      const out = await new Promise<string>((res) => {
        const p = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${s.port}`, v, '-quiet'], { stdio: ['pipe', 'pipe', 'ignore'] });
        let o = '';
        p.stdout.on('data', (d: Buffer) => (o += d.toString()));
        p.on('exit', () => res(o));
        p.stdin.end();
      });
      assert.equal(out, 'hello from 127.0.0.1\n', v);
    }
  } finally {
    await s.stop();
  }
});

test('CIPHERS takes a TLS 1.2 cipher list (the reference rejects it) and TLS 1.3 suite names', async () => {
  const s = await startServer(['-s', '-H', '-R', '127.0.0.1', '0', ENV_AND_EXIT], { env: { CIPHERS: 'ECDHE-RSA-AES128-GCM-SHA256:TLS_AES_128_GCM_SHA256' } });
  try {
    const v12 = parseEnv((await tlsExchange(s.port, '', { maxVersion: 'TLSv1.2' })).data.toString());
    assert.equal(v12.get('SSL_PROTOCOL'), 'TLSv1.2');
    assert.equal(v12.get('SSL_CIPHER'), 'ECDHE-RSA-AES128-GCM-SHA256');
    const v13 = parseEnv((await tlsExchange(s.port)).data.toString());
    assert.equal(v13.get('SSL_PROTOCOL'), 'TLSv1.3');
    assert.equal(v13.get('SSL_CIPHER'), 'TLS_AES_128_GCM_SHA256');
  } finally {
    await s.stop();
  }
});

test('FORWARDSECRECY=1 removes RSA key transport even where CIPHERS names it', async () => {
  const s = await startServer(['-s', '-H', '-R', '127.0.0.1', '0', ENV_AND_EXIT], {
    env: { CIPHERS: 'AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256', FORWARDSECRECY: '1' },
  });
  try {
    await assert.rejects(tlsExchange(s.port, '', { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' }));
    const ok = parseEnv((await tlsExchange(s.port, '', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES128-GCM-SHA256' })).data.toString());
    assert.equal(ok.get('SSL_CIPHER'), 'ECDHE-RSA-AES128-GCM-SHA256');
  } finally {
    await s.stop();
  }
  // without the switch the same CIPHERS list still serves a client that offers only RSA key transport
  const s2 = await startServer(['-s', '-H', '-R', '127.0.0.1', '0', ENV_AND_EXIT], { env: { CIPHERS: 'AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256' } });
  try {
    const rsa = parseEnv((await tlsExchange(s2.port, '', { maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' })).data.toString());
    assert.equal(rsa.get('SSL_CIPHER'), 'AES128-GCM-SHA256');
  } finally {
    await s2.stop();
  }
});
