// One more event loop of sslserver (a worker thread): accepts on its own SO_REUSEPORT socket and serves its connections.
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError } from '../errors';
import { Log } from '../log/log';
import { SpawnerClient } from '../priv/spawner-client';
import { useProgramSpawner } from '../spawn/program';
import * as native from '../sys/native';
import { contextOptionsFromEnv, createServerContext, type TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import type { EventLoopData, LoopOrder, LoopReport } from './event-loop-wire';
import { SslServer } from './server';
import { loopShare } from './loop-share';
import { nativeHeapPolicy } from '../sys/heap-policy';

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('not a worker thread');
  const data = workerData as EventLoopData;
  const report = (r: LoopReport): void => port.postMessage(r);
  try {
    // the bounding set is per thread: the main thread's drop does not reach this one
    if (data.dropBoundingSet) native.dropPrivilegeLimits();
    if (data.spawner !== undefined) useProgramSpawner(SpawnerClient.adopt(data.spawner));
    const pending = new Map<number, { resolve(m: TlsMaterial): void; reject(e: Error): void }>();
    let nextId = 1;
    const loadMaterial = data.viaKeyHelper
      ? (settings: TlsSettings): Promise<TlsMaterial> =>
          new Promise<TlsMaterial>((resolve, reject) => {
            const id = nextId++;
            pending.set(id, { resolve, reject });
            report({ kind: 'load', id, settings });
          })
      : undefined;
    const contextOptions = { ...contextOptionsFromEnv(data.config.baseEnv), ticketKeys: data.ticketKeys };
    const baseTls = createServerContext(data.material, data.settings, contextOptions);
    const onIdle = (): void => {
      report({ kind: 'idle' });
      port.close();
    };
    const share = { ...loopShare(data.memory, data.config, data.loops, data.ticketKeys, onIdle), heap: nativeHeapPolicy() };
    const server = new SslServer(data.config, new Log(data.verbosity), baseTls, data.password, loadMaterial, share);
    port.on('message', (order: LoopOrder) => {
      if (order.kind === 'terminate') server.terminate();
      else if (order.kind === 'loaded' || order.kind === 'load-failed') {
        const p = pending.get(order.id);
        pending.delete(order.id);
        if (order.kind === 'loaded') p?.resolve(order.material);
        else p?.reject(new ConfigError(order.message, { kind: order.errorKind }));
      }
    });
    await server.adopt(data.bound);
    report({ kind: 'ready' });
  } catch (err) {
    report({ kind: 'failed', message: err instanceof Error ? err.message : String(err) });
  }
}

void main();
