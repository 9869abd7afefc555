// -n: UCSPI-TLS delayed STARTTLS. XXX: stub; issue #6 implements it.
import type net from 'node:net';
import type { ConnectionInfo } from '../env/connection-env';
import type { ServerTlsConfig } from '../tls/context';
import type { SessionEnd, SessionHost } from './session';

/** Everything a -n session needs from the connection path. */
export interface DelayedTlsRequest {
  host: SessionHost;
  /** The accepted, paused client socket (plaintext until the program asks for TLS). */
  socket: net.Socket;
  info: ConnectionInfo;
  /** The program's environment so far (server, rules, connection variables). */
  env: Map<string, string>;
  tlsConfig: ServerTlsConfig;
  /** Name the -z check compares the client certificate with (undefined: no check). */
  certHostName: string | undefined;
}

/** Serves a -n connection to its end. Never throws. */
export async function runDelayedTls(req: DelayedTlsRequest): Promise<SessionEnd> {
  req.host.log.logFailure('fatal', 111, 'delayed TLS (-n) is not implemented yet');
  req.socket.destroy();
  return { pid: req.host.serverPid, status: 111 << 8 };
}
