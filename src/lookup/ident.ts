// RFC 1413 IDENT client: ask the peer's port 113 who owns the connection, one bounded attempt.
import net from 'node:net';
import { ProtocolError } from '../errors';

/** RFC 1413 §3: the IDENT server listens on TCP port 113. */
export const IDENT_PORT = 113;
/** RFC 1413 §5 caps the user-id at 512 octets; the whole reply line gets this budget. */
export const MAX_IDENT_REPLY_BYTES = 1000;
/** RFC 1413 §5: "The user identifier ... should be ... no more than 512 octets". */
export const MAX_IDENT_USERID_BYTES = 512;

const QUESTION = 0x3f;

/** One IDENT query: the connection's four address fields and the deadline (-t). */
export interface IdentQuery {
  remoteIp: string;
  remotePort: number;
  /** The query goes out from this address, the connection's own local address. */
  localIp: string;
  localPort: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

/**
 * Asks the peer's IDENT server (RFC 1413) for the user of this connection: connects from
 * `localIp` to `remoteIp:113`, sends `remotePort , localPort`, reads one line of at most
 * MAX_IDENT_REPLY_BYTES. The connect, write and read share one deadline of `timeoutMs`; an
 * abort ends the wait at once. Never throws.
 * @param q the connection and the deadline
 * @returns the sanitised user-id (see parseIdentReply), or undefined for an error reply,
 *   a refused or silent server, a reply past the budget, or one without an end of line
 * @example
 * ```ts
 * const info = await queryIdent({ remoteIp, remotePort, localIp, localPort, timeoutMs: 26_000 });
 * ```
 */
export function queryIdent(q: IdentQuery): Promise<string | undefined> {
  if (q.signal?.aborted === true) return Promise.resolve(undefined);
  return new Promise<string | undefined>((resolve) => {
    const socket = net.connect({ host: q.remoteIp, port: IDENT_PORT, localAddress: q.localIp });
    const chunks: Buffer[] = [];
    let got = 0;
    const finish = (value: string | undefined): void => {
      clearTimeout(timer);
      q.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(value);
    };
    const onAbort = (): void => finish(undefined);
    const timer = setTimeout(() => finish(undefined), q.timeoutMs);
    q.signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('error', () => finish(undefined));
    socket.on('close', () => finish(undefined));
    socket.on('end', () => finish(undefined)); // EOF before the end of line
    socket.once('connect', () => socket.write(`${q.remotePort} , ${q.localPort}\r\n`));
    socket.on('data', (d: Buffer) => {
      const nl = d.indexOf(0x0a);
      const take = nl >= 0 ? d.subarray(0, nl) : d;
      if (got + take.length > MAX_IDENT_REPLY_BYTES) return finish(undefined);
      chunks.push(take);
      got += take.length;
      if (nl < 0) return;
      try {
        finish(parseIdentReply(Buffer.concat(chunks), q.remotePort, q.localPort));
      } catch {
        finish(undefined); // ERROR replies and garbage: no info
      }
    });
  });
}

/**
 * Parses one IDENT reply line (RFC 1413 §6: `port , port : USERID : opsys[,charset] : user-id`,
 * without its LF; a final CR is dropped). The ports must be the ones asked about. The user-id
 * loses its spaces, tabs and CRs, wherever they are (as djb's remoteinfo.c), and is then made
 * safe for the environment, a rules key (`info@ip`) and the `ok` line: every byte outside
 * 33..126, and `%` and `:`, becomes `?` (the reference passes those bytes on as they are).
 * @param line the reply line
 * @param remotePort the first port of the query (the peer's)
 * @param localPort the second port (ours)
 * @returns the sanitised user-id, 1..MAX_IDENT_USERID_BYTES characters
 * @throws ProtocolError for an ERROR reply, other ports, a malformed line or an over-long user-id
 * @example parseIdentReply(Buffer.from('6193, 23 : USERID : UNIX : stjohns\r'), 6193, 23) // 'stjohns'
 */
export function parseIdentReply(line: Buffer, remotePort: number, localPort: number): string {
  if (line.length > MAX_IDENT_REPLY_BYTES) throw new ProtocolError(`Cannot parse IDENT reply: longer than ${MAX_IDENT_REPLY_BYTES} bytes`);
  const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
  const text = line.subarray(0, end);
  const colons: number[] = [];
  for (let i = 0; i < text.length && colons.length < 3; i++) if (text[i] === 0x3a) colons.push(i);
  if (colons.length < 2) throw new ProtocolError('Cannot parse IDENT reply: too few fields');
  const [c1, c2, c3] = colons as [number, number, number | undefined];
  const ports = /^[ \t]*([0-9]{1,5})[ \t]*,[ \t]*([0-9]{1,5})[ \t]*$/.exec(text.subarray(0, c1).toString('latin1'));
  if (ports === null || Number(ports[1]) !== remotePort || Number(ports[2]) !== localPort) throw new ProtocolError('Cannot parse IDENT reply: not the ports asked about');
  const kind = text.subarray(c1 + 1, c2).toString('latin1').trim().toUpperCase();
  if (kind !== 'USERID' || c3 === undefined) throw new ProtocolError(`Cannot use IDENT reply: ${kind === 'ERROR' ? 'error reply' : 'unknown reply type'}`);
  // as djb's remoteinfo.c: spaces, tabs and CRs are left out wherever they are, so `joe smith`
  // is the rules key `joesmith@IP` there and here; the rest as djb's safecats plus ':', the field
  // separator of the ok line (no cut: the budget is checked after)
  const out = Buffer.alloc(text.length - c3 - 1);
  let n = 0;
  for (let i = c3 + 1; i < text.length; i++) {
    const b = text[i] as number;
    if (b === 0x20 || b === 0x09 || b === 0x0d) continue;
    out[n++] = b < 33 || b > 126 || b === 0x25 || b === 0x3a ? QUESTION : b;
  }
  if (n === 0) throw new ProtocolError('Cannot use IDENT reply: empty user-id');
  if (n > MAX_IDENT_USERID_BYTES) throw new ProtocolError(`Cannot use IDENT reply: user-id longer than ${MAX_IDENT_USERID_BYTES} bytes`);
  return out.toString('latin1', 0, n);
}
