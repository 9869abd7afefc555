// Lookups end to end: PTR (IPv4/IPv6), -H, -p, -l, host/info rules, IDENT (-r/-R), hostile DNS and IDENT
// answers, and a normal client's latency while 50 connections wait on a silent resolver and IDENT server.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { FIXTURES, TCPRULES, parseEnv, serverLoops, serverTmpDir, startServer, tlsExchange, type RunningServer } from './harness';
import { startDnsServer, TYPE_A, TYPE_AAAA, TYPE_PTR, type DnsBehaviour, type TestDnsServer } from '../fixtures/dns-server';
import { startIdentServer, type IdentBehaviour, type TestIdentServer } from '../fixtures/ident-server';
import { ptrQueryName } from '../../src/lookup/dns';

const PRINT_ENV = join(FIXTURES, 'print-env.sh');
const DNS = '127.0.5.53';
const ENV = { DNSCACHEIP: DNS };
const SILENT = '127.0.0.66';

const ZONE: Record<string, DnsBehaviour> = {
  [ptrQueryName('127.0.0.1')]: [{ type: TYPE_PTR, data: 'local.test.example' }],
  [ptrQueryName('127.0.0.3')]: [{ type: TYPE_PTR, data: 'Peer.Test.Example' }],
  'peer.test.example': [{ type: TYPE_A, data: '127.0.0.3' }],
  [ptrQueryName('127.0.0.4')]: [{ type: TYPE_PTR, data: 'liar.test.example' }],
  'liar.test.example': [{ type: TYPE_A, data: '10.9.9.9' }],
  [ptrQueryName('127.0.0.5')]: [{ type: TYPE_PTR, data: [Buffer.from('a\x01\x7fb'), Buffer.from('x%y:z'), Buffer.from('ex')] }],
  [ptrQueryName('127.0.0.6')]: [{ type: TYPE_PTR, data: [63, 63, 63, 63, 48].map((n, i) => Buffer.alloc(n, 97 + i)) }],
  [ptrQueryName('127.0.0.7')]: 'truncated',
  [ptrQueryName('127.0.0.8')]: 'malformed',
  [ptrQueryName('127.0.0.13')]: [{ type: TYPE_PTR, data: 'x.suffix.example' }],
  [ptrQueryName(SILENT)]: 'silent',
  [ptrQueryName('::1')]: [{ type: TYPE_PTR, data: 'six.test.example' }],
  'six.test.example': [{ type: TYPE_AAAA, data: '::1' }],
};

// IDENT answers by the client's source address (the server asks the peer's port 113)
const IDENT: Record<string, IdentBehaviour | ((r: number, l: number) => string)> = {
  '127.0.0.3': (r, l) => `${r} , ${l} : USERID : UNIX : joe\r\n`,
  '::1': (r, l) => `${r} , ${l} : USERID : UNIX : six\r\n`,
  '127.0.0.10': 'flood',
  '127.0.0.11': { noNewline: 'x' },
  '127.0.0.12': 'silent',
  '127.0.0.14': (r, l) => `${r} , ${l} : USERID : UNIX : bad:us%er\x01\r\n`,
  [SILENT]: 'silent',
};

/** One TLS connection from `from` to the server; the program's environment. */
async function envFrom(s: RunningServer, from: string, host = '127.0.0.1'): Promise<Map<string, string>> {
  const { data } = await tlsExchange(s.port, '', { host, localAddress: from });
  return parseEnv(data.toString());
}

describe('sslserver lookups', () => {
  let dns: TestDnsServer;
  const idents: TestIdentServer[] = [];
  let dir: string;
  before(async () => {
    dns = await startDnsServer(DNS, (name) => ZONE[name]);
    for (const [addr, b] of Object.entries(IDENT)) idents.push(await startIdentServer(addr, ([r, l]) => (typeof b === 'function' ? b(r, l) : b)));
    dir = serverTmpDir('lookups-');
  });
  after(async () => {
    await dns.close();
    for (const i of idents) await i.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const identQueriesFrom = (addr: string): number => idents[Object.keys(IDENT).indexOf(addr)]?.queries.length ?? 0;

  it('-h -r: names and IDENT for an IPv4 peer, in the environment and the ok line', async () => {
    const s = await startServer(['-v', '-h', '-r', '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    try {
      const env = await envFrom(s, '127.0.0.3');
      for (const [k, v] of [['SSLLOCALHOST', 'local.test.example'], ['TCPLOCALHOST', 'local.test.example'], ['SSLREMOTEHOST', 'peer.test.example'], ['TCPREMOTEHOST', 'peer.test.example'], ['SSLREMOTEINFO', 'joe'], ['TCPREMOTEINFO', 'joe']]) assert.equal(env.get(k), v, k);
      const ok = await s.waitFor(/^sslserver: ok /);
      assert.match(ok, new RegExp(`^sslserver: ok [0-9]+ local\\.test\\.example:127\\.0\\.0\\.1:${s.port} peer\\.test\\.example:127\\.0\\.0\\.3:joe:[0-9]+$`));
      const unknown = await envFrom(s, '127.0.0.9');
      assert.equal(unknown.has('SSLREMOTEHOST'), false, 'an unresolvable peer has no name');
      assert.equal(unknown.get('SSLLOCALHOST'), 'local.test.example');
      // cached per local address in each event loop: at most one query per loop, not one per connection
      const localQueries = dns.queries.filter((q) => q.name === ptrQueryName('127.0.0.1')).length;
      assert.ok(localQueries >= 1 && localQueries <= serverLoops(), `the local name is looked up once per loop: ${localQueries} queries`);
    } finally {
      await s.stop();
    }
  });

  it('-h -r: names and IDENT for an IPv6 peer', async () => {
    const s = await startServer(['-v', '-h', '-r', '-l', 'lname', '::1', '0', PRINT_ENV], { env: ENV });
    try {
      const env = await envFrom(s, '::1', '::1');
      for (const [k, v] of [['SSLREMOTEHOST', 'six.test.example'], ['TCP6REMOTEHOST', 'six.test.example'], ['SSLREMOTEINFO', 'six'], ['SSLLOCALHOST', 'lname']]) assert.equal(env.get(k), v, k);
    } finally {
      await s.stop();
    }
  });

  it('-H -R -l: no PTR and no IDENT query at all', async () => {
    const s = await startServer(['-v', '-H', '-R', '-l', 'given', '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    try {
      const before = dns.queries.length;
      const identsBefore = identQueriesFrom('127.0.0.3');
      const env = await envFrom(s, '127.0.0.3');
      assert.equal(env.get('SSLLOCALHOST'), 'given');
      assert.equal(env.has('SSLREMOTEHOST'), false);
      assert.equal(env.has('SSLREMOTEINFO'), false);
      assert.equal(dns.queries.length, before);
      assert.equal(identQueriesFrom('127.0.0.3'), identsBefore);
    } finally {
      await s.stop();
    }
  });

  it('-p keeps a name whose A records hold the peer, drops one that does not', async () => {
    const s = await startServer(['-v', '-p', '-l', 'l', '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    try {
      assert.equal((await envFrom(s, '127.0.0.3')).get('SSLREMOTEHOST'), 'peer.test.example');
      assert.equal((await envFrom(s, '127.0.0.4')).has('SSLREMOTEHOST'), false);
      assert.ok(dns.queries.some((q) => q.name === 'liar.test.example' && q.type === TYPE_A));
    } finally {
      await s.stop();
    }
  });

  it('-x rules keyed by info@ip, =host and =.suffix apply after the lookups', async () => {
    const cdb = join(dir, 'rules.cdb');
    execFileSync(process.execPath, [TCPRULES, cdb, `${cdb}.tmp`], { input: 'joe@127.0.0.3:allow,RULE="info"\n=peer.test.example:allow,RULE="host"\n=.suffix.example:allow,RULE="suffix"\n:allow,RULE="default"\n' });
    const withInfo = await startServer(['-v', '-r', '-l', 'l', '-x', cdb, '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    try {
      assert.equal((await envFrom(withInfo, '127.0.0.3')).get('RULE'), 'info');
    } finally {
      await withInfo.stop();
    }
    const noInfo = await startServer(['-v', '-R', '-l', 'l', '-x', cdb, '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    try {
      assert.equal((await envFrom(noInfo, '127.0.0.3')).get('RULE'), 'host');
      assert.equal((await envFrom(noInfo, '127.0.0.13')).get('RULE'), 'suffix');
      assert.equal((await envFrom(noInfo, '127.0.0.9')).get('RULE'), 'default');
    } finally {
      await noInfo.stop();
    }
  });

  it('-T runs from the end of the lookups: a silent IDENT server longer than -T still gets the client served', async () => {
    // the reference's handshake timeout starts with its handshake; -t 2 > -T 1 would drop every such client otherwise
    const s = await startServer(['-v', '-r', '-t', '2', '-T', '1', '-l', 'l', '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    try {
      const t0 = Date.now();
      const env = await envFrom(s, '127.0.0.12');
      const took = Date.now() - t0;
      assert.equal(env.get('SSLREMOTEIP'), '127.0.0.12');
      assert.equal(env.has('SSLREMOTEINFO'), false, 'the IDENT query timed out');
      assert.ok(took >= 1800, `served after ${took} ms: the IDENT wait (-t 2) came first`);
      assert.deepEqual(s.lines().filter((l) => /warning|fatal|error/.test(l)), []);
    } finally {
      await s.stop();
    }
  });

  it('hostile PTR answers: escaped name, or no name; hostile IDENT replies: sanitised or unset', async () => {
    const s = await startServer(['-v', '-h', '-r', '-t', '1', '-l', 'l', '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    try {
      assert.equal((await envFrom(s, '127.0.0.5')).get('SSLREMOTEHOST'), 'a\\001\\177b.x\\045y\\072z.ex', 'control bytes, % and : as \\ooo');
      for (const from of ['127.0.0.6', '127.0.0.7', '127.0.0.8']) assert.equal((await envFrom(s, from)).has('SSLREMOTEHOST'), false, from);
      for (const from of ['127.0.0.10', '127.0.0.11', '127.0.0.12']) assert.equal((await envFrom(s, from)).has('SSLREMOTEINFO'), false, from);
      assert.equal((await envFrom(s, '127.0.0.14')).get('SSLREMOTEINFO'), 'bad?us?er?');
      const ok5 = await s.waitFor(/^sslserver: ok [0-9]+ l:127\.0\.0\.1:[0-9]+ [^:]*:127\.0\.0\.5:/);
      assert.match(ok5, /^sslserver: ok [0-9]+ l:127\.0\.0\.1:[0-9]+ a\\001\\177b\.x\\045y\\072z\.ex:127\.0\.0\.5::[0-9]+$/);
      assert.deepEqual(s.lines().filter((l) => /warning|fatal|error/.test(l)), [], 'no log lines beyond the usual');
    } finally {
      await s.stop();
    }
  });

  it('50 connections waiting on a silent resolver and IDENT server do not hold up a normal client', async () => {
    // -b 100: the 50 connect at once, past the default queue of 20 (the kernel would hold back the rest)
    const s = await startServer(['-v', '-h', '-p', '-r', '-t', '5', '-c', '200', '-b', '100', '127.0.0.1', '0', PRINT_ENV], { env: ENV });
    const waiting: net.Socket[] = [];
    try {
      const t0 = performance.now();
      await envFrom(s, '127.0.0.3');
      const idleMs = performance.now() - t0;
      for (let i = 0; i < 50; i++) waiting.push(net.connect({ host: '127.0.0.1', port: s.port, localAddress: SILENT }));
      await Promise.all(waiting.map((w) => new Promise((res) => w.once('connect', res))));
      for (let i = 0; i < 50 && identQueriesFrom(SILENT) < 50; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(identQueriesFrom(SILENT), 50, 'all 50 are waiting on IDENT');
      const t1 = performance.now();
      const env = await envFrom(s, '127.0.0.3');
      const busyMs = performance.now() - t1;
      assert.equal(env.get('SSLREMOTEINFO'), 'joe');
      assert.ok(!s.lines().some((l) => l.includes(`:${SILENT}:`)), 'the 50 were still waiting when the normal client was served');
      assert.ok(waiting.every((w) => !w.destroyed));
      console.log(`# normal client: ${idleMs.toFixed(1)} ms alone, ${busyMs.toFixed(1)} ms with 50 connections on a silent resolver + IDENT`);
    } finally {
      for (const w of waiting) w.destroy();
      await s.stop();
    }
  });
});
