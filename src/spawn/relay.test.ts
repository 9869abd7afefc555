// Tests for the relay's bulk-output calls, between a real TCP socket pair and a real program, and
// for its handling of output it may not keep, over a real TLS connection.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import tls from 'node:tls';
import { prng } from '../../test/fixtures/prng';
import { testCerts } from '../../test/integration/harness';
import * as native from '../sys/native';
import { fdProgramIo, type ProgramIo, type ProgramIoHandlers } from './program-io';
import { relay, RELAY_BULK_BYTES } from './relay';

/** A connected pair over loopback: [our end for the relay, the peer]. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const peer = net.connect(port, '127.0.0.1');
  const ours = await accepted;
  server.close();
  return [ours, peer];
}

/** Relays what `io` gives to a peer over loopback; returns the bulk calls, the bytes the peer got, how it ended. */
async function relayToPeer(io: ProgramIo): Promise<{ calls: number; received: number; end: string }> {
  const [ours, peer] = await socketPair();
  let received = 0;
  peer.on('data', (c: Buffer) => (received += c.length));
  peer.on('end', () => peer.end());
  let calls = 0;
  const end = await relay(ours, io, { idleTimeoutMs: 10_000, lingerMs: 100, onBulkOutput: () => calls++ });
  return { calls, received, end: end.kind };
}

/** Relays `bytes` of a real program's output (`head -c`) to a peer. */
async function download(bytes: number): Promise<{ calls: number; received: number; end: string }> {
  const [inR, inW] = native.pipe();
  const [outR, outW] = native.pipe();
  const child = spawn('head', ['-c', String(bytes), '/dev/zero'], { stdio: [inR, outW, 'inherit'] });
  native.close(inR);
  native.close(outW);
  const result = await relayToPeer(fdProgramIo(inW, outR));
  await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
  return result;
}

test('onBulkOutput: once per RELAY_BULK_BYTES of the program\'s output, none below it', async () => {
  const big = await download(3 * RELAY_BULK_BYTES + 1000);
  assert.deepEqual(big, { calls: 3, received: 3 * RELAY_BULK_BYTES + 1000, end: 'done' });
  const small = await download(RELAY_BULK_BYTES - 1);
  assert.deepEqual(small, { calls: 0, received: RELAY_BULK_BYTES - 1, end: 'done' });
});

/** A program side that hands the relay `total` bytes of output in reads of `size`, then its end. */
function chunkedOutput(total: number, size: number): ProgramIo {
  return {
    start(h: ProgramIoHandlers) {
      setImmediate(() => {
        for (let left = total; left > 0; left -= size) h.output(Buffer.alloc(Math.min(size, left)), false);
        h.outputEnd();
      });
    },
    pauseOutput() {},
    resumeOutput() {},
    writeInput: () => true,
    endInput() {},
    destroy() {},
  };
}

test('onBulkOutput counts every byte: reads that do not divide RELAY_BULK_BYTES lose nothing', async () => {
  // 99,999-byte reads: a counter that started again from 0 at each call lost up to 99,998 bytes
  // a time and made 2 calls for these 3 MiB + 1000
  for (const [total, size, expected] of [
    [3 * RELAY_BULK_BYTES + 1000, 99_999, 3],
    [3 * RELAY_BULK_BYTES - 1, 99_999, 2],
    [2 * RELAY_BULK_BYTES, 2 * RELAY_BULK_BYTES, 2], // one read past two marks: two calls
  ] as const) {
    assert.deepEqual(await relayToPeer(chunkedOutput(total, size)), { calls: expected, received: total, end: 'done' });
  }
});

let keyPair: { key: Buffer; cert: Buffer };
before(() => {
  const certs = testCerts();
  keyPair = { cert: readFileSync(join(certs, 'ec-server.pem')), key: readFileSync(join(certs, 'ec-server.key')) };
});

/**
 * A program side that hands out `reads` reads of `size` seeded random bytes as the addon does:
 * all from one buffer, marked transient, which is overwritten right after each call; several
 * reads a turn (the second finds the first's TLS write in flight), pausing when told to.
 * @returns the io and the SHA-256 of everything it hands out
 */
function reusedBufferOutput(reads: number, size: number, seed: number): { io: ProgramIo; sha: string } {
  const rand = prng(seed);
  const stream = Buffer.alloc(reads * size);
  for (let i = 0; i < stream.length; i += 4) stream.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
  const sha = createHash('sha256').update(stream).digest('hex');
  const scratch = Buffer.alloc(size);
  let next = 0;
  let paused = false;
  let h: ProgramIoHandlers | undefined;
  const turn = (): void => {
    for (let k = 0; k < 4 && !paused && next < reads; k++, next++) {
      stream.copy(scratch, 0, next * size, (next + 1) * size);
      h?.output(scratch, true);
      scratch.fill(0xee); // what a relay that kept the view would send
    }
    if (next === reads) h?.outputEnd();
    else if (!paused) setImmediate(turn);
  };
  const io: ProgramIo = {
    start(handlers) {
      h = handlers;
      setImmediate(turn);
    },
    pauseOutput: () => void (paused = true),
    resumeOutput() {
      if (!paused) return;
      paused = false;
      setImmediate(turn);
    },
    writeInput: () => true,
    endInput() {},
    destroy: () => void (h = undefined),
  };
  return { io, sha };
}

test('output valid only during the call reaches a TLS client intact, whether TLS takes it at once or it waits behind a write', async (t) => {
  const { io, sha } = reusedBufferOutput(256, 65536, 11);
  const server = tls.createServer(keyPair);
  t.after(() => server.close());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  const ended = new Promise<string>((resolve) => server.once('secureConnection', (sock: tls.TLSSocket) => void relay(sock, io, { idleTimeoutMs: 10_000, lingerMs: 100 }).then((e) => resolve(e.kind))));
  const hash = createHash('sha256');
  let n = 0;
  const got = new Promise<void>((resolve, reject) => {
    const c = tls.connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
    t.after(() => c.destroy());
    // not reading at first: the server's socket fills, its TLS writes wait, later reads queue
    c.pause();
    setTimeout(() => c.resume(), 200);
    c.on('data', (d: Buffer) => {
      hash.update(d);
      n += d.length;
    });
    c.on('end', () => c.end());
    c.on('error', reject);
    c.on('close', () => resolve());
  });
  await got;
  assert.equal(await ended, 'done');
  assert.equal(n, 256 * 65536);
  assert.equal(hash.digest('hex'), sha);
});
