// Starts the user's program for one connection with fd 0/1 on fresh pipes and fd 2 on ours.
import { SysError } from '../errors';
import * as native from '../sys/native';
import { fdProgramIo, streamProgramIo, type ProgramIo } from './program-io';
import { spawnImpl, spawnNodePiped, spawnProgram, type ChildHandle } from './spawn';

/** What to run, as whom. */
export interface ProgramRequest {
  argv: readonly string[];
  env: readonly string[];
  uid?: number;
  gid?: number;
  groups?: readonly number[];
}

/**
 * Starts the one configured program as its configured identity for us (after a root start the
 * network process may not change identity itself: src/priv/spawner-client.ts).
 */
export interface ProgramSpawner {
  /**
   * @param env the whole environment
   * @param fds become the program's fd 0, 1, 2...; ours stay open
   * @returns the running program
   * @throws SysError when it cannot be started
   */
  spawn(env: readonly string[], fds: readonly number[]): Promise<ChildHandle>;
}

let programSpawner: ProgramSpawner | undefined;

/**
 * Routes every later startProgram through `spawner` (its identity is fixed: the request's
 * uid/gid/groups are then not used), or back to the direct path with undefined.
 * @param spawner the privileged spawner, or undefined
 */
export function useProgramSpawner(spawner: ProgramSpawner | undefined): void {
  programSpawner = spawner;
}

/**
 * Starts the program with an fd map of the caller's (`-n`: the socket, the control socket and the
 * two pipes), through the privileged spawner when there is one.
 * @param req what to run, as whom (ignored by a spawner: its identity is fixed)
 * @param fds become the program's fd 0, 1, 2...; ours stay open
 * @throws SysError when it cannot be started
 */
export function spawnWithFds(req: ProgramRequest, fds: readonly number[]): Promise<ChildHandle> {
  if (programSpawner !== undefined) return programSpawner.spawn(req.env, fds);
  return spawnProgram({
    file: req.argv[0] ?? '',
    argv: req.argv,
    env: req.env,
    fds,
    ...(req.uid === undefined ? {} : { uid: req.uid }),
    ...(req.gid === undefined ? {} : { gid: req.gid }),
    ...(req.groups === undefined ? {} : { groups: req.groups }),
  });
}

/** A started program and our ends of its stdin/stdout pipes. */
export interface RunningProgram {
  readonly child: ChildHandle;
  /** Our ends of the program's fd 0 and fd 1. */
  readonly io: ProgramIo;
}

/**
 * Starts `argv` with fd 0 and fd 1 on pipes to us and fd 2 on our stderr, nothing else.
 * Native path: pipes and a vfork-style spawn from the addon. Fallback: child_process.
 * @throws SysError when the program cannot be started (ENOENT, EACCES, EMFILE…)
 */
export async function startProgram(req: ProgramRequest): Promise<RunningProgram> {
  const file = req.argv[0];
  if (file === undefined) throw new SysError('EINVAL', 'execve');
  if (spawnImpl() === 'native' || programSpawner !== undefined) return startNative(file, req);
  return startFallback(file, req);
}

async function startNative(file: string, req: ProgramRequest): Promise<RunningProgram> {
  const [inR, inW] = native.pipe();
  let outFds: [number, number];
  try {
    outFds = native.pipe();
  } catch (err) {
    native.close(inR);
    native.close(inW);
    throw err;
  }
  const [outR, outW] = outFds;
  let child: ChildHandle;
  try {
    child = programSpawner !== undefined ? await programSpawner.spawn(req.env, [inR, outW, 2]) : await spawnProgram({
      file,
      argv: req.argv,
      env: req.env,
      fds: [inR, outW, 2],
      ...(req.uid === undefined ? {} : { uid: req.uid }),
      ...(req.gid === undefined ? {} : { gid: req.gid }),
      ...(req.groups === undefined ? {} : { groups: req.groups }),
    });
  } catch (err) {
    for (const fd of [inR, inW, outR, outW]) native.close(fd);
    throw err;
  }
  // the child has its copies: ours would keep EOF from ever coming
  native.close(inR);
  native.close(outW);
  let io: ProgramIo;
  try {
    io = fdProgramIo(inW, outR);
  } catch (err) {
    // inW and outR are closed; the program sees EOF and EPIPE and ends, the relay never starts
    child.kill('SIGTERM');
    throw err;
  }
  return { child, io };
}

async function startFallback(file: string, req: ProgramRequest): Promise<RunningProgram> {
  // libuv clears the supplementary groups whenever uid or gid is set: `groups` is not passed
  const { child, stdin, stdout } = await spawnNodePiped({
    file,
    argv: req.argv,
    env: req.env,
    ...(req.uid === undefined ? {} : { uid: req.uid }),
    ...(req.gid === undefined ? {} : { gid: req.gid }),
  });
  return { child, io: streamProgramIo(stdin, stdout) };
}
