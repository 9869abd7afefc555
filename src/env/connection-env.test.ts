// Unit tests for the connection environment (order, -E, IPv6, unset names) and address normalising.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectionEnv, normalizeAddress, type ConnectionInfo } from './connection-env';

const V4: ConnectionInfo = {
  localIp: '127.0.0.1',
  localPort: 4433,
  localHost: 'lname',
  remoteIp: '127.0.0.9',
  remotePort: 40000,
  remoteHost: 'peer.test.example',
  remoteInfo: 'joe',
  ipv6: false,
};

test('connectionEnv(): IPv4 peer with names and info, reference order, PROTO=TCP last', () => {
  assert.deepEqual(connectionEnv(V4, true), [
    ['PROTO', 'TLS'],
    ['SSLLOCALIP', '127.0.0.1'],
    ['SSLLOCALPORT', '4433'],
    ['SSLLOCALHOST', 'lname'],
    ['SSLREMOTEIP', '127.0.0.9'],
    ['SSLREMOTEPORT', '40000'],
    ['SSLREMOTEHOST', 'peer.test.example'],
    ['SSLREMOTEINFO', 'joe'],
    ['TCPLOCALIP', '127.0.0.1'],
    ['TCPLOCALPORT', '4433'],
    ['TCPLOCALHOST', 'lname'],
    ['TCPREMOTEIP', '127.0.0.9'],
    ['TCPREMOTEPORT', '40000'],
    ['TCPREMOTEHOST', 'peer.test.example'],
    ['TCPREMOTEINFO', 'joe'],
    ['PROTO', 'TCP'],
  ]);
});

test('connectionEnv(): -E gives PROTO=TLS and only SSL* variables', () => {
  const env = connectionEnv(V4, false);
  assert.deepEqual(env.map(([n]) => n), [
    'PROTO', 'SSLLOCALIP', 'SSLLOCALPORT', 'SSLLOCALHOST', 'SSLREMOTEIP', 'SSLREMOTEPORT', 'SSLREMOTEHOST', 'SSLREMOTEINFO',
  ]);
  assert.deepEqual(env[0], ['PROTO', 'TLS']);
});

test('connectionEnv(): unknown names and no info unset the variables', () => {
  const info: ConnectionInfo = { localIp: '127.0.0.1', localPort: 1, remoteIp: '127.0.0.2', remotePort: 2, ipv6: false };
  const env = connectionEnv(info, true);
  const unset = env.filter(([, v]) => v === undefined).map(([n]) => n);
  assert.deepEqual(unset, ['SSLLOCALHOST', 'SSLREMOTEHOST', 'SSLREMOTEINFO', 'TCPLOCALHOST', 'TCPREMOTEHOST', 'TCPREMOTEINFO']);
  assert.equal(env.length, 16);
});

test('connectionEnv(): IPv6 peer adds PROTO=TCP6 and TCP6* in the reference order', () => {
  const info: ConnectionInfo = { localIp: '::1', localPort: 4433, remoteIp: '::1', remotePort: 5555, remoteHost: 'localhost', ipv6: true };
  const env = connectionEnv(info, true);
  assert.deepEqual(env.slice(15), [
    ['PROTO', 'TCP6'],
    ['TCP6LOCALIP', '::1'],
    ['TCP6LOCALHOST', undefined],
    ['TCP6LOCALPORT', '4433'],
    ['TCP6REMOTEIP', '::1'],
    ['TCP6REMOTEPORT', '5555'],
    ['TCP6REMOTEHOST', 'localhost'],
  ]);
  assert.deepEqual(env[4], ['SSLREMOTEIP', '::1']);
  assert.deepEqual(env[11], ['TCPREMOTEIP', '::1']);
});

test('connectionEnv(): TCP6INTERFACE only for a scoped IPv6 peer', () => {
  const info: ConnectionInfo = { localIp: 'fe80::1', localPort: 1, remoteIp: 'fe80::2', remotePort: 2, ipv6: true, interfaceName: 'eth0' };
  assert.deepEqual(connectionEnv(info, true).at(-1), ['TCP6INTERFACE', 'eth0']);
  assert.ok(!connectionEnv({ ...info, interfaceName: undefined }, true).some(([n]) => n === 'TCP6INTERFACE'));
  // interface is a TCP6 variable: not set with -E, and not for IPv4 peers
  assert.ok(!connectionEnv(info, false).some(([n]) => n === 'TCP6INTERFACE'));
  assert.ok(!connectionEnv({ ...V4, interfaceName: 'eth0' }, true).some(([n]) => n.startsWith('TCP6')));
});

test('connectionEnv(): IPv6 peer with -E has no TCP6 variables and PROTO=TLS', () => {
  const env = connectionEnv({ ...V4, localIp: '::1', remoteIp: '::1', ipv6: true }, false);
  assert.equal(env.length, 8);
  assert.ok(!env.some(([n]) => n.startsWith('TCP')));
});

test('connectionEnv(): applied in order, the last PROTO wins', () => {
  const apply = (entries: Array<[string, string | undefined]>): Record<string, string> => {
    const env: Record<string, string> = { SSLREMOTEHOST: 'stale', TCPREMOTEINFO: 'stale' };
    for (const [n, v] of entries) if (v === undefined) delete env[n]; else env[n] = v;
    return env;
  };
  assert.equal(apply(connectionEnv(V4, true)).PROTO, 'TCP');
  assert.equal(apply(connectionEnv({ ...V4, ipv6: true }, true)).PROTO, 'TCP6');
  assert.equal(apply(connectionEnv(V4, false)).PROTO, 'TLS');
  const noNames = apply(connectionEnv({ ...V4, remoteHost: undefined, remoteInfo: undefined }, true));
  assert.equal(noNames.SSLREMOTEHOST, undefined);
  assert.equal(noNames.TCPREMOTEINFO, undefined);
});

const ADDRESSES: Array<[input: string, ip: string, ipv6: boolean]> = [
  ['127.0.0.1', '127.0.0.1', false],
  ['0.0.0.0', '0.0.0.0', false],
  ['255.255.255.255', '255.255.255.255', false],
  ['::ffff:127.0.0.9', '127.0.0.9', false],
  ['::FFFF:10.1.2.3', '10.1.2.3', false],
  ['::ffff:7f00:1', '127.0.0.1', false],
  ['0:0:0:0:0:ffff:c000:0201', '192.0.2.1', false],
  ['::1', '::1', true],
  ['::', '::', true],
  ['0:0:0:0:0:0:0:1', '::1', true],
  ['fe80::1%lo', 'fe80::1', true],
  ['FE80::ABCD', 'fe80::abcd', true],
  ['2001:db8:0:0:0:0:0:1', '2001:db8::1', true],
  ['2001:0db8:0000:0001:0000:0000:0000:0001', '2001:db8:0:1::1', true],
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', true],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', true],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0', true],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8', true],
  ['64:ff9b::192.0.2.1', '64:ff9b::c000:201', true],
];

for (const [input, ip, ipv6] of ADDRESSES) {
  test(`normalizeAddress(${JSON.stringify(input)})`, () => {
    assert.deepEqual(normalizeAddress(input), { ip, ipv6 });
  });
}

for (const bad of ['', 'localhost', '1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7:8::', '12345::', ':::', 'g::1']) {
  test(`normalizeAddress(${JSON.stringify(bad)}) throws SyntaxError`, () => {
    assert.throws(() => normalizeAddress(bad), SyntaxError);
  });
}

test('normalizeAddress() agrees with Node for real sockets (dual-stack listener, IPv4 client)', async () => {
  const net = await import('node:net');
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '::', port: 0 }, resolve);
  });
  try {
    const { port } = server.address() as { port: number };
    const seen = new Promise<string>((resolve) => server.once('connection', (s) => { resolve(s.remoteAddress ?? ''); s.destroy(); }));
    const client = net.connect({ host: '127.0.0.1', port });
    client.on('error', () => undefined);
    const remote = await seen;
    client.destroy();
    assert.equal(remote, '::ffff:127.0.0.1');
    assert.deepEqual(normalizeAddress(remote), { ip: '127.0.0.1', ipv6: false });
  } finally {
    server.close();
  }
});
