// Rules: -x and -y cdbs compiled by our tcprules, for IPv4, IPv6 and CIDR; -X; rules' variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { FIXTURES, NOBODY, TCPRULES, parseEnv, serverTmpDir, startServer, testCerts, tlsExchange } from './harness';

const PRINT_ENV = join(FIXTURES, 'print-env.sh');

/** Compiles rules text with our tcprules into DIR/NAME. */
function compile(dir: string, name: string, text: string): string {
  const cdb = join(dir, name);
  execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], { input: text });
  return cdb;
}

/** One TLS exchange; '' when the server closed without a handshake (a deny). */
async function tryExchange(port: number, host = '127.0.0.1', localAddress?: string): Promise<string> {
  try {
    return (await tlsExchange(port, '', { host, ...(localAddress === undefined ? {} : { localAddress }) })).data.toString();
  } catch {
    return '';
  }
}

test('-x: deny, allow with variables, CIDR and IPv6 rules, first match wins', async () => {
  const dir = serverTmpDir('rules-');
  try {
    const cdb = compile(
      dir,
      'rules.cdb',
      [
        '127.0.0.2:deny',
        '127.0.0.3:allow,GREETING="hi there",TCPREMOTEIP="fake"',
        '127.0.0.0/8:allow,NET="loopback"',
        '::1:allow,V6="yes"',
        ':deny',
      ].join('\n') + '\n',
    );
    const s = await startServer(['-v', '-x', cdb, '-H', '-R', ':0', '0', PRINT_ENV]);
    try {
      assert.equal(await tryExchange(s.port, '127.0.0.1', '127.0.0.2'), '');
      assert.match(await s.waitFor(/ deny /), /^sslserver: deny [0-9]+ :127\.0\.0\.1:[0-9]+ :127\.0\.0\.2::[0-9]+$/);
      const e3 = parseEnv(await tryExchange(s.port, '127.0.0.1', '127.0.0.3'));
      assert.equal(e3.get('GREETING'), 'hi there');
      assert.equal(e3.get('TCPREMOTEIP'), '127.0.0.3', 'connection variables win over rules');
      assert.equal(e3.has('NET'), false);
      const e4 = parseEnv(await tryExchange(s.port, '127.0.0.1', '127.0.0.4'));
      assert.equal(e4.get('NET'), 'loopback');
      const e6 = parseEnv(await tryExchange(s.port, '::1'));
      assert.equal(e6.get('V6'), 'yes');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('-x picks up a cdb replaced by tcprules while the server runs', async () => {
  const dir = serverTmpDir('rules-');
  try {
    const cdb = compile(dir, 'rules.cdb', ':deny\n');
    const s = await startServer(['-x', cdb, '-H', '-R', '127.0.0.1', '0', PRINT_ENV]);
    try {
      assert.equal(await tryExchange(s.port), '');
      const next = compile(dir, 'next.cdb', ':allow,GEN="2"\n');
      renameSync(next, cdb);
      assert.equal(parseEnv(await tryExchange(s.port)).get('GEN'), '2');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('-y denies before anything else; a -y allow skips -x', async () => {
  const dir = serverTmpDir('rules-');
  try {
    const y = compile(dir, 'ip.cdb', '127.0.0.2:deny\n127.0.0.3:allow,EARLY="1"\n');
    const x = compile(dir, 'x.cdb', ':deny\n');
    const s = await startServer(['-v', '-y', y, '-x', x, '-H', '-R', '127.0.0.1', '0', PRINT_ENV]);
    try {
      assert.equal(await tryExchange(s.port, '127.0.0.1', '127.0.0.2'), '');
      await s.waitFor(/^sslserver: deny .*:127\.0\.0\.2::/);
      assert.equal(parseEnv(await tryExchange(s.port, '127.0.0.1', '127.0.0.3')).get('EARLY'), '1');
      assert.equal(await tryExchange(s.port, '127.0.0.1', '127.0.0.4'), '', 'no -y match: -x denies');
      assert.equal(s.lines().some((l) => / pid [0-9]+ from 127\.0\.0\.2$/.test(l)), false, 'no program ran for the -y deny');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a missing rules file drops the connection unless -X, and the listener carries on', async () => {
  const dir = serverTmpDir('rules-');
  try {
    const missing = join(dir, 'missing.cdb');
    const s = await startServer(['-x', missing, '-H', '-R', '127.0.0.1', '0', PRINT_ENV]);
    try {
      assert.equal(await tryExchange(s.port), '');
      assert.equal(await s.waitFor(/unable to read/), `sslserver: fatal: (110) unable to read: ${missing}`);
      assert.equal(await tryExchange(s.port), '', 'still listening, still dropping');
    } finally {
      await s.stop();
    }
    const s2 = await startServer(['-X', '-x', missing, '-H', '-R', '127.0.0.1', '0', PRINT_ENV]);
    try {
      assert.equal(parseEnv(await tryExchange(s2.port)).get('PROTO'), 'TCP');
    } finally {
      await s2.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('a rule can choose the certificate of its connections (CERTFILE/KEYFILE), read as nobody after a root start', async () => {
  const dir = serverTmpDir('rules-');
  try {
    const c = testCerts();
    // a root start without SSL identity reads per-rule files as nobody: the admin gives nobody
    // this key; a root-only key (the test CA's 0600 one) is out of reach and drops its connections
    copyFileSync(join(c, 'ec-server.pem'), join(dir, 'ec.pem'));
    copyFileSync(join(c, 'ec-server.key'), join(dir, 'ec.key'));
    chownSync(join(dir, 'ec.key'), NOBODY.uid, NOBODY.gid);
    chmodSync(join(dir, 'ec.key'), 0o400);
    const cdb = compile(
      dir,
      'rules.cdb',
      `127.0.0.5:allow,CERTFILE="${join(dir, 'ec.pem')}",KEYFILE="${join(dir, 'ec.key')}"\n` +
        `127.0.0.6:allow,CERTFILE="${join(c, 'ec-server.pem')}",KEYFILE="${join(c, 'ec-server.key')}"\n`,
    );
    const s = await startServer(['-X', '-x', cdb, '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')]);
    try {
      const rsa = await tlsExchange(s.port, '', { localAddress: '127.0.0.4' });
      assert.equal(rsa.peer?.publicKey.asymmetricKeyType, 'rsa');
      const ec = await tlsExchange(s.port, '', { localAddress: '127.0.0.5' });
      assert.equal(ec.peer?.publicKey.asymmetricKeyType, 'ec');
      assert.equal(ec.data.toString(), 'hello from 127.0.0.5\n');
      await assert.rejects(tlsExchange(s.port, '', { localAddress: '127.0.0.6' }));
      assert.equal(await s.waitFor(/ec-server\.key/), `sslserver: error: (111) unable to load key: ${join(c, 'ec-server.key')}`);
      assert.equal((await tlsExchange(s.port, '', { localAddress: '127.0.0.4' })).data.toString(), 'hello from 127.0.0.4\n', 'the listener carries on');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});

test('-x: an IPv6 CIDR rule matches a peer inside the prefix', async () => {
  const dir = serverTmpDir('rules-');
  try {
    const cdb = compile(dir, 'rules.cdb', '::/64:allow,V6NET="yes"\n::2:deny\n:deny\n');
    const s = await startServer(['-x', cdb, '-H', '-R', '::1', '0', PRINT_ENV]);
    try {
      assert.equal(parseEnv(await tryExchange(s.port, '::1')).get('V6NET'), 'yes');
    } finally {
      await s.stop();
    }
  } finally {
    rmSync(dir, { recursive: true });
  }
});
