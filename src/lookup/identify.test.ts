// Lookups: -l, local-name cache, -H, -p, abort, IPv4-mapped peers, against a real DNS server on 127.0.7.53.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Lookups, type LookupOptions } from './identify';
import { withDeadline } from './deadline';
import { startDnsServer, TYPE_A, TYPE_PTR, type DnsBehaviour, type TestDnsServer } from '../../test/fixtures/dns-server';

const SERVER = '127.0.7.53';
const ZONE: Record<string, DnsBehaviour> = {
  '1.0.0.127.in-addr.arpa': [{ type: TYPE_PTR, data: 'local.test.example' }],
  '3.0.0.127.in-addr.arpa': [{ type: TYPE_PTR, data: 'peer.test.example' }],
  'peer.test.example': [{ type: TYPE_A, data: '127.0.0.3' }],
  '4.0.0.127.in-addr.arpa': [{ type: TYPE_PTR, data: 'liar.test.example' }],
  'liar.test.example': [{ type: TYPE_A, data: '10.9.9.9' }],
  '8.0.0.127.in-addr.arpa': 'silent',
};
const req = (remoteIp: string, localIp = '127.0.0.1') => ({ remoteIp, remotePort: 40000, localIp, localPort: 443, ipv6: remoteIp.includes(':') });

describe('Lookups.identify()', () => {
  let server: TestDnsServer;
  before(async () => {
    server = await startDnsServer(SERVER, (name) => ZONE[name]);
  });
  after(() => server.close());
  const make = (o: Partial<LookupOptions>) => new Lookups({ lookupRemoteHost: true, paranoid: false, lookupRemoteInfo: false, identTimeoutMs: 1000, resolvers: [SERVER], ...o });

  it('finds the local and remote names', async () => {
    assert.deepEqual(await make({}).identify(req('127.0.0.3')), { localHost: 'local.test.example', remoteHost: 'peer.test.example', paranoidRejected: false });
  });

  it('looks the local name up once per local address', async () => {
    const lookups = make({ lookupRemoteHost: false });
    const before = server.queries.filter((q) => q.name === '1.0.0.127.in-addr.arpa').length;
    for (let i = 0; i < 5; i++) assert.equal((await lookups.identify(req('127.0.0.3'))).localHost, 'local.test.example');
    assert.equal(server.queries.filter((q) => q.name === '1.0.0.127.in-addr.arpa').length - before, 1);
  });

  it('offline(): the same result as identify() only when -l NAME, -H and -R leave nothing to look up', async () => {
    const none = make({ localName: 'given', lookupRemoteHost: false });
    assert.deepEqual(none.offline(), await none.identify(req('127.0.0.3')));
    assert.equal(make({ lookupRemoteHost: false }).offline(), undefined);
    assert.equal(make({ localName: 'given' }).offline(), undefined);
    assert.equal(make({ localName: 'given', lookupRemoteHost: false, lookupRemoteInfo: true }).offline(), undefined);
  });

  it('-l and -H: no DNS at all', async () => {
    const n = server.queries.length;
    assert.deepEqual(await make({ localName: 'given', lookupRemoteHost: false }).identify(req('127.0.0.3')), { localHost: 'given', paranoidRejected: false });
    assert.equal(server.queries.length, n);
  });

  it('-p keeps a name whose A records hold the peer and drops one that lies', async () => {
    const lookups = make({ paranoid: true, localName: 'l' });
    assert.equal((await lookups.identify(req('127.0.0.3'))).remoteHost, 'peer.test.example');
    assert.deepEqual(await lookups.identify(req('127.0.0.4')), { localHost: 'l', paranoidRejected: true });
  });

  it('an IPv4-mapped peer is looked up as IPv4', async () => {
    assert.equal((await make({ localName: 'l' }).identify(req('::ffff:127.0.0.3'))).remoteHost, 'peer.test.example');
  });

  it('an unknown peer leaves the name unset', async () => {
    assert.deepEqual(await make({ localName: 'l' }).identify(req('127.0.0.9')), { localHost: 'l', paranoidRejected: false });
  });

  it('a silent resolver: the deadline ends the wait with no name', async () => {
    assert.deepEqual(await make({ localName: 'l', dnsDeadlineMs: 100 }).identify(req('127.0.0.8')), { localHost: 'l', paranoidRejected: false });
  });

  it('an abort ends the wait with no name', async () => {
    const gone = new AbortController();
    const p = make({ localName: 'l', dnsDeadlineMs: 60_000 }).identify(req('127.0.0.8'), gone.signal);
    setTimeout(() => gone.abort(), 20);
    assert.deepEqual(await p, { localHost: 'l', paranoidRejected: false });
  });
});

describe('withDeadline()', () => {
  it('passes a value, and gives undefined on rejection, deadline or abort', async () => {
    assert.equal(await withDeadline(Promise.resolve(1), 1000), 1);
    assert.equal(await withDeadline(Promise.reject(new Error('x')), 1000), undefined);
    assert.equal(await withDeadline(new Promise(() => undefined), 10), undefined);
    assert.equal(await withDeadline(Promise.resolve(1), 1000, AbortSignal.abort()), undefined);
  });
});
