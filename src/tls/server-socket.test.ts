// Tests for serverTlsOver: a real loopback connection, accepted by the listener's own accept loop
// (a bare fd) or paused by a net.Server (the fallback's and a net.Socket's case), served by the TLS
// socket it makes, against Node's TLS client.
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { testCerts } from '../../test/integration/harness';
import { Accepted } from '../listen/accepted';
import { Listener } from '../listen/listener';
import { HELD_HIGH_WATER_BYTES, serverTlsOver, type ServerSocketOptions, type ServerTlsSocket } from './server-socket';

const WAIT_MS = 10_000;
let options: ServerSocketOptions;

before(() => {
  const certs = testCerts();
  options = { secureContext: tls.createSecureContext({ cert: readFileSync(join(certs, 'ec-server.pem')), key: readFileSync(join(certs, 'ec-server.key')) }), requestCert: false };
});

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out: ${what}`)), WAIT_MS)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const openFds = (): number => readdirSync('/proc/self/fd').length;

/**
 * One connection: our listener (its own accept: `onAccept` gets a bare fd), or with `viaServer` a
 * net.Server that accepts paused (`onAccept` gets its socket, wrapped), and a connected TLS client.
 */
async function connect(t: TestContext, onAccept: (conn: Accepted) => void, viaServer = false): Promise<{ client: tls.TLSSocket }> {
  let port: number;
  if (viaServer) {
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (raw) => {
      const conn = Accepted.fromSocket(raw);
      if (conn !== undefined) onAccept(conn);
    });
    t.after(() => server.close());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  } else {
    const listener = await Listener.open({ bind: { address: '127.0.0.1', family: 4, v6only: false }, port: 0, backlog: 16 }, onAccept);
    t.after(() => listener.close());
    port = listener.port;
  }
  const client = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
  client.on('error', () => {
    // a failed test shows in its assertions
  });
  t.after(() => client.destroy());
  await within(new Promise((r) => client.once('secureConnect', r)), 'client handshake');
  return { client };
}

function secure(t: TestContext, s: ServerTlsSocket): Promise<void> {
  t.after(() => s.socket.destroy());
  return within(new Promise((r) => s.socket.once('secure', r)), 'server handshake');
}

test('what comes before there is a reader is held, reading pauses past the high-water mark, and the reader gets all of it in order', async (t) => {
  let made: ServerTlsSocket | undefined;
  let bare: number | undefined;
  let fdsBefore = 0;
  let fdsAfter = 0;
  const conn = await connect(t, (accepted) => {
    bare = accepted.bareFd;
    fdsBefore = openFds();
    made = serverTlsOver(accepted, options);
    fdsAfter = openFds();
    // the TLS socket owns the fd now: destroying the accepted connection must not close it
    accepted.destroy();
  });
  assert.ok(bare !== undefined && bare >= 0, 'the listener handed over a bare fd');
  assert.ok(made !== undefined, 'serverTlsOver made a socket');
  assert.equal(fdsAfter, fdsBefore, 'the TLS socket opened the fd itself (no dup)');
  const s = made;
  await secure(t, s);
  const data = randomBytes(HELD_HIGH_WATER_BYTES * 8);
  conn.client.write(data);
  // past the mark the socket stops reading: the rest waits in the kernel and the client
  await within(
    (async () => {
      while (!s.socket.isPaused()) await new Promise((r) => setTimeout(r, 10));
    })(),
    'pause',
  );
  const got: Buffer[] = [];
  let total = 0;
  const all = new Promise<void>((resolve) => {
    s.read((bytes) => {
      got.push(Buffer.from(bytes)); // valid only during the call
      total += bytes.length;
      if (total >= data.length) resolve();
    });
  });
  await within(all, 'all bytes');
  assert.equal(total, data.length);
  assert.equal(sha(Buffer.concat(got)), sha(data));
});

test('the bytes the accepted socket read already are the first TLS input; the connection lives on one fd', async (t) => {
  let made: ServerTlsSocket | undefined;
  let fdsBefore = 0;
  let fdsAfter = 0;
  let buffered = 0;
  const conn = await connect(
    t,
    (accepted) => {
      // as the early-EOF watch: a 'readable' listener makes the socket read the ClientHello
      const raw = accepted.socket;
      const onReadable = (): void => {
        raw.off('readable', onReadable);
        buffered = raw.readableLength;
        fdsBefore = openFds();
        made = serverTlsOver(accepted, options);
        fdsAfter = openFds();
      };
      raw.on('readable', onReadable);
    },
    true,
  );
  assert.ok(made !== undefined);
  const s = made;
  assert.ok(buffered > 0, 'the accepted socket had read the ClientHello');
  assert.equal(fdsAfter, fdsBefore, "the dup replaced the accepted socket's fd");
  await secure(t, s);
  const echoed = new Promise<string>((resolve) => conn.client.once('data', (d: Buffer) => resolve(d.toString())));
  s.read((bytes) => s.socket.write(`echo ${bytes.toString()}`));
  conn.client.write('ping');
  assert.equal(await within(echoed, 'echo'), 'echo ping');
});

test('the client\'s close_notify ends only its side: ours still writes, then ends', async (t) => {
  let made: ServerTlsSocket | undefined;
  const conn = await connect(t, (accepted) => (made = serverTlsOver(accepted, options)));
  assert.ok(made !== undefined);
  const s = made;
  await secure(t, s);
  const received: Buffer[] = [];
  s.read((bytes) => received.push(Buffer.from(bytes)));
  const clientGot: Buffer[] = [];
  conn.client.on('data', (d: Buffer) => clientGot.push(d));
  const clientEnded = new Promise((r) => conn.client.once('end', r));
  conn.client.end('last words');
  await within(new Promise((r) => s.socket.once('end', r)), 'server end');
  assert.equal(Buffer.concat(received).toString(), 'last words');
  assert.equal(s.socket.writable, true);
  s.socket.end('answer after your end');
  await within(clientEnded, 'client end');
  assert.equal(Buffer.concat(clientGot).toString(), 'answer after your end');
});
