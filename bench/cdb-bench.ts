// Lookup speed of cdbReaderFor(path).find(key) on a 10-record and a 1,000,000-record rules cdb.
// Run: npx tsc -p . && node dist/bench/cdb-bench.js
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CdbReader, cdbReaderFor } from '../src/rules/cdb-read';
import { CdbWriter } from '../src/rules/cdb-write';
import { prng } from '../test/fixtures/prng';

/** Untimed lookups before each case, so the page cache and the JIT are warm. */
const WARMUP_LOOKUPS = 20_000;
/** Lookups in the throughput loop (no per-call clock reads). */
const THROUGHPUT_LOOKUPS = 200_000;
/** Lookups timed one by one for the latency percentiles. */
const LATENCY_LOOKUPS = 50_000;
/** Distinct keys cycled through per case, in random order. */
const KEY_POOL = 10_000;
const TARGET_US = 20;

/** The i-th tcprules-like key: an IPv4 address, an =host name, or an IPv4 CIDR key. */
function ruleKey(i: number): string {
  switch (i % 3) {
    case 0:
      return `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    case 1:
      return `=host${i}.example.net`;
    default:
      return cidrKey((i * 2654435761) >>> 0, 8 + (i % 25));
  }
}

/** SPEC.md CIDR key: `_`, then per prefix bit `0` if clear, else that position's letter. */
const CIDR_LETTERS = 'abcdefghijklmnopqrstuvwxyz123456';
function cidrKey(address: number, prefixBits: number): string {
  let key = '_';
  for (let bit = 0; bit < prefixBits; bit++) {
    key += (address >>> (31 - bit)) & 1 ? CIDR_LETTERS[bit] : '0';
  }
  return key;
}

/** Keys of the same shapes that are never written: IPs in 11/8, other hosts, 7-bit CIDR keys. */
function missKey(i: number): string {
  switch (i % 3) {
    case 0:
      return `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    case 1:
      return `=other${i}.example.org`;
    default:
      return cidrKey((i * 2654435761) >>> 0, 7);
  }
}

function ruleData(i: number): Buffer {
  return i % 7 === 0 ? Buffer.from('D\0') : Buffer.from(`+RELAYCLIENT=\0+RULE=${i}\0`);
}

function buildCdb(path: string, records: number): number {
  const started = process.hrtime.bigint();
  const w = CdbWriter.create(path);
  for (let i = 0; i < records; i++) w.add(Buffer.from(ruleKey(i)), ruleData(i));
  w.finish();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

interface CaseResult {
  case: string;
  records: number;
  fileBytes: number;
  lookupsPerSec: number;
  p50Us: number;
  p99Us: number;
  maxUs: number;
}

function percentile(sorted: Float64Array, p: number): number {
  const i = Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length));
  return sorted[i] as number;
}

function runCase(
  name: string,
  path: string,
  keys: string[],
  find: (k: string) => Buffer | undefined,
  expectHit: boolean,
): CaseResult {
  for (let i = 0; i < WARMUP_LOOKUPS; i++) {
    const key = keys[i % keys.length] as string;
    const found = find(key) !== undefined;
    if (found !== expectHit) throw new Error(`${name}: unexpected ${found ? 'hit' : 'miss'}: ${key}`);
  }
  let t0 = process.hrtime.bigint();
  for (let i = 0; i < THROUGHPUT_LOOKUPS; i++) find(keys[i % keys.length] as string);
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  const samples = new Float64Array(LATENCY_LOOKUPS);
  for (let i = 0; i < LATENCY_LOOKUPS; i++) {
    const key = keys[i % keys.length] as string;
    t0 = process.hrtime.bigint();
    find(key);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  samples.sort();
  return {
    case: name,
    records: Number(name.split('-')[0]),
    fileBytes: statSync(path).size,
    lookupsPerSec: Math.round(THROUGHPUT_LOOKUPS / (elapsedNs / 1e9)),
    p50Us: Number(percentile(samples, 50).toFixed(2)),
    p99Us: Number(percentile(samples, 99).toFixed(2)),
    maxUs: Number((samples[samples.length - 1] as number).toFixed(1)),
  };
}

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'cdb-bench-'));
  const results: CaseResult[] = [];
  try {
    const rand = prng(42);
    for (const records of [10, 1_000_000]) {
      const path = join(dir, `rules-${records}.cdb`);
      const buildMs = buildCdb(path, records);
      const size = statSync(path).size;
      process.stdout.write(`built ${records} records (${size} bytes) in ${buildMs.toFixed(0)} ms\n`);
      const hits: string[] = [];
      const misses: string[] = [];
      for (let i = 0; i < KEY_POOL; i++) {
        hits.push(ruleKey(Math.floor(rand() * records)));
        misses.push(missKey(Math.floor(rand() * 1_000_000)));
      }
      const viaFor = (k: string): Buffer | undefined => cdbReaderFor(path).find(k);
      results.push(runCase(`${records}-hit`, path, hits, viaFor, true));
      results.push(runCase(`${records}-miss`, path, misses, viaFor, false));
      // For reference: the same lookups without the per-call stat(2) of cdbReaderFor.
      const direct = CdbReader.open(path);
      try {
        const viaReader = (k: string): Buffer | undefined => direct.find(k);
        results.push(runCase(`${records}-hit-nostat`, path, hits, viaReader, true));
      } finally {
        direct.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const header = ['case', 'records', 'file bytes', 'lookups/s', 'p50 us', 'p99 us', 'max us'];
  const rows = results.map((r) => [
    r.case,
    `${r.records}`,
    `${r.fileBytes}`,
    `${r.lookupsPerSec}`,
    r.p50Us.toFixed(2),
    r.p99Us.toFixed(2),
    r.maxUs.toFixed(1),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] as string).length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => cell.padStart(widths[c] as number)).join('  ');
  process.stdout.write(`\n${line(header)}\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
  process.stdout.write(`target: p50 under ${TARGET_US} us per lookup\n\n`);
  for (const r of results) process.stdout.write(`${JSON.stringify({ bench: 'cdb', node: process.version, ...r })}\n`);
}

main();
