// Tests for ProgramIo: a real program on real pipes, through the addon's fd watches and through
// child_process streams; the relay depends on the same behaviour from both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import * as native from '../sys/native';
import { BULK_PIPE_BYTES, fdProgramIo, INPUT_HIGH_WATER_BYTES, PIPE_GROW_AFTER_BYTES, streamProgramIo, type ProgramIo, type ProgramIoHandlers } from './program-io';

type Kind = 'fd' | 'stream';
const WAIT_MS = 10_000;

interface Started {
  io: ProgramIo;
  child: ChildProcess;
  exited: Promise<number | null>;
}

/** Starts `argv` with stdin and stdout on pipes whose other ends `kind` drives. */
function start(kind: Kind, argv: string[]): Started {
  const [file, ...args] = argv as [string, ...string[]];
  if (kind === 'stream') {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    return { io: streamProgramIo(child.stdin!, child.stdout!), child, exited };
  }
  const [inR, inW] = native.pipe();
  const [outR, outW] = native.pipe();
  const child = spawn(file, args, { stdio: [inR, outW, 'inherit'] });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  native.close(inR);
  native.close(outW);
  return { io: fdProgramIo(inW, outR), child, exited };
}

/** Records what the program side reports; `done` resolves at outputEnd. */
function collect(io: ProgramIo, extra: Partial<ProgramIoHandlers> = {}): { out: Buffer[]; events: string[]; done: Promise<void> } {
  const out: Buffer[] = [];
  const events: string[] = [];
  const done = new Promise<void>((resolve) => {
    io.start({
      // the native path's bytes are the thread's read buffer, valid only during the call
      output: (c, transient) => (out.push(transient ? Buffer.from(c) : c), extra.output?.(c, transient)),
      outputEnd: () => (events.push('outputEnd'), extra.outputEnd?.(), resolve()),
      inputDrain: () => (events.push('inputDrain'), extra.inputDrain?.()),
      inputError: () => (events.push('inputError'), extra.inputError?.()),
    });
  });
  return { out, events, done };
}

function within<T>(p: Promise<T>, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => (t = setTimeout(() => rej(new Error(`timed out: ${what}`)), WAIT_MS)));
  return Promise.race([p, timeout]).finally(() => clearTimeout(t));
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const openFds = (): number => readdirSync('/proc/self/fd').length;

for (const kind of ['fd', 'stream'] as const) {
  test(`[${kind}] 8 MiB through cat in 1000-byte writes arrive intact; EOF after the queue; outputEnd once`, async () => {
    const { io, exited } = start(kind, ['cat']);
    let onDrain: (() => void) | undefined;
    const { out, events, done } = collect(io, { inputDrain: () => onDrain?.() });
    const data = randomBytes(8 * 1024 * 1024);
    let paused = 0;
    for (let off = 0; off < data.length; off += 1000) {
      if (io.writeInput(data.subarray(off, off + 1000))) continue;
      // over the high-water mark: wait for the queue to drain, as the relay does
      paused++;
      await within(new Promise<void>((r) => (onDrain = r)), 'inputDrain');
    }
    io.endInput();
    await within(done, 'outputEnd');
    assert.equal(await within(exited, 'cat exit'), 0);
    assert.equal(sha(Buffer.concat(out)), sha(data));
    assert.deepEqual(
      events.filter((e) => e !== 'inputDrain'),
      ['outputEnd'],
    );
    assert.equal(events.length - 1, paused, 'one drain per stop');
    assert.ok(paused > 0, 'the writer was held back at least once');
    io.destroy();
  });

  test(`[${kind}] a program that never reads: writeInput says stop past the high-water mark, no drain; its exit is inputError`, async (t) => {
    const { io, child, exited } = start(kind, ['sleep', '30']);
    t.after(() => child.kill('SIGKILL'));
    let onDrain: (() => void) | undefined;
    const { events, done } = collect(io, { inputDrain: () => onDrain?.() });
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    // write until told to stop with no drain coming: the pipe is full and our queue at its mark
    let written = 0;
    for (;;) {
      if (io.writeInput(chunk)) {
        written += chunk.length;
        assert.ok(written < 16 * 1024 * 1024, 'writeInput never said stop');
        continue;
      }
      written += chunk.length;
      const drained = await new Promise<boolean>((r) => {
        const t = setTimeout(() => r(false), 300);
        onDrain = () => (clearTimeout(t), r(true));
      });
      if (!drained) break;
    }
    onDrain = undefined;
    const drains = events.length;
    // the fd queue stops at its own mark; the stream stops at its 16 KiB once the pipe is full
    assert.ok(written >= (kind === 'fd' ? INPUT_HIGH_WATER_BYTES : 64 * 1024), `stopped after ${written} bytes`);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(events.length, drains, 'a drain while nothing reads');
    child.kill('SIGKILL');
    await within(exited, 'exit');
    await within(done, 'outputEnd after the exit');
    await within(
      new Promise<void>((r) => {
        const check = (): void => void (events.includes('inputError') ? r() : setTimeout(check, 10));
        check();
      }),
      'inputError',
    );
    assert.equal(events.filter((e) => e === 'inputError').length, 1);
    // input after the error is dropped, not queued
    assert.equal(io.writeInput(chunk), true);
    io.destroy();
  });

  test(`[${kind}] pauseOutput holds the program's output until resumeOutput`, async () => {
    const { io, exited } = start(kind, ['head', '-c', '1000000', '/dev/zero']);
    let outBytes = 0;
    const { done } = collect(io, { output: (c) => (outBytes += c.length) });
    io.pauseOutput();
    // the program fills the pipe and blocks; nothing reaches the handler meanwhile
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(outBytes, 0, 'output delivered while paused');
    assert.equal(await Promise.race([exited.then(() => 'exited'), tick().then(() => 'blocked')]), 'blocked');
    io.resumeOutput();
    await within(done, 'outputEnd');
    assert.equal(outBytes, 1000000);
    assert.equal(await within(exited, 'exit'), 0);
    io.destroy();
  });
}

test('[fd] endInput with a large queue: all of it reaches the program before its EOF', async () => {
  const { io, exited } = start('fd', ['sh', '-c', 'wc -c']);
  const { out, done } = collect(io);
  // far past the pipe's capacity: most of it is written after endInput, on POLLOUT
  const data = Buffer.alloc(3 * 1024 * 1024, 0x62);
  assert.equal(io.writeInput(data), false);
  io.endInput();
  await within(done, 'outputEnd');
  assert.equal(Buffer.concat(out).toString().trim(), String(data.length));
  assert.equal(await within(exited, 'exit'), 0);
  io.destroy();
});

test('[fd] destroy closes both fds at once and no handler runs after it', async () => {
  const before = openFds();
  const { io, child, exited } = start('fd', ['cat']);
  const { events } = collect(io, { output: () => events.push('output') });
  io.writeInput(Buffer.from('x\n'));
  io.destroy();
  assert.equal(openFds(), before);
  await within(exited, 'cat sees EOF and exits');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(events, []);
  assert.equal(child.exitCode, 0);
});

test('[fd] records handed over by separate callbacks of one loop turn go to the pipe in one writev', async () => {
  // TLS hands the relay one 16 KiB record per callback, and Node runs the nextTick queue after
  // each: only a flush after the poll phase gathers one socket read's records into one write
  const { io, exited } = start('fd', ['sh', '-c', 'wc -c']);
  const { out, done } = collect(io);
  const writes: number[][] = [];
  const exported = native as unknown as { pipeWritev: typeof native.pipeWritev };
  const real = exported.pipeWritev;
  exported.pipeWritev = (fd, buffers) => {
    writes.push(buffers.map((b) => b.length));
    return real(fd, buffers);
  };
  try {
    const record = Buffer.alloc(16 * 1024, 0x61);
    // between two callbacks of a turn Node drains the nextTick queue, so each record here comes
    // after the queue has run once more, as TLS's records do. (Three timers were not enough:
    // Node reads the clock for each setTimeout, and a millisecond that passed between them
    // put the last one into the next turn, seen once under CI load.)
    await new Promise<void>((resolve) => {
      setTimeout(() => {
        io.writeInput(record);
        process.nextTick(() => {
          io.writeInput(record);
          process.nextTick(() => {
            io.writeInput(record);
            resolve();
          });
        });
      }, 1);
    });
    await tick();
    assert.deepEqual(writes, [[16384, 16384, 16384]]);
    io.endInput();
    await within(done, 'outputEnd');
    assert.equal(Buffer.concat(out).toString().trim(), String(3 * 16 * 1024));
    assert.equal(await within(exited, 'exit'), 0);
  } finally {
    exported.pipeWritev = real;
    io.destroy(); // on a failure too: the program sees EOF and exits
  }
});

for (const kind of ['fd', 'stream'] as const) {
  test(`[${kind}] transient bytes: the caller reuses its buffer after every call, and the program gets what each call passed`, async () => {
    const { io, exited } = start(kind, ['cat']);
    let onDrain: (() => void) | undefined;
    const { out, done } = collect(io, { inputDrain: () => onDrain?.() });
    // one reused buffer, as TLS's read buffer: refilled before each call
    const landing = Buffer.alloc(16 * 1024);
    const sent = createHash('sha256');
    for (let i = 0; i < 256; i++) {
      const bytes = randomBytes(1 + ((i * 7919) % landing.length));
      bytes.copy(landing);
      sent.update(bytes);
      if (!io.writeInput(landing.subarray(0, bytes.length), true)) await within(new Promise<void>((r) => (onDrain = r)), 'inputDrain');
      landing.fill(0xee); // the caller's next use of its buffer
      // several calls per turn, as several records of one socket read
      if (i % 4 === 3) await tick();
    }
    io.endInput();
    await within(done, 'outputEnd');
    assert.equal(await within(exited, 'cat exit'), 0);
    assert.equal(sha(Buffer.concat(out)), sent.digest('hex'));
  });
}

test('[fd] the stage is shared, never its bytes: what a full pipe left queued survives other relays reusing the stage', async (t) => {
  // the first program reads nothing for a while: most of what it is sent stays queued, past the
  // turn whose flush lent it the stage; the second reads at once, and its input reuses the stage
  const slow = start('fd', ['sh', '-c', 'sleep 0.5; exec cat']);
  t.after(() => slow.child.kill('SIGKILL'));
  const fast = start('fd', ['cat']);
  const slowOut = collect(slow.io);
  let onFastDrain: (() => void) | undefined;
  const fastOut = collect(fast.io, { inputDrain: () => onFastDrain?.() });
  const landing = Buffer.alloc(16 * 1024);
  const slowData = randomBytes(12 * landing.length); // past the pipe's 64 KiB, within the stage
  for (let off = 0; off < slowData.length; off += landing.length) {
    slowData.copy(landing, 0, off, off + landing.length);
    slow.io.writeInput(landing, true);
  }
  landing.fill(0xee);
  await tick();
  await tick();
  const fastSent = createHash('sha256');
  // 8 records a turn: over the regions the slow program's queue was lent
  for (let turn = 0; turn < 20; turn++) {
    let more = true;
    for (let r = 0; r < 8; r++) {
      randomBytes(landing.length).copy(landing);
      fastSent.update(landing);
      more = fast.io.writeInput(landing, true);
    }
    if (!more) await within(new Promise<void>((r) => (onFastDrain = r)), 'inputDrain');
    await tick();
  }
  fast.io.endInput();
  slow.io.endInput();
  await within(Promise.all([slowOut.done, fastOut.done]), 'both outputs end');
  assert.equal(sha(Buffer.concat(fastOut.out)), fastSent.digest('hex'));
  assert.equal(sha(Buffer.concat(slowOut.out)), sha(slowData), 'the slow program got other bytes than it was sent');
  assert.equal(await within(slow.exited, 'exit'), 0);
  assert.equal(await within(fast.exited, 'exit'), 0);
});

test('[fd] both pipes keep the default capacity until they have carried PIPE_GROW_AFTER_BYTES, then grow to BULK_PIPE_BYTES', async (t) => {
  const [inR, inW] = native.pipe();
  const [outR, outW] = native.pipe();
  // our own descriptors of the two pipes, to ask their capacity (pipeGrow(fd, 1) never changes it)
  const inPipe = native.dup(inW);
  const outPipe = native.dup(outR);
  const child = spawn('cat', [], { stdio: [inR, outW, 'inherit'] });
  t.after(() => child.kill('SIGKILL'));
  native.close(inR);
  native.close(outW);
  const io = fdProgramIo(inW, outR);
  let outBytes = 0;
  let reached: (() => void) | undefined;
  let want = 0;
  io.start({
    output: (c) => {
      outBytes += c.length;
      if (outBytes >= want) reached?.();
    },
    outputEnd: () => {},
    inputDrain: () => {},
    inputError: () => {},
  });
  const capacity = (fd: number): number => native.pipeGrow(fd, 1);
  const through = async (bytes: number): Promise<void> => {
    want = outBytes + bytes;
    const arrived = new Promise<void>((r) => (reached = r));
    for (let off = 0; off < bytes; off += 16384) io.writeInput(Buffer.alloc(16384, 0x62));
    await within(arrived, 'output');
  };
  const defaultCapacity = capacity(inPipe);
  assert.ok(defaultCapacity < BULK_PIPE_BYTES, `default capacity ${defaultCapacity}`);
  await through(PIPE_GROW_AFTER_BYTES / 2);
  assert.deepEqual([capacity(inPipe), capacity(outPipe)], [defaultCapacity, defaultCapacity], 'not grown below the mark');
  await through(PIPE_GROW_AFTER_BYTES);
  assert.deepEqual([capacity(inPipe), capacity(outPipe)], [BULK_PIPE_BYTES, BULK_PIPE_BYTES], 'grown past it');
  // (our copy of the stdin pipe's write end would keep cat from its EOF)
  native.close(inPipe);
  native.close(outPipe);
  io.endInput();
  await within(new Promise((r) => child.once('exit', r)), 'cat exit');
  io.destroy();
});
