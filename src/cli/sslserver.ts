#!/usr/bin/env -S node --max-semi-space-size=4 --interrupt-budget=4096
// sslserver: argv and environment in, a running TLS exec superserver out; the only place that exits.
// The shebang caps each of V8's two young-generation halves at 4 MiB (16 by default): the
// handshakes of a busy hour would otherwise grow it for good, about 7 KiB per held connection
// in `bench.py idlemem`, for about 9 us more GC per connection. It also lets V8 optimize a hot
// function after a 32nd of the work it waits for by default (132 KiB of bytecode budget), so
// that a freshly started server compiles its per-connection path in its first hundred or so
// connections instead of its first couple of thousand, where it cost up to a quarter more CPU
// per connection (README: performance).
import { closeSync, readFileSync, readSync, writeSync } from 'node:fs';
import { ConfigError, EXIT_PERMANENT, EXIT_TEMPORARY, UsageError, errCode } from '../errors';
import { exactArg, inheritedArgs, inheritedEnv } from '../env/env-bytes';
import { Log } from '../log/log';
import { resolveBindAddress, resolvePort } from '../listen/address';
import { tlsSettingsFromEnv } from '../tls/settings';
import { contextOptionsFromEnv, createServerContext, loadTlsMaterial } from '../tls/context';
import { SslServer } from '../server/server';
import type { ServerConfig } from '../server/config';
import { formatSslserverUsage, parseSslserverArgs, type Options } from './options';
import { writeErr } from './die';
import { closeInheritedFds } from '../sys/inherited-fds';
import { dropAfterBind, startPrivilegeSeparation } from '../priv/separation';
import { useProgramSpawner } from '../spawn/program';
import { randomBytes } from 'node:crypto';
import * as native from '../sys/native';
import { Listener, type BoundSocket } from '../listen/listener';
import { handshakeFdBudget } from '../listen/fd-budget';
import { EventLoops, eventLoopCount } from '../server/event-loops';
import type { EventLoopData } from '../server/event-loop-wire';
import type { EventLoopShare } from '../server/server';
import { allocateLoopMemory, loopShare, type LoopMemory } from '../server/loop-share';
import { nativeHeapPolicy } from '../sys/heap-policy';
import type { TlsMaterial } from '../tls/context';

// Session ticket keys: 16 bytes of name, 16 of HMAC key, 16 of AES key (Node's ticketKeys)
const TICKET_KEY_BYTES = 48;

// -3: the key password, up to a NUL byte or EOF; more than this is not a password
const MAX_PASSWORD_BYTES = 4096;

async function main(): Promise<void> {
  let opts: Options;
  try {
    opts = parseSslserverArgs(inheritedArgs(), process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    writeErr(formatSslserverUsage(err));
    process.exit(EXIT_PERMANENT);
  }
  const log = new Log(opts.verbosity);
  const fail = (kind: 'fatal' | 'error', text: string): never => {
    log.logFailure(kind, EXIT_TEMPORARY, text);
    process.exit(EXIT_TEMPORARY);
  };

  let port: number;
  let bind;
  try {
    port = resolvePort(opts.port);
    bind = await resolveBindAddress(opts.host, opts.family);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.kind, err.message);
    throw err;
  }

  // the program's environment starts as ours, byte for byte (process.env would mend non-UTF-8)
  const baseEnv = inheritedEnv();
  // Options carries every ServerConfig field under the same name (the compiler checks it);
  // the CLI-only ones (host, port, -1, -3, -4/-6, -b, verbosity) ride along unused
  const interfaceName = opts.interfaceName ?? bind.zone;
  const config: ServerConfig = { ...opts, baseEnv, ...(interfaceName === undefined ? {} : { interfaceName }) };

  // as ucspi-ssl: bind, print -1, then read the password and load the TLS material
  const password = opts.passwordFromFd3 ? readPassword(fail) : undefined;
  // the program gets fd 0, 1 and 2 only: nothing we inherited either
  closeInheritedFds();
  // the TLS files by the bytes of their names, as the program will see the variables
  const settings = tlsSettingsFromEnv(Object.fromEntries(baseEnv), opts.clientCert);
  // several event loops (worker threads) on one port, each with its own SO_REUSEPORT socket
  let loops = 1;
  const fdBudget = handshakeFdBudget();
  try {
    loops = native.available() ? eventLoopCount(process.env, undefined, fdBudget) : 1;
  } catch (err) {
    if (err instanceof ConfigError) fail(err.kind, err.message);
    throw err;
  }
  // a root start gives up root in the network process (src/priv/separation.ts)
  let sep;
  try {
    sep = await startPrivilegeSeparation({
      env: process.env,
      current: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      program: config.program,
      ...(config.uid === undefined ? {} : { uid: config.uid }),
      ...(config.gid === undefined ? {} : { gid: config.gid }),
      ...(password === undefined ? {} : { password }),
      loops,
    });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.kind, err.message);
    throw err;
  }
  const { loadMaterial } = sep;
  // one set of ticket keys for every context of every loop: a ticket resumes in any loop
  const ticketKeys = randomBytes(TICKET_KEY_BYTES);
  // as the reference: the start-up TLS files are read before anything is given up
  let baseTls;
  let material: TlsMaterial;
  try {
    material = loadMaterial !== undefined ? await loadMaterial(settings) : loadTlsMaterial(settings, (p: string) => readFileSync(exactArg(p)), sep.password);
    baseTls = createServerContext(material, settings, { ...contextOptionsFromEnv(process.env), ticketKeys });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.kind, err.message);
    throw err;
  }
  if (sep.spawner !== undefined) useProgramSpawner(sep.spawner);

  let eventLoops: EventLoops | undefined;
  let share: EventLoopShare = { ticketKeys };
  let memory: LoopMemory | undefined;
  if (loops > 1) {
    memory = allocateLoopMemory(fdBudget);
    // the main thread's loop is idle: exit when the others are too (a SIGTERM before they
    // started: at once, they have no session yet)
    share = loopShare(memory, config, loops, ticketKeys, () => void (eventLoops === undefined ? Promise.resolve() : eventLoops.whenIdle()).then(() => process.exit(0)));
  }
  const server = new SslServer(config, log, baseTls, sep.password, loadMaterial, { ...share, heap: nativeHeapPolicy() });
  process.on('SIGTERM', () => {
    server.terminate();
    eventLoops?.terminate();
  });
  const listenOpts = {
    bind,
    port,
    backlog: opts.backlog,
    ...(opts.interfaceName === undefined ? {} : { interfaceName: opts.interfaceName }),
  };
  let listener;
  const bound: BoundSocket[] = [];
  try {
    if (loops === 1) listener = await server.listen(listenOpts);
    else {
      // all bound here, as root if started so: privileged ports work for every loop
      bound.push(Listener.bind({ ...listenOpts, reusePort: true }));
      const realPort = (bound[0] as BoundSocket).port;
      for (let i = 1; i < loops; i++) bound.push(Listener.bind({ ...listenOpts, port: realPort, reusePort: true }));
      listener = await server.adopt(bound[0] as BoundSocket);
    }
  } catch (err) {
    if (errCode(err) === 'ENODEV') fail('fatal', `unable to bind to interface: ${opts.interfaceName ?? ''}`);
    fail('fatal', `unable to bind to: ${bind.address} port: ${port}`);
    return;
  }
  if (loops > 1) {
    // the other loops start before the drop: their modules are read while we may still read them
    const loopData: EventLoopData[] = [];
    for (let i = 1; i < loops; i++) {
      const spawner = sep.spawnerChannels?.[i - 1];
      loopData.push({
        config,
        verbosity: opts.verbosity,
        settings,
        material,
        ...(sep.password === undefined ? {} : { password: sep.password }),
        viaKeyHelper: loadMaterial !== undefined,
        ticketKeys,
        memory: memory as LoopMemory,
        loops,
        bound: bound[i] as BoundSocket,
        ...(spawner === undefined ? {} : { spawner }),
        dropBoundingSet: sep.plan.kind === 'separated',
      });
    }
    try {
      eventLoops = await EventLoops.start({
        loops: loopData,
        ...(loadMaterial === undefined ? {} : { loadMaterial }),
        onFatal: (text) => fail('fatal', text),
      });
    } catch (err) {
      fail('fatal', `unable to start the event loops: ${(err as Error).message}`);
    }
  }
  // bound (a privileged port too): from here on the process that speaks TLS has no root
  try {
    dropAfterBind(sep, [opts.rulesFile, opts.ipRulesFile].filter((f): f is string => f !== undefined));
  } catch (err) {
    if (err instanceof ConfigError) fail(err.kind, err.message);
    throw err;
  }
  if (opts.printLocal) {
    // the real port, after bind (the reference prints the requested one: bug port0_print)
    writeSync(1, `${listener.address} : ${listener.port} [${opts.limit}/${opts.maxConIp}]\n`);
  }
  log.logSettings(process.pid, {
    ciphers: settings.ciphers ?? '',
    cafile: settings.caFile ?? '',
    ccafile: settings.ccaFile ?? '',
    cadir: settings.caDir ?? '',
    certchainfile: settings.certChainFile ?? '',
    cert: settings.certFile ?? '',
    key: settings.keyFile ?? '',
    dhparam: settings.dhFile ?? '',
  });
  log.logStatus(0, opts.limit, opts.maxConIp);
}

/** -3: reads fd 3 up to a NUL byte or EOF, then closes it. */
function readPassword(fail: (kind: 'fatal' | 'error', text: string) => never): Buffer {
  const buf = Buffer.alloc(MAX_PASSWORD_BYTES + 1);
  let len = 0;
  try {
    for (;;) {
      const n = readSync(3, buf, len, buf.length - len, null);
      if (n === 0) break;
      const nul = buf.indexOf(0, len);
      len += n;
      if (nul !== -1 && nul < len) {
        len = nul;
        break;
      }
      if (len > MAX_PASSWORD_BYTES) fail('error', 'password too long');
    }
    closeSync(3);
  } catch (err) {
    if (errCode(err) === 'EAGAIN') fail('error', 'unable to read password from FD3');
    fail('error', 'unable to read password from FD3');
  }
  return Buffer.from(buf.subarray(0, len));
}

main().catch((err: unknown) => {
  writeErr(`sslserver: fatal: (111) internal error; please report: ${String(err)}\n`);
  process.exit(EXIT_TEMPORARY);
});
