// The spawner (native/spawner.c) through its client, as root: a -u program is signalled (CAP_KILL),
// a start the spawner does not answer in time fails, its late program killed on arrival, and a
// start or signal it has no room for waits instead of being lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { SpawnerClient, type SpawnerChannel } from './spawner-client';
import * as native from '../sys/native';
import { TimeoutError } from '../errors';
import { childList } from '../../test/integration/harness';

/** Pids of the live direct children of `parent` running `/bin/sleep`. */
function sleepsUnder(parent: number): number[] {
  return childList(parent)
    .filter((c) => c.cmdline.startsWith('/bin/sleep '))
    .map((c) => c.pid);
}

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A spawner of `/bin/sleep 60` as uid 1, its client and /dev/null for the programs' fds, for `body`; all undone after. */
async function withSpawner(
  replyTimeoutMs: number | undefined,
  body: (channel: SpawnerChannel, spawner: SpawnerClient, devNull: number) => Promise<void>,
): Promise<void> {
  assert.equal(process.getuid?.(), 0, 'the spawner keeps root: this test runs as root (as CI does)');
  const channel = SpawnerClient.launch({ uid: 1, gid: 1, groups: [], argv: ['/bin/sleep', '60'] });
  const spawner = SpawnerClient.adopt(channel, replyTimeoutMs === undefined ? {} : { replyTimeoutMs });
  const devNull = openSync('/dev/null', 'r+');
  // the client's channel and timers do not keep a process alive (a server has its listener): this does
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    await body(channel, spawner, devNull);
  } finally {
    clearInterval(keepAlive);
    closeSync(devNull);
    try {
      process.kill(channel.pid, 'SIGCONT');
      process.kill(channel.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

test('the spawner signals its -u programs, and a start it does not answer in time fails and is undone', { timeout: 30_000 }, async () => {
  await withSpawner(300, async (channel, spawner, devNull) => {
    // a program as uid 1: SIGTERM from the spawner (uid 0) needs CAP_KILL
    const first = await spawner.spawn(['PATH=/usr/bin:/bin'], [devNull, devNull, devNull]);
    assert.equal(readFileSync(`/proc/${first.pid}/status`, 'utf8').match(/^Uid:\s+(.*)$/m)?.[1]?.replace(/\s+/g, ' '), '1 1 1 1');
    first.kill('SIGTERM');
    assert.equal(await first.exited, 15, 'ended by our SIGTERM');

    // a stopped spawner does not answer: the start fails after the timeout
    process.kill(channel.pid, 'SIGSTOP');
    const t0 = Date.now();
    await assert.rejects(spawner.spawn(['PATH=/usr/bin:/bin'], [devNull, devNull, devNull]), (e: unknown) => e instanceof TimeoutError && e.message === 'spawner did not answer');
    assert.ok(Date.now() - t0 < 3000);
    // resumed, it starts the queued program late: that one is killed as it is reported, the next start works
    process.kill(channel.pid, 'SIGCONT');
    const next = await spawner.spawn(['PATH=/usr/bin:/bin'], [devNull, devNull, devNull]);
    await until('the late program is killed', () => sleepsUnder(channel.pid).every((p) => p === next.pid));
    assert.deepEqual(sleepsUnder(channel.pid), [next.pid]);
    next.kill('SIGKILL');
    assert.equal(await next.exited, 9);
  });
});

test('a start and a signal the spawner has no room for yet are sent once it reads again, not dropped', { timeout: 30_000 }, async () => {
  await withSpawner(undefined, async (channel, spawner, devNull) => {
    const program = await spawner.spawn(['PATH=/usr/bin:/bin'], [devNull, devNull, devNull]);
    // a stopped spawner: fill its request socket with harmless records (signal 0) until it is full
    process.kill(channel.pid, 'SIGSTOP');
    const probe = Buffer.alloc(9);
    probe.write('K', 0, 'latin1');
    probe.writeUInt32BE(program.pid, 1);
    let queued = 0;
    for (;;) {
      try {
        native.sendFds(channel.requestFd, probe, []);
      } catch (err) {
        assert.equal((err as NodeJS.ErrnoException).code, 'EAGAIN');
        break;
      }
      queued++;
      assert.ok(queued < 1_000_000, 'the request socket never filled');
    }
    assert.ok(queued > 0);
    // a start and our SIGTERM find the socket full: they wait, and go out once the spawner reads again
    const starting = spawner.spawn(['PATH=/usr/bin:/bin'], [devNull, devNull, devNull]);
    program.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(sleepsUnder(channel.pid), [program.pid], 'nothing happens while the spawner is stopped');
    process.kill(channel.pid, 'SIGCONT');
    const second = await starting;
    assert.ok(sleepsUnder(channel.pid).includes(second.pid));
    second.kill('SIGKILL');
    assert.equal(await second.exited, 9);
    let timer: NodeJS.Timeout | undefined;
    const status = await Promise.race([
      program.exited,
      new Promise<string>((r) => {
        timer = setTimeout(() => r('still running 5 s after the spawner went on'), 5000);
      }),
    ]);
    clearTimeout(timer);
    assert.equal(status, 15, 'ended by our SIGTERM');
  });
});
