// sslserver's command line: the flag table (ucspi letters + long names), defaults, and argv -> Options.
import { UsageError } from '../errors';
import { getopt, type FlagSpec } from './getopt';

/** Everything sslserver's command line (and -U / MAXCONIP from the environment) decides. */
export interface Options {
  /** `-1` / `--print-local`: print `LOCALIP : PORT [LIMIT/MAXCONIP]` on stdout after binding. */
  printLocal: boolean;
  /** `-3` / `--password-fd3`: read the key password from fd 3 (up to NUL or EOF). */
  passwordFromFd3: boolean;
  /** `-4` / `-6` (`--ipv4` / `--ipv6`): address family wanted when *host* is a name; 0 = any. */
  family: 0 | 4 | 6;
  /** `-c n` / `--limit`: concurrent children; at least 1. Default 40. */
  limit: number;
  /** Per-IP limit: `$MAXCONIP`, else the `-c` value. 0 means no per-IP limit (as the reference). */
  maxConIp: number;
  /** `-y cdb` / `--ip-rules`: IP-only rules, consulted before any lookup. */
  ipRulesFile?: string;
  /** `-x cdb` / `--rules`: full rules, consulted after DNS and IDENT. */
  rulesFile?: string;
  /** `-X` / `--allow-missing-rules`: a rules file that does not exist means allow. */
  allowMissingRules: boolean;
  /** `-B text` / `--banner`: written to the program's fd 1 before exec; `''` = none. */
  banner: string;
  /**
   * `-u` / `--uid` (or `$UID` with `-U`): uid of the program; undefined = unchanged.
   * 0 is stored as undefined: the reference only calls setuid for a nonzero uid.
   */
  uid?: number;
  /** `-g` / `--gid` (or `$GID` with `-U`): gid of the program; undefined (also for 0) = unchanged. */
  gid?: number;
  /**
   * `-b n` / `--backlog`: listen backlog. Default 20. `-b 0` is stored as 1, because Node's
   * `listen({ backlog: 0 })` silently means 511; 1 is the closest queue Node can ask for.
   */
  backlog: number;
  /** `-l name` / `--local-name`: `$SSLLOCALHOST` without a DNS lookup. */
  localName?: string;
  /** `-t n` / `--ident-timeout` in ms (given in seconds). Default 26 s. 0 = IDENT gets no time (no info). */
  identTimeoutMs: number;
  /** `-I ifname` / `--interface`: interface for link-local IPv6 (scope) and TCP6INTERFACE. */
  interfaceName?: string;
  /** `-T n` / `--handshake-timeout` in ms (given in seconds, at least 1). Default 26 s. */
  handshakeTimeoutMs: number;
  /** `-w n` / `--idle-timeout` in ms (given in seconds, at least 1). Default 3600 s. */
  idleTimeoutMs: number;
  /** `-h` / `-H` (`--remote-host` / `--no-remote-host`): PTR lookup for `$SSLREMOTEHOST`. Default true. */
  lookupRemoteHost: boolean;
  /** `-p` / `-P` (`--paranoid` / `--no-paranoid`): keep the PTR name only if it maps back. Default false. */
  paranoid: boolean;
  /** `-r` / `-R` (`--remote-info` / `--no-remote-info`): IDENT query for `$SSLREMOTEINFO`. Default false. */
  lookupRemoteInfo: boolean;
  /** `-e` / `-E` (`--tcp-env` / `--no-tcp-env`): also set TCP* and TCP6*. Default true (the reference's man page wrongly says -E). */
  tcpEnv: boolean;
  /** `-s` / `-S` (`--ssl-env` / `--no-ssl-env`): SSL_* session variables for the program. Default false. */
  sslEnv: boolean;
  /** `-n` / `-N` (`--starttls` / `--no-starttls`): delayed TLS (UCSPI-TLS). Default false. */
  delayedTls: boolean;
  /** `-Z` none (default), `-m` verify (`--verify-client`), `-z` verify + host name (`--verify-client-host`). */
  clientCert: 'none' | 'verify' | 'verify-host';
  /** `-q` 0 (`--quiet`), `-Q` 1 (`--errors-only`, default), `-v` 2 (`--verbose`), `-V` 3 (`--very-verbose`). */
  verbosity: 0 | 1 | 2 | 3;
  /** `-O` (`--kill-ip-options`, default true) / `-o` (`--keep-ip-options`). */
  killIpOptions: boolean;
  /** `-D` (`--no-delay`, default true: TCP_NODELAY set) / `-d` (`--nagle`). */
  noDelay: boolean;
  /** First operand: address or name to bind; `0` = 0.0.0.0, `::`, `:0` = dual stack. Never empty. */
  host: string;
  /** Second operand: port number or service name, as given (never empty). */
  port: string;
  /** The program and its arguments (at least one word). */
  program: string[];
}

/**
 * The usage text after the `sslserver: usage: ` prefix (what the reference's usage() passes to
 * its logger). Print it as `sslserver: usage: ` + SSLSERVER_USAGE + newline, or use
 * {@link formatSslserverUsage}.
 */
export const SSLSERVER_USAGE =
  'sslserver [ -1346UXpPhHrRoOdDqQvVIeEsSnNmzZ ] [ -c limit ] [ -y iprules.cdb ] [ -x rules.cdb ] ' +
  '[ -B banner ] [ -g gid ] [ -u uid ] [ -b backlog ] [ -l localname ] [ -t timeout ] ' +
  '[ -I interface ] [ -T ssltimeout ] [ -w progtimeout ] host port program';

/** Defaults, from sslserver.c's globals (0.13.x): limit 40, backlog 20, timeouts 26/26/3600 s. */
const DEFAULT_LIMIT = 40;
const DEFAULT_BACKLOG = 20;
const DEFAULT_IDENT_TIMEOUT_S = 26;
const DEFAULT_HANDSHAKE_TIMEOUT_S = 26;
const DEFAULT_IDLE_TIMEOUT_S = 3600;
const MS_PER_S = 1000;
/** Node's timers hold at most 2^31-1 ms (longer ones fire after 1 ms), so -t/-T/-w stop at this. */
const MAX_TIMEOUT_S = Math.floor((2 ** 31 - 1) / MS_PER_S);
/** Upper bound for counts (-c, -b, MAXCONIP): plenty, and keeps the numbers exact. */
const MAX_COUNT = 2 ** 31 - 1;
/** uid_t/gid_t are 32 bits; (uid_t)-1 means "no change" to setreuid, so it is not a uid. */
const MAX_ID = 2 ** 32 - 2;

// Missing or empty operands print only the usage line, as the reference's usage() does.
const OPERAND_ERRORS = new Set(['missing host', 'empty host', 'missing port', 'empty port', 'missing program']);

/**
 * Parses a decimal number that must be the whole word (the reference's scan_ulong takes a
 * prefix, so `-c 4x` was 4; here it is a usage error).
 */
function decimal(what: string, value: string | undefined, min: number, max: number): number {
  if (value === undefined || !/^[0-9]+$/.test(value)) throw new UsageError(`bad value for ${what}: ${String(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`bad value for ${what}: ${value} (allowed: ${min} to ${max})`);
  return n;
}

function nonEmpty(what: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new UsageError(`bad value for ${what}: empty`);
  return value;
}

// 0 means "unchanged": sslserver.c only calls prot_uid/prot_gid when the value is nonzero.
function setId(o: Options, field: 'uid' | 'gid', what: string, value: string | undefined): void {
  const n = decimal(what, value, 0, MAX_ID);
  if (n === 0) delete o[field];
  else o[field] = n;
}

/** Options plus parse-time state that is not part of the result. */
interface ParseState extends Options {
  env: Record<string, string | undefined>;
}

function flag(short: string, long: string, apply: (o: ParseState) => void): FlagSpec<ParseState> {
  return { short, long, arg: false, apply: (o) => apply(o) };
}

function valued(short: string, long: string, apply: (o: ParseState, v: string) => void): FlagSpec<ParseState> {
  return { short, long, arg: true, apply: (o, v) => apply(o, v ?? '') };
}

// The table: djb's letters exactly as sslserver.c's getopt string, each with an s6-style long name.
const TABLE: readonly FlagSpec<ParseState>[] = [
  flag('1', 'print-local', (o) => { o.printLocal = true; }),
  flag('3', 'password-fd3', (o) => { o.passwordFromFd3 = true; }),
  flag('4', 'ipv4', (o) => { o.family = 4; }),
  flag('6', 'ipv6', (o) => { o.family = 6; }),
  // as sslserver.c 0.13: `case 'c': scan_ulong(optarg,&limit); maxconip = limit;`
  // -c 0 is refused: the reference then starts a server that never accepts.
  valued('c', 'limit', (o, v) => { o.limit = decimal('-c', v, 1, MAX_COUNT); o.maxConIp = o.limit; }),
  valued('y', 'ip-rules', (o, v) => { o.ipRulesFile = nonEmpty('-y', v); }),
  valued('x', 'rules', (o, v) => { o.rulesFile = nonEmpty('-x', v); }),
  flag('X', 'allow-missing-rules', (o) => { o.allowMissingRules = true; }),
  valued('B', 'banner', (o, v) => { o.banner = v; }),
  valued('u', 'uid', (o, v) => { setId(o, 'uid', '-u', v); }),
  valued('g', 'gid', (o, v) => { setId(o, 'gid', '-g', v); }),
  // as sslserver.c: -U reads $UID and $GID when it is parsed; an unset variable changes nothing.
  flag('U', 'env-uid', (o) => {
    if (o.env.UID !== undefined) setId(o, 'uid', '$UID', o.env.UID);
    if (o.env.GID !== undefined) setId(o, 'gid', '$GID', o.env.GID);
  }),
  valued('b', 'backlog', (o, v) => { o.backlog = Math.max(1, decimal('-b', v, 0, MAX_COUNT)); }),
  valued('l', 'local-name', (o, v) => { o.localName = v; }),
  valued('t', 'ident-timeout', (o, v) => { o.identTimeoutMs = decimal('-t', v, 0, MAX_TIMEOUT_S) * MS_PER_S; }),
  // -I takes a value here; the reference's getopt string lacks the colon and crashes on `-I lo`.
  valued('I', 'interface', (o, v) => { o.interfaceName = nonEmpty('-I', v); }),
  // ssl_timeoutaccept/ssl_io treat 0 as an expired deadline: every handshake or session would
  // fail at once, so 0 is refused rather than reproduced.
  valued('T', 'handshake-timeout', (o, v) => { o.handshakeTimeoutMs = decimal('-T', v, 1, MAX_TIMEOUT_S) * MS_PER_S; }),
  valued('w', 'idle-timeout', (o, v) => { o.idleTimeoutMs = decimal('-w', v, 1, MAX_TIMEOUT_S) * MS_PER_S; }),
  flag('h', 'remote-host', (o) => { o.lookupRemoteHost = true; }),
  flag('H', 'no-remote-host', (o) => { o.lookupRemoteHost = false; }),
  flag('p', 'paranoid', (o) => { o.paranoid = true; }),
  flag('P', 'no-paranoid', (o) => { o.paranoid = false; }),
  flag('r', 'remote-info', (o) => { o.lookupRemoteInfo = true; }),
  flag('R', 'no-remote-info', (o) => { o.lookupRemoteInfo = false; }),
  flag('e', 'tcp-env', (o) => { o.tcpEnv = true; }),
  flag('E', 'no-tcp-env', (o) => { o.tcpEnv = false; }),
  flag('s', 'ssl-env', (o) => { o.sslEnv = true; }),
  flag('S', 'no-ssl-env', (o) => { o.sslEnv = false; }),
  flag('n', 'starttls', (o) => { o.delayedTls = true; }),
  flag('N', 'no-starttls', (o) => { o.delayedTls = false; }),
  flag('z', 'verify-client-host', (o) => { o.clientCert = 'verify-host'; }),
  flag('m', 'verify-client', (o) => { o.clientCert = 'verify'; }),
  flag('Z', 'no-client-cert', (o) => { o.clientCert = 'none'; }),
  flag('q', 'quiet', (o) => { o.verbosity = 0; }),
  flag('Q', 'errors-only', (o) => { o.verbosity = 1; }),
  flag('v', 'verbose', (o) => { o.verbosity = 2; }),
  flag('V', 'very-verbose', (o) => { o.verbosity = 3; }),
  flag('o', 'keep-ip-options', (o) => { o.killIpOptions = false; }),
  flag('O', 'kill-ip-options', (o) => { o.killIpOptions = true; }),
  flag('d', 'nagle', (o) => { o.noDelay = false; }),
  flag('D', 'no-delay', (o) => { o.noDelay = true; }),
];

/**
 * Parses sslserver's command line. Pure: reads only `argv` and `env`.
 *
 * Numbers are decimal and must be the whole word. Refused (usage error, exit 100): `-c 0`,
 * `-T 0`, `-w 0`, timeouts above 2147483 s, empty `-x`/`-y`/`-I`, an empty host or port.
 * Kept: `-t 0` (IDENT gets no time), `-b 0` (stored as 1), `-u 0`/`-g 0` (= unchanged).
 * `MAXCONIP` is read after the options, as the reference does, so it beats `-c`;
 * an empty `MAXCONIP` counts as unset.
 *
 * @param argv the arguments without node and the script
 * @param env the environment (`UID`/`GID` for `-U`, `MAXCONIP`)
 * @returns the parsed options with defaults filled in
 * @throws UsageError: with `illegalOption` for an unknown option or missing value (message
 *   `illegal option -- k` / `option requires an argument -- c`), without it for a bad value
 *   (`bad value for -c: abc`) or a missing operand (`missing host`, `missing port`,
 *   `missing program`, `empty host`, `empty port`)
 * @example
 * ```ts
 * parseSslserverArgs(['-vHl', 'name', '0', '443', 'cat'], {}).verbosity; // 2
 * ```
 */
export function parseSslserverArgs(argv: readonly string[], env: Record<string, string | undefined>): Options {
  const state: ParseState = {
    env,
    printLocal: false,
    passwordFromFd3: false,
    family: 0,
    limit: DEFAULT_LIMIT,
    maxConIp: DEFAULT_LIMIT,
    allowMissingRules: false,
    banner: '',
    backlog: DEFAULT_BACKLOG,
    identTimeoutMs: DEFAULT_IDENT_TIMEOUT_S * MS_PER_S,
    handshakeTimeoutMs: DEFAULT_HANDSHAKE_TIMEOUT_S * MS_PER_S,
    idleTimeoutMs: DEFAULT_IDLE_TIMEOUT_S * MS_PER_S,
    lookupRemoteHost: true,
    paranoid: false,
    lookupRemoteInfo: false,
    tcpEnv: true,
    sslEnv: false,
    delayedTls: false,
    clientCert: 'none',
    verbosity: 1,
    killIpOptions: true,
    noDelay: true,
    host: '',
    port: '',
    program: [],
  };
  const { rest } = getopt(argv, TABLE, state);

  // as sslserver.c 0.13: host, then port, then at least one word of program, else usage().
  const [host, port, ...program] = rest;
  if (host === undefined) throw new UsageError('missing host');
  if (host === '') throw new UsageError('empty host');
  if (port === undefined) throw new UsageError('missing port');
  // The reference reads an empty port as 0 (scan_ulong of ""): almost surely a script bug.
  if (port === '') throw new UsageError('empty port');
  if (program.length === 0) throw new UsageError('missing program');

  // as sslserver.c 0.13: MAXCONIP is read after getopt, so it overrides the -c default.
  const maxConIp = env.MAXCONIP;
  if (maxConIp !== undefined && maxConIp !== '') state.maxConIp = decimal('MAXCONIP', maxConIp, 0, MAX_COUNT);

  const { env: _env, ...options } = state;
  return { ...options, host, port, program };
}

/**
 * The complete stderr text for a usage error: sgetopt's `sslserver: illegal option -- k`
 * line (or `sslserver: bad value for -c: abc` for our stricter value checks), then the usage
 * line. A missing or empty operand prints the usage line alone, as the reference does.
 * @param err the error thrown by {@link parseSslserverArgs}
 * @returns one or two newline-terminated lines
 */
export function formatSslserverUsage(err: UsageError): string {
  const usage = `sslserver: usage: ${SSLSERVER_USAGE}\n`;
  if (OPERAND_ERRORS.has(err.message) && err.illegalOption === undefined) return usage;
  return `sslserver: ${err.message}\n${usage}`;
}
