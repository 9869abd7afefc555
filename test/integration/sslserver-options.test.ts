// Options a run script relies on: -B banner, -b backlog, -u/-g identity, -I interface (and IPv6 link-local).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { FIXTURES, SSLSERVER, parseEnv, runServer, startServer, testCerts, tlsExchange, assertSpawnPath, spawnPathName } from './harness';

test('-B writes the banner to the client before the program output', async () => {
  const s = await startServer(['-B', 'banner line\r\n', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')]);
  try {
    assert.equal((await tlsExchange(s.port)).data.toString(), 'banner line\r\nhello from 127.0.0.1\n');
  } finally {
    await s.stop();
  }
});

test('-b sets the listen queue of every listening socket (20 without it), as the kernel reports it', async () => {
  for (const [args, want] of [[['-b', '7'], 7], [[], 20]] as const) {
    const s = await startServer([...args, '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')]);
    try {
      // ss: a listening socket's Send-Q is its backlog; one line per event loop's socket
      const lines = execFileSync('ss', ['-Hltn', `sport = :${s.port}`], { encoding: 'utf8' }).trim().split('\n');
      assert.ok(lines.length >= 1, 'listening');
      for (const l of lines) assert.equal(Number(l.trim().split(/\s+/)[2]), want, l);
      assert.equal((await tlsExchange(s.port)).data.toString(), 'hello from 127.0.0.1\n');
    } finally {
      await s.stop();
    }
  }
});

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] -u/-g run the program as that uid and gid, with only that group`, async () => {
    const s = await startServer(['-u', '65534', '-g', '65534', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'print-ids.sh')], { spawnImpl: impl });
    try {
      assertSpawnPath(s.proc.pid as number, impl);
      const out = (await tlsExchange(s.port)).data.toString();
      assert.match(out, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
      assert.match(out, /^Gid:\s+65534\s+65534\s+65534\s+65534$/m);
      // libuv (fallback) clears the groups; the addon sets exactly [gid], as ucspi's prot_gid
      assert.match(out, impl === 'native' ? /^Groups:\s+65534\s*$/m : /^Groups:\s*(65534)?\s*$/m);
    } finally {
      await s.stop();
    }
  });
}

test('-U takes the program identity from $UID and $GID', async () => {
  const s = await startServer(['-U', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'print-ids.sh')], { env: { UID: '65534', GID: '65534' } });
  try {
    assert.match((await tlsExchange(s.port)).data.toString(), /^Uid:\s+65534\s/m);
  } finally {
    await s.stop();
  }
});

test('-I binds to the interface; an unknown interface is a start-up error', async () => {
  const s = await startServer(['-I', 'lo', '-H', '-R', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')]);
  try {
    assert.equal((await tlsExchange(s.port)).data.toString(), 'hello from 127.0.0.1\n');
  } finally {
    await s.stop();
  }
  const c = testCerts();
  const r = await runServer(['-I', 'nosuchif0', '127.0.0.1', '0', join(FIXTURES, 'hello.sh')], { CERTFILE: join(c, 'server.pem'), KEYFILE: join(c, 'server.key'), DHFILE: '' });
  assert.equal(r.code, 111);
  assert.equal(r.stderr, 'sslserver: fatal: (111) unable to bind to interface: nosuchif0\n');
});

test('an IPv6 link-local address with -I serves clients on that link and sets TCP6INTERFACE', async () => {
  // a network namespace of our own, with fe80::1 on its loopback
  const ns = `ucspi-ll-${process.pid}`;
  execFileSync('ip', ['netns', 'add', ns]);
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
    execFileSync('ip', ['netns', 'exec', ns, 'ip', '-6', 'addr', 'add', 'fe80::1/64', 'dev', 'lo', 'nodad']);
    const c = testCerts();
    const srv = spawn('ip', ['netns', 'exec', ns, process.execPath, SSLSERVER, '-1', '-H', '-R', '-I', 'lo', 'fe80::1', '0', '/usr/bin/env'], {
      env: { PATH: process.env.PATH, CERTFILE: join(c, 'server.pem'), KEYFILE: join(c, 'server.key'), DHFILE: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((res, rej) => {
        srv.stdout.once('data', (d: Buffer) => res(d.toString()));
        srv.once('exit', (code) => rej(new Error(`exited ${code}`)));
      });
      const port = /: ([0-9]+) \[/.exec(line)?.[1];
      assert.match(line, /^fe80::1 : [0-9]+ \[40\/40\]\n$/);
      const out = execFileSync('ip', ['netns', 'exec', ns, 'openssl', 's_client', '-connect', `[fe80::1%lo]:${port}`, '-quiet'], { input: '', stdio: ['pipe', 'pipe', 'ignore'], timeout: 10_000 }).toString();
      const env = parseEnv(out);
      assert.equal(env.get('PROTO'), 'TCP6');
      assert.equal(env.get('TCP6INTERFACE'), 'lo');
      assert.equal(env.get('SSLLOCALIP'), 'fe80::1');
    } finally {
      srv.kill('SIGTERM');
    }
  } finally {
    execFileSync('ip', ['netns', 'del', ns]);
  }
});

for (const impl of ['native', 'node'] as const) {
  test(`[${spawnPathName(impl)}] a program that cannot be run drops only that connection, with one line`, async () => {
    const s = await startServer(['-H', '-R', '127.0.0.1', '0', '/nonexistent/prog'], { spawnImpl: impl });
    try {
      assertSpawnPath(s.proc.pid as number, impl);
      const r = await tlsExchange(s.port).catch(() => ({ data: Buffer.alloc(0) }));
      assert.equal(r.data.length, 0);
      assert.equal(await s.waitFor(/unable to run/), 'sslserver: fatal: (111) unable to run: /nonexistent/prog: no such file or directory');
      // the listener carries on
      await tlsExchange(s.port).catch(() => undefined);
      for (let i = 0; i < 50 && s.lines().filter((l) => /unable to run/.test(l)).length < 2; i++) await new Promise((res) => setTimeout(res, 100));
      assert.equal(s.lines().filter((l) => /unable to run/.test(l)).length, 2);
    } finally {
      await s.stop();
    }
  });
}
