// DnsClient against a real DNS server on 127.0.6.53: names, hostile answers, paranoid check; name formats.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DnsClient, formatDnsName, ptrQueryName } from './dns';
import { startDnsServer, TYPE_A, TYPE_AAAA, TYPE_PTR, type DnsBehaviour, type TestDnsServer } from '../../test/fixtures/dns-server';

const SERVER = '127.0.6.53';
const ZONE: Record<string, DnsBehaviour> = {
  '3.0.0.127.in-addr.arpa': [{ type: TYPE_PTR, data: 'Client.Test.Example' }],
  'client.test.example': [{ type: TYPE_A, data: '127.0.0.3' }, { type: TYPE_AAAA, data: '::1' }],
  '4.0.0.127.in-addr.arpa': [{ type: TYPE_PTR, data: [Buffer.from('a\x01\x7fb'), Buffer.from('x%y:z'), Buffer.from('ex')] }],
  '5.0.0.127.in-addr.arpa': [{ type: TYPE_PTR, data: [63, 63, 63, 63, 48].map((n, i) => Buffer.alloc(n, 97 + i)) }],
  '6.0.0.127.in-addr.arpa': 'truncated',
  '7.0.0.127.in-addr.arpa': 'malformed',
  '8.0.0.127.in-addr.arpa': 'silent',
  [ptrQueryName('::1')]: [{ type: TYPE_PTR, data: 'six.test.example' }],
};

describe('DnsClient', () => {
  let server: TestDnsServer;
  let client: DnsClient;
  before(async () => {
    server = await startDnsServer(SERVER, (name) => ZONE[name]);
    client = new DnsClient({ servers: [SERVER] });
  });
  after(() => server.close());

  it('lookupPtr() gives the lowercased name for IPv4 and IPv6 peers', async () => {
    assert.deepEqual(await client.lookupPtr('127.0.0.3'), { text: 'client.test.example', name: 'Client.Test.Example' });
    assert.equal((await client.lookupPtr('::1'))?.text, 'six.test.example');
  });

  it('lookupPtr() never reads /etc/hosts (127.0.0.1 is localhost there, unknown here)', async () => {
    await assert.rejects(client.lookupPtr('127.0.0.1'), { code: 'ENOTFOUND' });
    assert.ok(server.queries.some((q) => q.name === '1.0.0.127.in-addr.arpa' && q.type === TYPE_PTR));
  });

  it('lookupPtr() turns control bytes, % and : into \\ooo', async () => {
    assert.equal((await client.lookupPtr('127.0.0.4'))?.text, 'a\\001\\177b.x\\045y\\072z.ex');
  });

  it('lookupPtr() rejects a 300-byte name, a truncated and a malformed packet', async () => {
    for (const ip of ['127.0.0.5', '127.0.0.6', '127.0.0.7']) {
      await assert.rejects(client.lookupPtr(ip), (err: Error & { code?: string }) => typeof err.code === 'string', ip);
    }
  });

  it('lookupPtr() ends with ETIMEOUT on a silent server (c-ares timeout and tries)', async () => {
    await assert.rejects(client.lookupPtr('127.0.0.8'), { code: 'ETIMEOUT' });
  });

  it('hasAddress() finds the peer in A and AAAA records, in any IPv6 spelling', async () => {
    assert.equal(await client.hasAddress('Client.Test.Example', '127.0.0.3'), true);
    assert.equal(await client.hasAddress('client.test.example', '127.0.0.9'), false);
    assert.equal(await client.hasAddress('client.test.example', '0:0::0:1'), true);
    await assert.rejects(client.hasAddress('six.test.example', '::1'), { code: 'ENOTFOUND' });
  });
});

describe('ptrQueryName()', () => {
  const cases: Array<[string, string]> = [
    ['127.0.0.3', '3.0.0.127.in-addr.arpa'],
    ['10.20.30.40', '40.30.20.10.in-addr.arpa'],
    ['::1', `1.${'0.'.repeat(31)}ip6.arpa`],
    ['2001:db8::567:89ab', 'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'],
  ];
  for (const [ip, name] of cases) it(`${ip} -> ${name}`, () => assert.equal(ptrQueryName(ip), name));
  it('throws TypeError on a non-address', () => assert.throws(() => ptrQueryName('host.example'), TypeError));
});

describe('formatDnsName()', () => {
  const cases: Array<[string, string | undefined]> = [
    ['Host.Example', 'host.example'],
    ['host.example.', 'host.example'],
    ['a_b.c/d', 'a\\137b.c\\057d'],
    ['a\\.b.ex', 'a\\056b.ex'],
    ['a\\001b.x%y:z', 'a\\001b.x\\045y\\072z'],
    ['a\\\\b', 'a\\134b'],
    ['', undefined],
    ['a..b', undefined],
    ['x'.repeat(254), undefined],
    ['a\\999', undefined],
  ];
  for (const [name, text] of cases) it(`${JSON.stringify(name.slice(0, 20))} -> ${String(text)}`, () => assert.equal(formatDnsName(name), text));
});
