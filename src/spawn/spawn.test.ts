// Tests for spawnProgram: one table, run against the native vfork path and the child_process path.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn as cpSpawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SysError } from '../errors';
import * as native from '../sys/native';
import { rawStatus, spawnImpl, spawnProgram, type SpawnImpl, type SpawnRequest } from './spawn';

const ROOT = join(__dirname, '..', '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');
const LIST_FDS = join(FIXTURES, 'list-fds.sh');
const PRINT_IDS = join(FIXTURES, 'print-ids.sh');
const NOBODY = 65534;
const PATH_ENV = 'PATH=/usr/bin:/bin';
const INHERITED_FD = 30;

const dir = mkdtempSync(join(tmpdir(), 'spawn-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Reads a pipe end to EOF (net.Socket: libuv reads it non-blocking). */
function readAll(fd: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = new net.Socket({ fd, readable: true, writable: false });
    s.on('data', (c: Buffer) => chunks.push(c));
    s.on('error', reject);
    s.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}

interface RunResult {
  status: number;
  out: string;
}

/** Runs a program with fd 0 on /dev/null (or `stdin`), fd 1 on a pipe we read, fd 2 on ours. */
async function run(impl: SpawnImpl, req: Omit<SpawnRequest, 'fds'>, fds?: (out: number) => number[]): Promise<RunResult> {
  const [r, w] = native.pipe();
  const devnull = openSync('/dev/null', 'r');
  try {
    const outP = readAll(r);
    let child;
    try {
      child = await spawnProgram({ ...req, fds: fds !== undefined ? fds(w) : [devnull, w, 2] }, impl);
    } finally {
      native.close(w);
    }
    const [status, out] = await Promise.all([child.exited, outP]);
    return { status, out };
  } finally {
    closeSync(devnull);
  }
}

/** Parses list-fds.sh output: fd number -> link target, without ls's own directory fd. */
function parseFds(out: string): Map<number, string> {
  const fds = new Map<number, string>();
  for (const line of out.split('\n')) {
    const m = / (\d+) -> (.*)$/.exec(line);
    if (m === null) continue;
    if (/^\/proc\/\d+\/fd$/.test(m[2] as string)) continue;
    fds.set(Number(m[1]), m[2] as string);
  }
  return fds;
}

/** Field `name` of a /proc/<pid>/status text. */
function statusField(text: string, name: string): string {
  const m = new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(text);
  assert.ok(m !== null, `no ${name} in ${text}`);
  return (m[1] as string).trim();
}

// fdinfo `flags` are octal; O_CLOEXEC is 02000000.
const O_CLOEXEC = 0o2000000;

/** Our fds >= 3 without close-on-exec (inherited from our parent: libuv passes them on). */
function inheritableFds(): number[] {
  const fds: number[] = [];
  for (const fd of readdirSync('/proc/self/fd').map(Number)) {
    let info: string;
    try {
      info = readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1');
    } catch {
      continue; // readdir's own directory fd, closed by now
    }
    const flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(info)?.[1] ?? '0', 8);
    if (fd >= 3 && (flags & O_CLOEXEC) === 0) fds.push(fd);
  }
  return fds.sort((a, b) => a - b);
}

/** True while pid is a zombie child of ours (exited, not reaped). */
function isOurZombie(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return false;
  }
  // the command name may hold spaces and parentheses: fields start after the last ')'
  const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return state === 'Z' && Number(ppid) === process.pid;
}

test('spawnImpl is native here (the addon is built) and SSLSERVER_SPAWN=node forces the fallback', () => {
  const saved = process.env.SSLSERVER_SPAWN;
  try {
    delete process.env.SSLSERVER_SPAWN;
    assert.equal(spawnImpl(), 'native');
    process.env.SSLSERVER_SPAWN = 'node';
    assert.equal(spawnImpl(), 'node');
  } finally {
    if (saved === undefined) delete process.env.SSLSERVER_SPAWN;
    else process.env.SSLSERVER_SPAWN = saved;
  }
});

test('rawStatus rebuilds wait statuses from (code, signal)', () => {
  assert.equal(rawStatus(0, null), 0);
  assert.equal(rawStatus(3, null), 768);
  assert.equal(rawStatus(null, 'SIGTERM'), 15);
  assert.equal(rawStatus(null, 'SIGKILL'), 9);
});

for (const impl of ['native', 'node'] as const) {
  describe(`spawnProgram (${impl})`, () => {
    test('raw wait statuses: exit 0, exit 3 -> 768, SIGTERM -> 15', async () => {
      assert.equal((await run(impl, { file: '/bin/sh', argv: ['sh', '-c', 'exit 0'], env: [] })).status, 0);
      assert.equal((await run(impl, { file: '/bin/sh', argv: ['sh', '-c', 'exit 3'], env: [] })).status, 768);
      const child = await spawnProgram({ file: '/bin/sleep', argv: ['sleep', '30'], env: [], fds: [] }, impl);
      child.kill('SIGTERM');
      assert.equal(await child.exited, 15);
      // a child already reaped: kill is a no-op, not ESRCH
      child.kill('SIGTERM');
      child.kill(9);
    });

    test('the environment is exactly the one given, in order', async () => {
      const env = ['B=2', 'A=one two', 'EMPTY=', 'X==y'];
      const { status, out } = await run(impl, { file: '/usr/bin/env', argv: ['env'], env });
      assert.equal(status, 0);
      assert.deepEqual(out.split('\n').slice(0, -1), env);
    });

    test('the program may run on every CPU we may (the native path pins only across vfork)', async () => {
      const allowed = (status: string): string | undefined => /^Cpus_allowed_list:\s*(\S+)$/m.exec(status)?.[1];
      const ours = allowed(readFileSync('/proc/self/status', 'latin1'));
      assert.notEqual(ours, undefined);
      for (let i = 0; i < 3; i++) {
        const { status, out } = await run(impl, { file: '/bin/cat', argv: ['cat', '/proc/self/status'], env: [] });
        assert.equal(status, 0);
        assert.equal(allowed(out), ours);
      }
      // and so may we, after the spawn
      assert.equal(allowed(readFileSync('/proc/self/status', 'latin1')), ours);
    });

    test('argv[0] is the one given, not the file; PATH search uses the new environment', async () => {
      const { status, out } = await run(impl, { file: 'cat', argv: ['my-name', '/proc/self/cmdline'], env: [PATH_ENV] });
      assert.equal(status, 0);
      assert.equal(out, 'my-name\0/proc/self/cmdline\0');
    });

    test('the child sees exactly fds 0, 1, 2 of its map', async () => {
      // many fds are open here (close-on-exec, as Node opens everything); none may reach the
      // child. The node path also passes on any fd we inherited without close-on-exec.
      const extra = [openSync('/dev/null', 'r'), openSync(LIST_FDS, 'r')];
      try {
        const leaked = impl === 'native' ? [] : inheritableFds();
        const { status, out } = await run(impl, { file: LIST_FDS, argv: ['list-fds'], env: [] });
        assert.equal(status, 0);
        const fds = parseFds(out);
        assert.deepEqual([...fds.keys()].sort((a, b) => a - b), [0, 1, 2, ...leaked]);
        assert.equal(fds.get(0), '/dev/null');
        assert.match(fds.get(1) as string, /^pipe:/);
      } finally {
        for (const fd of extra) closeSync(fd);
      }
    });

    test('sources that are also targets are not clobbered (our 2 -> their 0, our 0 -> their 2)', async () => {
      const ours0 = readlinkSync('/proc/self/fd/0');
      const ours2 = readlinkSync('/proc/self/fd/2');
      const { status, out } = await run(impl, { file: LIST_FDS, argv: ['list-fds'], env: [] }, (w) => [2, w, 0]);
      assert.equal(status, 0);
      const fds = parseFds(out);
      assert.equal(fds.get(0), ours2);
      assert.equal(fds.get(2), ours0);
    });

    test('pipes on fd 0 and fd 1 carry data through cat', async () => {
      const [inR, inW] = native.pipe();
      const sink = new net.Socket({ fd: inW, readable: false, writable: true });
      const result = run(impl, { file: '/bin/cat', argv: ['cat'], env: [] }, (w) => [inR, w, 2]);
      // our copy of the read end would otherwise keep cat's EOF from coming
      await new Promise((r) => setImmediate(r));
      native.close(inR);
      sink.end('hello\nworld\n');
      const { status, out } = await result;
      assert.equal(status, 0);
      assert.equal(out, 'hello\nworld\n');
    });

    test('an fd inherited without close-on-exec: closed by native, leaked by node (libuv)', async () => {
      // spawn-inherit.js gets fd 30 without close-on-exec (Node's start-up marks only the
      // unbroken run of fds from 0 close-on-exec, so a gap keeps it inheritable)
      const stdio: ('ignore' | 'pipe' | 'inherit')[] = ['ignore', 'pipe', 'inherit'];
      while (stdio.length < INHERITED_FD) stdio.push('ignore');
      stdio.push('pipe');
      const fixture = cpSpawn(process.execPath, [join(FIXTURES, 'spawn-inherit.js'), impl], { stdio });
      const chunks: Buffer[] = [];
      fixture.stdout?.on('data', (c: Buffer) => chunks.push(c));
      const code = await new Promise<number | null>((resolve) => fixture.on('close', resolve));
      assert.equal(code, 0);
      const fds = [...parseFds(Buffer.concat(chunks).toString()).keys()].sort((a, b) => a - b);
      // libuv closes only close-on-exec fds; the native path closes everything outside the map
      if (impl === 'native') assert.deepEqual(fds, [0, 1, 2]);
      else assert.ok(fds.includes(INHERITED_FD), `fds ${fds.join(' ')}`);
    });

    test('signals: none ignored, none blocked in the child (Node ignores SIGPIPE)', async () => {
      const ours = readFileSync('/proc/self/status', 'latin1');
      // SIGPIPE is 13: bit 12 of SigIgn; without it this test proves nothing
      assert.notEqual(BigInt(`0x${statusField(ours, 'SigIgn')}`) & (1n << 12n), 0n);
      const { status, out } = await run(impl, { file: PRINT_IDS, argv: ['print-ids'], env: [] });
      assert.equal(status, 0);
      assert.equal(statusField(out, 'SigIgn'), '0000000000000000');
      assert.equal(statusField(out, 'SigBlk'), '0000000000000000');
      const yes = await run(impl, { file: '/bin/sh', argv: ['sh', '-c', 'yes | head -1; exit 0'], env: [PATH_ENV] });
      assert.deepEqual(yes, { status: 0, out: 'y\n' });
    });

    test('uid, gid and an empty group list (setgroups, setgid, setuid)', async () => {
      const { status, out } = await run(impl, {
        file: PRINT_IDS,
        argv: ['print-ids'],
        env: [],
        uid: NOBODY,
        gid: NOBODY,
        groups: [],
      });
      assert.equal(status, 0);
      assert.equal(statusField(out, 'Uid'), `${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`);
      assert.equal(statusField(out, 'Gid'), `${NOBODY}\t${NOBODY}\t${NOBODY}\t${NOBODY}`);
      assert.equal(statusField(out, 'Groups'), '');
    });

    test('kill of a program that is another user now (EPERM) does not throw: the program goes on', () => {
      // a process of our own that starts a uid-1 program as root, then becomes nobody: its
      // SIGTERM to the program is refused by the kernel
      const script = `
        const { spawnProgram } = require(${JSON.stringify(join(__dirname, 'spawn.js'))});
        spawnProgram({ file: '/bin/sleep', argv: ['sleep', '60'], env: [], fds: [], uid: 1, gid: 1 }, ${JSON.stringify(impl)}).then((c) => {
          process.stdout.write(c.pid + '\\n');
          process.setgid(${NOBODY});
          process.setuid(${NOBODY});
          try {
            c.kill('SIGTERM');
            process.stdout.write('no throw\\n');
          } catch (err) {
            process.stdout.write('threw ' + err.code + '\\n');
          }
          process.exit(0);
        }, (err) => {
          process.stdout.write('no start ' + err.code + '\\n');
          process.exit(1);
        });`;
      const out = spawnSync(process.execPath, ['-e', script], { encoding: 'latin1', stdio: ['ignore', 'pipe', 'inherit'], timeout: 10_000 }).stdout;
      const [pidLine = '', verdict] = out.split('\n');
      const pid = Number(pidLine);
      try {
        assert.equal(verdict, 'no throw', out);
        assert.ok(pid > 0 && readFileSync(`/proc/${pid}/status`, 'latin1').includes('\nUid:\t1\t'), 'the program still runs as uid 1');
      } finally {
        if (pid > 0) process.kill(pid, 'SIGKILL');
      }
    });

    if (impl === 'native') {
      test('a group list is set as given (the kernel lists it sorted)', async () => {
        const req = { file: PRINT_IDS, argv: ['print-ids'], env: [], uid: NOBODY, gid: NOBODY, groups: [NOBODY, 100] };
        const { status, out } = await run(impl, req);
        assert.equal(status, 0);
        assert.equal(statusField(out, 'Groups'), `100 ${NOBODY}`);
      });

      test('chroot happens before the exec: /bin/true is not found in an empty root', async () => {
        await assert.rejects(
          spawnProgram({ file: '/bin/true', argv: ['true'], env: [], fds: [], chroot: dir }, impl),
          (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'execve',
        );
        assert.equal((await run(impl, { file: '/bin/true', argv: ['true'], env: [], chroot: '/' })).status, 0);
        await assert.rejects(
          spawnProgram({ file: '/bin/true', argv: ['true'], env: [], fds: [], chroot: join(dir, 'none') }, impl),
          (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'chroot',
        );
      });

      test('a bad source fd is EBADF from fcntl', async () => {
        await assert.rejects(
          spawnProgram({ file: '/bin/true', argv: ['true'], env: [], fds: [0, 1, 1_000_000] }, impl),
          (err: unknown) => err instanceof SysError && err.code === 'EBADF',
        );
      });
    } else {
      test('what the node path cannot do is ENOSYS: a group list, chroot', async () => {
        const base = { file: '/bin/true', argv: ['true'], env: [], fds: [] };
        for (const req of [{ ...base, uid: NOBODY, groups: [100] }, { ...base, chroot: '/' }, { ...base, groups: [] }]) {
          await assert.rejects(spawnProgram(req, impl), (err: unknown) => err instanceof SysError && err.code === 'ENOSYS');
        }
      });
    }

    test('a missing program is ENOENT (syscall execve), a non-executable one EACCES', async () => {
      for (const file of [join(dir, 'missing'), 'no-such-program-here']) {
        await assert.rejects(
          spawnProgram({ file, argv: [file], env: [PATH_ENV], fds: [0, 1, 2] }, impl),
          (err: unknown) => err instanceof SysError && err.code === 'ENOENT' && err.syscall === 'execve',
        );
      }
      const plain = join(dir, 'not-executable');
      writeFileSync(plain, '#!/bin/sh\n');
      chmodSync(plain, 0o644);
      await assert.rejects(
        spawnProgram({ file: plain, argv: [plain], env: [], fds: [0, 1, 2] }, impl),
        (err: unknown) => err instanceof SysError && err.code === 'EACCES' && err.syscall === 'execve',
      );
    });

    test('200 concurrent children are all reaped with their own statuses', async () => {
      const children = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          spawnProgram({ file: '/bin/sh', argv: ['sh', '-c', `exit ${i % 50}`], env: [], fds: [] }, impl),
        ),
      );
      const statuses = await Promise.all(children.map((c) => c.exited));
      assert.deepEqual(
        statuses,
        children.map((_, i) => (i % 50) << 8),
      );
      assert.deepEqual(
        children.filter((c) => isOurZombie(c.pid)).map((c) => c.pid),
        [],
      );
    });

    test('the event loop keeps running while a child runs', async () => {
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      try {
        const child = await spawnProgram({ file: '/bin/sleep', argv: ['sleep', '0.2'], env: [], fds: [] }, impl);
        assert.equal(await child.exited, 0);
      } finally {
        clearInterval(timer);
      }
      assert.ok(ticks >= 2, `only ${ticks} ticks`);
    });

    test('a running child keeps Node alive; after unref() it does not', async () => {
      const spawnJs = JSON.stringify(join(ROOT, 'dist', 'src', 'spawn', 'spawn.js'));
      const script = (body: string): string =>
        `const { spawnProgram } = require(${spawnJs});` +
        `spawnProgram({ file: '/bin/sh', argv: ['sh', '-c', ${JSON.stringify(body)}], env: [], fds: [] }, '${impl}')` +
        `.then((c) => { process.stdout.write(c.pid + '\\n'); if (process.argv[1] === 'unref') c.unref(); ` +
        `return c.exited; }).then((st) => process.stdout.write('status ' + st + '\\n'));`;
      const node = (body: string, mode: string): Promise<string> =>
        new Promise((resolve, reject) => {
          const cp = cpSpawn(process.execPath, ['-e', script(body), mode], { stdio: ['ignore', 'pipe', 'inherit'] });
          const chunks: Buffer[] = [];
          cp.stdout.on('data', (c: Buffer) => chunks.push(c));
          cp.on('error', reject);
          cp.on('close', () => resolve(Buffer.concat(chunks).toString()));
        });
      assert.match(await node('sleep 0.1; exit 7', 'ref'), /^\d+\nstatus 1792\n$/);
      const out = await node('sleep 30', 'unref');
      assert.match(out, /^\d+\n$/);
      const pid = Number(out.trim());
      // Node exited first; the sleep is still running (now a child of init): stop it
      process.kill(pid, 0);
      process.kill(pid, 'SIGTERM');
    });
  });
}
