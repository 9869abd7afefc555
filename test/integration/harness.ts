// Test harness: runs the built sslserver on port 0, reads the port from -1, collects stderr lines.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash, type X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import tls from 'node:tls';
import { defaultIdentity, type Identity } from '../../src/priv/identity';

/** The repository root (dist/test/integration/ -> ../../..). */
export const ROOT = resolve(__dirname, '../../..');
export const SSLSERVER = join(ROOT, 'dist/src/cli/sslserver.js');
export const TCPRULES = join(ROOT, 'dist/src/cli/tcprules.js');
export const TCPRULESCHECK = join(ROOT, 'dist/src/cli/tcprulescheck.js');
export const FIXTURES = join(ROOT, 'test/fixtures');

/**
 * Test certificates made by scripts/gen-test-certs.sh, once per version of the script
 * (cached in the temp dir so that every test file does not pay for key generation).
 */
export function testCerts(): string {
  const script = join(ROOT, 'scripts/gen-test-certs.sh');
  const hash = createHash('sha256').update(readFileSync(script)).digest('hex').slice(0, 12);
  const dir = join(tmpdir(), `ucspi-ssl-ts-certs-${hash}`);
  // the script is idempotent and returns at once when DIR is complete
  execFileSync('sh', [script, dir], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 });
  return dir;
}

/** How long stop() waits after SIGTERM before SIGKILL (the server ends its programs within 7 s). */
const STOP_TIMEOUT_MS = 20_000;

/** A running sslserver under test. */
export interface RunningServer {
  proc: ChildProcess;
  port: number;
  /** The -1 line. */
  firstLine: string;
  /** stderr so far, split into lines. */
  lines(): string[];
  /** Resolves when a stderr line matches, or rejects after `ms`. */
  waitFor(re: RegExp, ms?: number): Promise<string>;
  /** SIGTERM, then waits for the exit (SIGKILL after STOP_TIMEOUT_MS: code null); returns the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Options for startServer. */
export interface StartOptions {
  env?: Record<string, string | undefined>;
  /** Extra stdio entries from fd 3 on (for -3). */
  extraStdio?: Array<'pipe' | 'ignore' | number>;
  /** Set SSLSERVER_SPAWN=node to exercise the fallback spawn path. */
  spawnImpl?: 'native' | 'node';
  /** Run the command as installed (its shebang, with its node flags) instead of `node FILE`. */
  asInstalled?: boolean;
  /**
   * Start the server through `/bin/sh -c SCRIPT`, where `"$@"` is the command: for what Node
   * cannot pass a child, such as environment bytes that are not UTF-8.
   */
  shell?: string;
}

/**
 * Event loops a server started by startServer runs (SSLSERVER_WORKERS from the test's environment,
 * else one per core but one, as the server decides): per-loop caches are per loop.
 */
export function serverLoops(): number {
  const w = process.env.SSLSERVER_WORKERS;
  return w !== undefined && w !== '' ? Number(w) : Math.max(1, availableParallelism() - 1);
}

/**
 * The program path a test's `spawnImpl` takes in this run: `node` (child_process in the server),
 * `spawner` (a root start: sslserver-spawner starts programs) or `native` (the addon's spawn in
 * the server, when not root).
 */
export function spawnPathName(impl: 'native' | 'node'): 'native' | 'node' | 'spawner' {
  // startServer passes a suite-wide SSLSERVER_SPAWN=node on to every server
  if (impl === 'node' || process.env.SSLSERVER_SPAWN === 'node') return 'node';
  return process.getuid?.() === 0 ? 'spawner' : 'native';
}

/**
 * Throws unless the running server takes the path spawnPathName names: a spawner child exactly
 * when the path is `spawner`.
 */
export function assertSpawnPath(serverPid: number, impl: 'native' | 'node'): void {
  // SSL_USER tests are not among these: with an SSL identity the spawner runs whatever the path
  const want = spawnPathName(impl) === 'spawner';
  if ((spawnerOf(serverPid) !== undefined) !== want) throw new Error(`server ${serverPid}: expected ${want ? 'a' : 'no'} spawner for the ${impl} path`);
}

/** Starts `node dist/src/cli/sslserver.js -1 ARGS` (or the file itself) and waits for the -1 line. */
export async function startServer(args: string[], opts: StartOptions = {}): Promise<RunningServer> {
  const certs = testCerts();
  const env: Record<string, string | undefined> = {
    PATH: process.env.PATH,
    CERTFILE: join(certs, 'server.pem'),
    KEYFILE: join(certs, 'server.key'),
    DHFILE: '',
    ...(opts.spawnImpl === 'node' || process.env.SSLSERVER_SPAWN === 'node' ? { SSLSERVER_SPAWN: 'node' } : {}),
    // the suite runs with the default event loop count and again with SSLSERVER_WORKERS=1
    ...(process.env.SSLSERVER_WORKERS === undefined ? {} : { SSLSERVER_WORKERS: process.env.SSLSERVER_WORKERS }),
    ...opts.env,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const [cmd, cmdArgs] = opts.asInstalled === true ? [SSLSERVER, ['-1', ...args]] : [process.execPath, [SSLSERVER, '-1', ...args]];
  const [file, argv] = opts.shell === undefined ? [cmd, cmdArgs] : ['/bin/sh', ['-c', opts.shell, 'sh', cmd, ...cmdArgs]];
  const proc = spawn(file, argv, {
    env: env as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe', ...(opts.extraStdio ?? [])],
  });
  let err = '';
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void }> = [];
  proc.stderr?.setEncoding('utf8');
  proc.stderr?.on('data', (d: string) => {
    err += d;
    for (const w of waiters.slice()) {
      const l = err.split('\n').find((x) => w.re.test(x));
      if (l !== undefined) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(l);
      }
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  const firstLine = await new Promise<string>((res, rej) => {
    let out = '';
    proc.stdout?.setEncoding('utf8');
    proc.stdout?.on('data', (d: string) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) res(out.slice(0, nl));
    });
    void exited.then(({ code }) => rej(new Error(`sslserver exited ${code} before -1: ${err}`)));
    setTimeout(() => rej(new Error(`no -1 line within 10 s; stderr: ${err}`)), 10_000).unref();
  });
  const m = / : ([0-9]+) \[/.exec(firstLine);
  if (m === null) throw new Error(`bad -1 line: ${firstLine}`);
  return {
    proc,
    port: Number(m[1]),
    firstLine,
    lines: () => err.split('\n').filter((l) => l !== ''),
    waitFor: (re, ms = 10_000) =>
      new Promise<string>((res, rej) => {
        const l = err.split('\n').find((x) => re.test(x));
        if (l !== undefined) return res(l);
        const w = { re, resolve: res };
        waiters.push(w);
        setTimeout(() => rej(new Error(`no stderr line like ${re} within ${ms} ms; got:\n${err}`)), ms).unref();
      }),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      // bounded: a server that does not end on SIGTERM (a session it lost track of) fails its
      // test with code null instead of hanging the whole suite
      const killer = setTimeout(() => proc.kill('SIGKILL'), STOP_TIMEOUT_MS);
      try {
        return (await exited).code;
      } finally {
        clearTimeout(killer);
      }
    },
    exited,
  };
}

/** Runs sslserver to completion (start-up failures): exit code, stdout and stderr. */
export function runServer(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const e: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    for (const [k, v] of Object.entries(env)) if (v !== undefined) e[k] = v;
    const p = spawn(process.execPath, [SSLSERVER, ...args], { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}

/** Connects with node's TLS client, sends `input` (then half-closes, TLS 1.3), returns everything read. */
export function tlsExchange(port: number, input: string | Buffer = '', opts: tls.ConnectionOptions & { localAddress?: string } = {}): Promise<{ data: Buffer; socket: tls.TLSSocket; localPort: number; peer: X509Certificate | undefined }> {
  return new Promise((res, rej) => {
    const chunks: Buffer[] = [];
    let localPort = 0;
    let peer: X509Certificate | undefined;
    // TLS 1.2 has no half-close: the receiver of close_notify "MUST ... discard any pending
    // writes" (RFC 5246 §7.2.1), and OpenSSL then drops what the server writes after it (seen:
    // 1 session in 8 under load). So a TLS 1.2 exchange leaves the close to the server.
    const halfClose = opts.maxVersion !== 'TLSv1.2';
    const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts } as tls.ConnectionOptions, () => {
      localPort = s.localPort ?? 0;
      peer = s.getPeerX509Certificate();
      if (input.length > 0) s.write(input);
      if (halfClose) s.end();
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', rej);
    s.on('close', () => res({ data: Buffer.concat(chunks), socket: s, localPort, peer }));
  });
}

/** Parses print-env.sh output into a map (lines before `---`). */
export function parseEnv(out: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of out.split('\n')) {
    if (line === '---') break;
    const i = line.indexOf('=');
    if (i > 0) m.set(line.slice(0, i), line.slice(i + 1));
  }
  return m;
}

/**
 * The identity a root start without SSL identity drops the network process to (passwd nobody),
 * which reads the rules files and per-rule TLS files after start-up.
 */
export const NOBODY: Identity = defaultIdentity();

/**
 * A temp dir (mkdtemp, as serverTmpDir's callers clean it up) that the dropped server can still
 * enter: mkdtemp makes 0700 dirs, which nobody may not search. Files written into it with the
 * default umask are 0644.
 * @param prefix the mkdtemp prefix
 * @returns the dir's path, mode 0755
 */
export function serverTmpDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

/** Open fds of a pid. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** One direct child: pid, state letter (Z: zombie) and command line (NULs as spaces). */
export interface ChildInfo {
  pid: number;
  state: string;
  cmdline: string;
}

/** Direct children of `pid`. */
export function childList(pid: number): ChildInfo[] {
  const out: ChildInfo[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(rest[1]) !== pid) continue;
      out.push({ pid: Number(e), state: rest[0] ?? '', cmdline: readFileSync(`/proc/${e}/cmdline`, 'utf8').replace(/\0/g, ' ') });
    } catch {
      // gone
    }
  }
  return out;
}

/** Direct children of `pid` and how many are zombies. */
export function childrenOf(pid: number): { total: number; zombies: number } {
  const all = childList(pid);
  return { total: all.length, zombies: all.filter((c) => c.state === 'Z').length };
}

/**
 * Open fds of the server's spawners (one per event loop), summed; 0 without one (fds a spawner
 * received and did not close are a leak).
 */
export function spawnerFdCount(serverPid: number): number {
  return childList(serverPid).filter((c) => c.cmdline.includes('sslserver-spawner')).reduce((n, c) => n + fdCount(c.pid), 0);
}

/** The server's sslserver-spawner child (a root start with a spawner), if it has one. */
export function spawnerOf(serverPid: number): number | undefined {
  return childList(serverPid).find((c) => c.cmdline.includes('sslserver-spawner'))?.pid;
}

/**
 * The programs of a server, wherever they run: the spawner's children, and the server's own
 * children other than its spawner and key helper (without a spawner, all of them). Zombies count
 * both the programs and the helpers themselves (a dead, unreaped spawner is a leak too).
 * @param serverPid the sslserver's pid
 * @returns how many programs exist and how many processes are zombies
 */
export function programsOf(serverPid: number): { total: number; zombies: number } {
  let total = 0;
  let zombies = 0;
  for (const c of childList(serverPid)) {
    if (c.state === 'Z') zombies++;
    if (c.cmdline.includes('sslserver-spawner')) {
      const p = childrenOf(c.pid);
      total += p.total;
      zombies += p.zombies;
    } else if (!c.cmdline.includes('key-helper.js')) {
      total++;
    }
  }
  return { total, zombies };
}
