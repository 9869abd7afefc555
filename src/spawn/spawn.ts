// Starts one program with an exact fd map and identity: the native vfork path, or child_process.
import { spawn as cpSpawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import { SysError } from '../errors';
import * as native from '../sys/native';

/**
 * One program to start: the addon's own option shape (fds[i] becomes fd i, nothing else is
 * inherited; see the fallback's limits below).
 */
export type SpawnRequest = native.NativeSpawnOptions;

/** A started program. */
export interface ChildHandle {
  readonly pid: number;
  /** Resolves with the raw wait status once the child is reaped (exit 3 -> 768, SIGTERM -> 15). */
  readonly exited: Promise<number>;
  /** Sends a signal (default SIGTERM); a child already gone is not an error. */
  kill(signal?: NodeJS.Signals | number): void;
  /** Lets Node exit while this child still runs (as ChildProcess.unref). Optional so that
   * handles made elsewhere (src/priv/spawner-client.ts) still fit. */
  unref?(): void;
  /** Undoes unref(): the running child keeps Node alive again (the default). */
  ref?(): void;
}

/** Which implementation starts programs. */
export type SpawnImpl = 'native' | 'node';

/** Environment variable that forces the pure-Node path: `SSLSERVER_SPAWN=node`. */
export const SPAWN_IMPL_ENV = 'SSLSERVER_SPAWN';

/**
 * The implementation `spawnProgram` uses by default.
 * @returns 'native' when the addon loads, unless SSLSERVER_SPAWN=node forces the fallback
 */
export function spawnImpl(): SpawnImpl {
  if (process.env[SPAWN_IMPL_ENV] === 'node') return 'node';
  return native.available() ? 'native' : 'node';
}

/**
 * Starts a program.
 * @param req what to run, with which fds and identity
 * @param impl which path to use; defaults to `spawnImpl()` (tests run both)
 * @returns the running child
 * @throws SysError (as a rejection) when it cannot be started: ENOENT/EACCES with syscall
 *   `execve`, EPERM from `setuid`…; ENOSYS for what the node path cannot do (chroot,
 *   a non-empty group list)
 */
export async function spawnProgram(req: SpawnRequest, impl: SpawnImpl = spawnImpl()): Promise<ChildHandle> {
  return impl === 'native' ? spawnNative(req) : spawnNode(req);
}

function spawnNative(req: SpawnRequest): ChildHandle {
  const child = native.spawnChild(req);
  let done = false;
  const exited = child.exited.then((status) => {
    done = true;
    return status;
  });
  return {
    pid: child.pid,
    exited,
    kill(signal = 'SIGTERM') {
      // Reaping happens on this thread, so until `done` the pid is still ours: no reuse race.
      if (done) return;
      try {
        process.kill(child.pid, signal);
      } catch (err) {
        // ESRCH: exiting. EPERM: it became another user (a setuid program): it cannot be
        // stopped from here, so its session waits for its exit, still counted under -c, as the
        // node path does (ChildProcess.kill reports EPERM only as an 'error' event)
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ESRCH' && code !== 'EPERM') throw SysError.from(err, 'kill');
      }
    },
    unref: () => child.setRef(false),
    ref: () => child.setRef(true),
  };
}

// The pure-Node path. libuv forks (cost grows with our RSS) and differs from the native path:
// - fds outside the map are closed only if they are close-on-exec; an fd inherited without
//   CLOEXEC (from our own parent) leaks into the child;
// - when uid or gid is set, libuv calls setgroups(0) in the child, so groups end up empty
//   whether or not asked; a non-empty list cannot be expressed (ENOSYS);
// - no chroot (ENOSYS); fd -1 in the map gives /dev/null for 0-2 and nothing above;
// - duplicate NAME= entries collapse to the last one (the env is passed as an object);
// - the wait status is rebuilt from (code, signal): the core-dump bit is lost.
async function spawnNode(req: SpawnRequest): Promise<ChildHandle> {
  if (req.chroot !== undefined) throw new SysError('ENOSYS', 'chroot', req.chroot);
  if (req.groups !== undefined && req.groups.length > 0) throw new SysError('ENOSYS', 'setgroups');
  if (req.groups !== undefined && (req.uid ?? -1) === -1 && (req.gid ?? -1) === -1) {
    // groups: [] alone: libuv clears groups only together with a uid or gid change
    throw new SysError('ENOSYS', 'setgroups');
  }
  const stdio: (number | 'ignore')[] = req.fds.map((fd) => (fd < 0 ? 'ignore' : fd));
  while (stdio.length < 3) stdio.push('ignore');
  return (await startChildProcess(req, stdio)).child;
}

/** A program started by child_process with pipes on fd 0 and fd 1 (our ends) and our fd 2. */
export interface PipedChild {
  child: ChildHandle;
  stdin: Writable;
  stdout: Readable;
}

/**
 * The fallback of src/spawn/program.ts: child_process makes the pipes (Node cannot make a pipe
 * without the addon). Identity as libuv sets it: uid/gid, supplementary groups cleared.
 * @throws SysError (rejects) when it cannot be started
 */
export async function spawnNodePiped(req: Omit<SpawnRequest, 'fds' | 'groups' | 'chroot'>): Promise<PipedChild> {
  const { cp, child } = await startChildProcess(req, ['pipe', 'pipe', 'inherit']);
  return { child, stdin: cp.stdin as Writable, stdout: cp.stdout as Readable };
}

/** child_process.spawn with `stdio`, settled once it started or failed, as a ChildHandle. */
async function startChildProcess(req: Omit<SpawnRequest, 'fds'>, stdio: StdioOptions): Promise<{ cp: ChildProcess; child: ChildHandle }> {
  const cp = cpSpawn(req.file, req.argv.slice(1), {
    argv0: req.argv[0] ?? req.file,
    env: envObject(req.env),
    stdio,
    ...(req.uid === undefined || req.uid === -1 ? {} : { uid: req.uid }),
    ...(req.gid === undefined || req.gid === -1 ? {} : { gid: req.gid }),
  });
  const exited = new Promise<number>((resolve) => {
    cp.once('exit', (code, signal) => resolve(rawStatus(code, signal)));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(SysError.from(err, 'execve', req.file));
    cp.once('error', onError);
    cp.once('spawn', () => {
      cp.off('error', onError);
      // later errors (a failed kill) are reported by kill() itself
      cp.on('error', () => undefined);
      resolve();
    });
  });
  const child: ChildHandle = {
    pid: cp.pid as number,
    exited,
    kill(signal = 'SIGTERM') {
      // ChildProcess.kill ignores ESRCH and a child already reaped
      cp.kill(signal);
    },
    unref: () => cp.unref(),
    ref: () => cp.ref(),
  };
  return { cp, child };
}

/** `NAME=value` entries to the object child_process wants; entries without `=` are dropped. */
function envObject(env: readonly string[]): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const entry of env) {
    const eq = entry.indexOf('=');
    if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** waitpid(2) status from Node's (code, signal): exit n -> n << 8, signal s -> s. */
export function rawStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (signal !== null) return osConstants.signals[signal] ?? 0;
  return ((code ?? 0) & 0xff) << 8;
}
