// Benchmark: compile a generated 1,000,000-line rules file with our tcprules and Debian's (wall time, peak RSS).
// Run: npx tsc -p . && node dist/bench/tcprules-bench.js [lines]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DEFAULT_LINES = 1_000_000;
const OUR_TCPRULES = join(__dirname, '..', 'src', 'cli', 'tcprules.js');
const DEBIAN_TCPRULES = '/usr/bin/tcprules';
const GNU_TIME = '/usr/bin/time';
/** Generous: Debian's tcprules needs a few seconds for a million lines here. */
const RUN_TIMEOUT_MS = 600_000;
const WRITE_BATCH_LINES = 10_000;

/** One rules line; `extended` adds the forms only ours supports (CIDR, compact IPv6, ranges). */
function ruleLine(i: number, extended: boolean): string {
  const a = (i >>> 16) & 0xff;
  const b = (i >>> 8) & 0xff;
  const c = i & 0xff;
  switch (i % 10) {
    case 0:
      return `=host${i}.example:deny`;
    case 1:
      return `${a}.${b}.${c}.:allow,PREFIX="${i}"`;
    case 2:
      return extended ? `${a}.${b}.${c}.0/24:allow,CIDR="${i}"` : `joe@10.${a}.${b}.${c}:allow`;
    case 3:
      return extended ? `2001:db8:${a.toString(16)}:${b.toString(16)}::${c.toString(16)}:deny` : `=.dom${i}.example:allow`;
    case 4:
      return extended ? `2001:db8:${a.toString(16)}:${b.toString(16)}::/64:allow,V6NET="${i}"` : `11.${a}.${b}.${c}:deny`;
    default:
      return `10.${a}.${b}.${c}:allow,RELAYCLIENT="",N="${i}"`;
  }
}

function writeRules(path: string, lines: number, extended: boolean): void {
  const fd = openSync(path, 'w');
  try {
    let batch: string[] = [];
    for (let i = 0; i < lines; i++) {
      batch.push(ruleLine(i, extended));
      if (batch.length === WRITE_BATCH_LINES) {
        writeSync(fd, `${batch.join('\n')}\n`);
        batch = [];
      }
    }
    writeSync(fd, `${batch.join('\n')}\n:deny\n`);
  } finally {
    closeSync(fd);
  }
}

interface Measure {
  wallSeconds: number;
  maxRssKiB: number;
  status: number | null;
}

/** Runs argv with stdin from `input` under GNU time -v, or timing it ourselves without it. */
function measure(argv: string[], input: string): Measure {
  const useTime = existsSync(GNU_TIME);
  const [cmd, ...args] = (useTime ? [GNU_TIME, '-v', ...argv] : argv) as [string, ...string[]];
  const fd = openSync(input, 'r');
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: [fd, 'ignore', 'pipe'], timeout: RUN_TIMEOUT_MS, encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  closeSync(fd);
  if (r.error) throw r.error;
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr ?? '');
  return { wallSeconds: wall, maxRssKiB: rss ? Number(rss[1]) : Number.NaN, status: r.status };
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex').slice(0, 16);
}

function main(): void {
  const lines = Number(process.argv[2] ?? DEFAULT_LINES);
  const dir = mkdtempSync(join(tmpdir(), 'tcprules-bench-'));
  try {
    const subset = join(dir, 'subset.rules');
    const extended = join(dir, 'extended.rules');
    writeRules(subset, lines, false);
    writeRules(extended, lines, true);
    const rows: Array<[string, Measure, string]> = [];
    const ours1 = join(dir, 'ours-subset.cdb');
    rows.push(['ours   subset  ', measure([process.execPath, OUR_TCPRULES, ours1, `${ours1}.tmp`], subset), ours1]);
    const ours2 = join(dir, 'ours-extended.cdb');
    rows.push(['ours   extended', measure([process.execPath, OUR_TCPRULES, ours2, `${ours2}.tmp`], extended), ours2]);
    if (existsSync(DEBIAN_TCPRULES)) {
      const deb = join(dir, 'debian-subset.cdb');
      rows.push(['debian subset  ', measure([DEBIAN_TCPRULES, deb, `${deb}.tmp`], subset), deb]);
    }
    const out: string[] = [`tcprules compile of ${lines + 1} lines (node ${process.version})`];
    out.push('who    input      exit  wall s   peak RSS MiB  cdb MiB  cdb sha256');
    for (const [who, m, cdb] of rows) {
      const size = existsSync(cdb) ? readFileSync(cdb).length / 2 ** 20 : Number.NaN;
      out.push(
        `${who}  ${String(m.status).padEnd(4)}  ${m.wallSeconds.toFixed(2).padStart(6)}  ${(m.maxRssKiB / 1024).toFixed(1).padStart(12)}  ${size.toFixed(1).padStart(7)}  ${existsSync(cdb) ? sha256(cdb) : '-'}`,
      );
    }
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main();
