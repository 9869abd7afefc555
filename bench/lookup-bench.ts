// Cost of the lookups in the accept path: TLS connections per second with -h (PTR from a local test
// DNS server, local name cached) versus -H and -h -p; otherwise the same server (-R, /bin/sh program).
// Run as root (binds 127.0.8.53:53): npm run build && node dist/bench/lookup-bench.js [seconds] [in-flight]
// The server's resolver list comes from DNSCACHEIP (src/lookup/resolver-servers.ts).
import { join } from 'node:path';
import { FIXTURES, startServer, tlsExchange } from '../test/integration/harness';
import { startDnsServer, TYPE_A, TYPE_PTR } from '../test/fixtures/dns-server';
import { ptrQueryName } from '../src/lookup/dns';

/** Seconds per case (argv[2]). */
const SECONDS = Number(process.argv[2] ?? 5);
/** Connections in flight at once (argv[3]). */
const IN_FLIGHT = Number(process.argv[3] ?? 8);
const DNS = '127.0.8.53';
const CLIENT = '127.0.0.3';

/** Connections per second for `args`, and how many DNS queries the server sent. */
async function measure(args: string[], queries: () => number): Promise<{ perSecond: number; queries: number }> {
  const s = await startServer(['-q', '-R', '-c', '200', ...args, '127.0.0.1', '0', join(FIXTURES, 'hello.sh')], { env: { DNSCACHEIP: DNS } });
  try {
    for (let i = 0; i < 20; i++) await tlsExchange(s.port, '', { localAddress: CLIENT }); // warm-up
    const q0 = queries();
    const end = performance.now() + SECONDS * 1000;
    let done = 0;
    const t0 = performance.now();
    const worker = async (): Promise<void> => {
      while (performance.now() < end) {
        await tlsExchange(s.port, '', { localAddress: CLIENT });
        done++;
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    return { perSecond: done / ((performance.now() - t0) / 1000), queries: queries() - q0 };
  } finally {
    await s.stop();
  }
}

async function main(): Promise<void> {
  const dns = await startDnsServer(DNS, (name) =>
    name === ptrQueryName(CLIENT) ? [{ type: TYPE_PTR, data: 'peer.test.example' }]
    : name === ptrQueryName('127.0.0.1') ? [{ type: TYPE_PTR, data: 'local.test.example' }]
    : name === 'peer.test.example' ? [{ type: TYPE_A, data: CLIENT }]
    : undefined);
  try {
    const count = (): number => dns.queries.length;
    const cases: Array<[string, string[]]> = [['-H', ['-H']], ['-h', ['-h']], ['-h -p', ['-h', '-p']]];
    console.log(`lookup-bench: ${SECONDS} s per case, ${IN_FLIGHT} TLS connections in flight, DNS server ${DNS}`);
    for (const [name, args] of cases) {
      const r = await measure(args, count);
      console.log(`${name.padEnd(6)} ${r.perSecond.toFixed(1).padStart(8)} conn/s  ${(r.queries / Math.max(1, r.perSecond * SECONDS)).toFixed(2)} DNS queries/conn`);
    }
  } finally {
    await dns.close();
  }
}

void main();
