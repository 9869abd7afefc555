// Spawn rate and parent CPU per spawn of /bin/true: native vfork path vs child_process fallback,
// and, as root, the privileged spawner that a root start uses (src/priv/spawner-client.ts; its
// own CPU is not in "parent CPU").
// Run: npx tsc -p . && node dist/bench/spawn-bench.js [spawns] [extra RSS in MiB]
import { SpawnerClient } from '../src/priv/spawner-client';
import { spawnProgram, type ChildHandle, type SpawnImpl } from '../src/spawn/spawn';
import * as native from '../src/sys/native';

/** Spawns per case (argv[2] overrides). */
const SPAWNS = Number(process.argv[2] ?? 2000);
/** Extra resident memory to hold while spawning, in MiB (argv[3]); fork() cost grows with it. */
const EXTRA_RSS_MIB = Number(process.argv[3] ?? 0);
/** Children in flight at once in the concurrent case (a busy server has many). */
const IN_FLIGHT = 50;
const WARMUP_SPAWNS = 100;

const TRUE_REQ = { file: '/bin/true', argv: ['true'], env: [], fds: [0, 1, 2] } as const;

interface Result {
  perSecond: number;
  cpuUsPerSpawn: number;
}

type Start = () => Promise<ChildHandle>;

/** Runs `count` spawns with at most `inFlight` children alive; times wall clock and our CPU. */
async function measure(start: Start, count: number, inFlight: number): Promise<Result> {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let started = 0;
  const worker = async (): Promise<void> => {
    while (started < count) {
      started++;
      const child = await start();
      const status = await child.exited;
      if (status !== 0) throw new Error(`/bin/true exited with status ${status}`);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: count / seconds, cpuUsPerSpawn: (cpu.user + cpu.system) / count };
}

async function main(): Promise<void> {
  // Touch every page so the memory is really resident (and in the page tables fork copies).
  const ballast = Buffer.alloc(EXTRA_RSS_MIB * 1024 * 1024, 1);
  const rssMib = Math.round(process.memoryUsage().rss / 1024 / 1024);
  process.stdout.write(`spawns=${SPAWNS} rss=${rssMib}MiB node=${process.version}\n`);
  const starts: Array<[string, Start]> = (['native', 'node'] as const).map((impl: SpawnImpl) => [impl, () => spawnProgram(TRUE_REQ, impl)]);
  if (process.getuid?.() === 0 && native.available() && native.spawnerPath() !== undefined) {
    const spawner = SpawnerClient.start({ argv: TRUE_REQ.argv });
    // the client does not hold the event loop open (a server exits with programs running)
    setInterval(() => undefined, 60_000);
    starts.push(['spawner', () => spawner.spawn(TRUE_REQ.env, TRUE_REQ.fds)]);
  }
  for (const [impl, start] of starts) {
    await measure(start, WARMUP_SPAWNS, 1);
    for (const inFlight of [1, IN_FLIGHT]) {
      const r = await measure(start, SPAWNS, inFlight);
      process.stdout.write(
        `${impl.padEnd(7)} in-flight=${String(inFlight).padStart(2)}  ${r.perSecond.toFixed(0).padStart(6)} spawns/s  ` +
          `parent CPU ${r.cpuUsPerSpawn.toFixed(0).padStart(5)} us/spawn\n`,
      );
    }
  }
  if (ballast.length !== EXTRA_RSS_MIB * 1024 * 1024) throw new Error('ballast');
  // the spawner channel and the interval above would keep the process alive
  process.exit(0);
}

main().catch((err: unknown) => {
  process.stderr.write(`spawn-bench: ${String(err)}\n`);
  process.exitCode = 1;
});
