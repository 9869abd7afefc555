// Exit codes, the few error classes, and errno-to-text: the one place errors get their words.

/** ucspi exit codes: 100 permanent (usage, bad rules line, deny), 111 temporary (retry may work). */
export const EXIT_OK = 0;
export const EXIT_PERMANENT = 100;
export const EXIT_TEMPORARY = 111;
export type ExitCode = typeof EXIT_OK | typeof EXIT_PERMANENT | typeof EXIT_TEMPORARY;

/** Options every error class of this project accepts. */
export interface UcspiErrorOptions {
  /** The error this one wraps (execa/undici style). */
  cause?: unknown;
}

/**
 * A system call failed: errno name in `code`, like Node's own errno errors.
 * Always temporary (exit 111): the same call may work later.
 */
export class SysError extends Error {
  override readonly name = 'SysError';
  readonly code: string;
  readonly syscall: string;
  readonly path: string | undefined;
  readonly temporary = true;
  /**
   * @param code errno name, e.g. `ENOENT`
   * @param syscall the call that failed, e.g. `open`
   * @param path the file involved, if any
   */
  constructor(code: string, syscall: string, path?: string, options?: UcspiErrorOptions) {
    super(`${syscall}${path === undefined ? '' : ` ${path}`}: ${errnoText(code)}`, options);
    this.code = code;
    this.syscall = syscall;
    this.path = path;
  }

  /** Wraps a Node errno error (anything with a string `code`) as a SysError. */
  static from(err: unknown, syscall: string, path?: string): SysError {
    if (err instanceof SysError) return err;
    const code = errCode(err) ?? 'EIO';
    return new SysError(code, syscall, path, { cause: err });
  }
}

/** A tcprules line that cannot be parsed: permanent (exit 100). */
export class RulesSyntaxError extends SyntaxError {
  override readonly name = 'RulesSyntaxError';
  readonly code = 'ERR_RULES_SYNTAX';
  readonly temporary = false;
  /**
   * @param line the offending line, without its newline
   * @param lineNumber 1-based line number in the input
   */
  constructor(readonly line: string, readonly lineNumber: number, options?: UcspiErrorOptions) {
    super(`Cannot parse rules line ${lineNumber}: ${line}`, options);
  }
}

/** A file that should be a cdb is not one (short, corrupt, pointers outside the file). */
export class CdbFormatError extends Error {
  override readonly name = 'CdbFormatError';
  readonly code = 'ERR_CDB_FORMAT';
  readonly temporary = true;
  constructor(message: string, readonly path?: string, options?: UcspiErrorOptions) {
    super(message, options);
  }
}

/** A wait ran past its deadline. */
export class TimeoutError extends Error {
  override readonly name = 'TimeoutError';
  readonly code = 'ERR_TIMEOUT';
  readonly temporary = true;
  constructor(message: string, options?: UcspiErrorOptions) {
    super(message, options);
  }
}

/** Bytes from the network (ident reply, control protocol, DNS answer) that break the protocol. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly code = 'ERR_PROTOCOL';
  readonly temporary = true;
  constructor(message: string, options?: UcspiErrorOptions) {
    super(message, options);
  }
}

/** A bad command line: unknown option, missing or bad value (exit 100 with the usage line). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
  readonly code = 'ERR_USAGE';
  readonly temporary = false;
  /**
   * @param message what is wrong, e.g. `bad value for -c: x`
   * @param illegalOption the unknown option letter or name, for the `illegal option -- k` line
   */
  constructor(message: string, readonly illegalOption?: string, options?: UcspiErrorOptions) {
    super(message, options);
  }
}

/**
 * Start-up configuration that cannot be used (certificate, key, CA list, DH file, ciphers).
 * `message` is the user-facing text after `sslserver: error: (111) `, e.g.
 * `unable to load certificate: /etc/cert.pem`.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'ERR_CONFIG';
  readonly temporary = true;
  /** The reference prints TLS set-up failures as `error:` and address/port failures as `fatal:`. */
  readonly kind: 'fatal' | 'error';
  constructor(message: string, options?: UcspiErrorOptions & { kind?: 'fatal' | 'error' }) {
    super(message, options);
    this.kind = options?.kind ?? 'error';
  }
}

/** Returns the string `code` of an error-like value, if it has one. */
export function errCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

// glibc strerror(3) wording, lowercased as djb's error_str prints it.
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'cannot assign requested address',
  EAFNOSUPPORT: 'address family not supported by protocol',
  EAGAIN: 'resource temporarily unavailable',
  EBADF: 'bad file descriptor',
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  EEXIST: 'file exists',
  EHOSTUNREACH: 'no route to host',
  EINTR: 'interrupted system call',
  EINVAL: 'invalid argument',
  EIO: 'input/output error',
  EISDIR: 'is a directory',
  ELOOP: 'too many levels of symbolic links',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
  ENETUNREACH: 'network is unreachable',
  ENFILE: 'too many open files in system',
  ENODEV: 'no such device',
  ENOENT: 'no such file or directory',
  ENOEXEC: 'exec format error',
  ENOMEM: 'cannot allocate memory',
  ENOSPC: 'no space left on device',
  ENOTCONN: 'transport endpoint is not connected',
  ENOTDIR: 'not a directory',
  ENOTSOCK: 'socket operation on non-socket',
  ENXIO: 'no such device or address',
  EPERM: 'operation not permitted',
  EPIPE: 'broken pipe',
  EROFS: 'read-only file system',
  ESRCH: 'no such process',
  ETIMEDOUT: 'connection timed out',
  ETXTBSY: 'text file busy',
  EXDEV: 'invalid cross-device link',
};

/**
 * strerror-style text for an errno name or an error carrying one.
 * @param err an errno name (`ENOENT`) or an error with a `code`
 * @returns lowercase text without a trailing period, e.g. `no such file or directory`
 */
export function errnoText(err: unknown): string {
  const code = typeof err === 'string' ? err : errCode(err);
  if (code !== undefined && ERRNO_TEXT[code] !== undefined) return ERRNO_TEXT[code];
  if (err instanceof Error && err.message !== '') {
    // Node/libuv messages read "ECODE: text, syscall 'path'"; keep the text.
    const m = /^[A-Z0-9_]+: ([^,]+)/.exec(err.message);
    return (m?.[1] ?? err.message).toLowerCase();
  }
  return code !== undefined ? code.toLowerCase() : 'unknown error';
}

/** True when an error should exit 111 (temporary) rather than 100. */
export function isTemporary(err: unknown): boolean {
  if (typeof err === 'object' && err !== null && 'temporary' in err) {
    return (err as { temporary: unknown }).temporary !== false;
  }
  return true;
}
