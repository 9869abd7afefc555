// Every stderr line sslserver writes, as named functions, in ucspi-ssl's shapes byte for byte.
import { writeSync } from 'node:fs';
import { bytesFromText } from '../env/env-bytes';

/** Verbosity: -q 0 (nothing), -Q 1 (errors, warnings), -v 2 (per-connection lines), -V 3 (+ TLS details). */
export type Verbosity = 0 | 1 | 2 | 3;

/** Fields of an `ok`/`deny` line, already sanitised by the caller (safe-text). */
export interface ConnectionFields {
  localHost: string;
  localIp: string;
  localPort: string;
  remoteHost: string;
  remoteIp: string;
  remoteInfo: string;
  remotePort: string;
}

/**
 * The server's log. One line per event on fd 2, `sslserver: ` first, no timestamps
 * (the supervisor's logger adds them). Lines are written with writeSync so that a line is
 * never split or reordered; stderr is a pipe or a file under a supervisor.
 */
export class Log {
  /**
   * @param verbosity what to print (see Verbosity)
   * @param prog the prefix, `sslserver`
   * @param fd where lines go (2)
   */
  constructor(
    readonly verbosity: Verbosity,
    private readonly _prog = 'sslserver',
    private readonly _fd = 2,
  ) {}

  /** True when per-connection lines (-v) are printed: callers skip building them otherwise. */
  get verbose(): boolean {
    return this.verbosity >= 2;
  }

  private _write(line: string): void {
    try {
      // a name from a non-UTF-8 variable or argument (the -v file lines) goes out as its bytes
      writeSync(this._fd, bytesFromText(`${this._prog}: ${line}\n`));
    } catch {
      // stderr gone (EPIPE) or full (EAGAIN): the server must not die of its log.
    }
  }

  /** `sslserver: status: N/LIMIT/MAXCONIP` (at start, after each accept, after each end). */
  logStatus(children: number, limit: number, maxConIp: number): void {
    if (this.verbosity >= 2) this._write(`status: ${children}/${limit}/${maxConIp}`);
  }

  /** Start-up settings, as ucspi-ssl prints them with -v: `ciphers PID VALUE` … `dhparam PID PATH 4096`. */
  logSettings(pid: number, s: Readonly<Record<'ciphers' | 'cafile' | 'ccafile' | 'cadir' | 'certchainfile' | 'cert' | 'key' | 'dhparam', string>>): void {
    if (this.verbosity < 2) return;
    for (const name of ['ciphers', 'cafile', 'ccafile', 'cadir', 'certchainfile', 'cert', 'key'] as const) {
      this._write(`${name} ${pid} ${s[name]}`);
    }
    // as ucspi-ssl: 4096 is its RSA size constant, not the DH size
    this._write(`dhparam ${pid} ${s.dhparam} 4096`);
  }

  /** `sslserver: pid PID from REMOTEIP`. */
  logPid(pid: number, remoteIp: string): void {
    if (this.verbosity >= 2) this._write(`pid ${pid} from ${remoteIp}`);
  }

  /** `sslserver: ok PID LOCALHOST:LOCALIP:LOCALPORT REMOTEHOST:REMOTEIP:REMOTEINFO:REMOTEPORT`. */
  logOk(pid: number, f: ConnectionFields): void {
    if (this.verbosity >= 2) this._write(`ok ${pid} ${fieldsText(f)}`);
  }

  /** `sslserver: deny PID …` plus ` ip connection limit:N exceeded` for a rules MAXCONIP. */
  logDeny(pid: number, f: ConnectionFields, maxConIpExceeded?: number): void {
    if (this.verbosity < 2) return;
    const tail = maxConIpExceeded === undefined ? '' : ` ip connection limit:${maxConIpExceeded} exceeded`;
    this._write(`deny ${pid} ${fieldsText(f)}${tail}`);
  }

  /** `sslserver: tls PID accept` or, with -V and a variable block, `… accept PROTOCOL:CIPHER`. */
  logTlsAccept(pid: number, protocolCipher?: string): void {
    if (this.verbosity < 2) return;
    if (this.verbosity >= 3 && protocolCipher !== undefined) this._write(`tls ${pid} accept ${protocolCipher}`);
    else this._write(`tls ${pid} accept`);
  }

  /** `sslserver: info: valid client cert received from: IP for pid: PID`. */
  logClientCertOk(remoteIp: string, pid: number): void {
    if (this.verbosity >= 2) this._write(`info: valid client cert received from: ${remoteIp} for pid: ${pid}`);
  }

  /** `sslserver: ended by PID status WSTAT` (raw wait status, as ucspi-ssl; the real pid, not pid+1). */
  logEnded(pid: number, waitStatus: number): void {
    if (this.verbosity >= 2) this._write(`ended by ${pid} status ${waitStatus}`);
  }

  /** `sslserver: warning: TEXT`. */
  logWarning(text: string): void {
    if (this.verbosity >= 1) this._write(`warning: ${text}`);
  }

  /**
   * A connection pushed out of the handshake table by a newer one (the table, or its IP's share
   * of it, was full): `sslserver: warning: handshake limit of N exceeded, dropped oldest from: IP`,
   * with `ip handshake limit` for the per-IP bound.
   */
  logHandshakeEvicted(remoteIp: string, limit: number, perIp: boolean): void {
    if (this.verbosity >= 1) this._write(`warning: ${perIp ? 'ip ' : ''}handshake limit of ${limit} exceeded, dropped oldest from: ${remoteIp}`);
  }

  /**
   * A connection given up on before its session began, worded as the reference's child:
   * `sslserver: warning: dropping SSL connection, TEXT` (e.g. `unable to print banner: broken pipe`).
   */
  logDropped(text: string): void {
    if (this.verbosity >= 1) this._write(`warning: dropping SSL connection, ${text}`);
  }

  /** `sslserver: info: TEXT` (printed with -v). */
  logInfo(text: string): void {
    if (this.verbosity >= 2) this._write(`info: ${text}`);
  }

  /**
   * A failed connection or start-up step: `sslserver: fatal: (CODE) TEXT` or `… error: (CODE) TEXT`.
   * For a connection this is what the reference's per-connection process died with; here only
   * that connection is dropped.
   */
  logFailure(kind: 'fatal' | 'error', code: number, text: string): void {
    if (this.verbosity >= 1) this._write(`${kind}: (${code}) ${text}`);
  }

  /** `sslserver: usage: …` (always printed unless -q). */
  logUsage(usage: string): void {
    if (this.verbosity >= 1) this._write(`usage: ${usage}`);
  }

  /** `sslserver: illegal option -- k`. */
  logIllegalOption(option: string): void {
    if (this.verbosity >= 1) this._write(`illegal option -- ${option}`);
  }
}

function fieldsText(f: ConnectionFields): string {
  return `${f.localHost}:${f.localIp}:${f.localPort} ${f.remoteHost}:${f.remoteIp}:${f.remoteInfo}:${f.remotePort}`;
}
