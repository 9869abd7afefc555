// Loads certificate, key, CA lists and DH parameters named by the TlsSettings and builds the server's SecureContext.
import { X509Certificate, constants as cryptoConstants, createPrivateKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as tls from 'node:tls';
import { ConfigError, errCode } from '../errors';
import { exactArg } from '../env/env-bytes';
import { renewTicketsOnResume } from '../sys/native';
import { DER_TAG, derChildren, expectTag, readDer } from './der';
import type { TlsSettings, ClientCertMode } from './settings';
import { parseCertificate } from './x509-fields';
import type { ParsedCert } from './x509-fields';

/** Reads a whole file; the server swaps in a chroot-aware helper, so never read files directly. */
export type FileReader = (path: string) => Buffer;

/** Everything read from disk at startup, checked, ready for createServerContext. */
export interface TlsMaterial {
  /** The server's certificates in PEM, leaf first, then intermediates. */
  readonly certChain: readonly string[];
  /** The server's leaf certificate, parsed for SSL_SERVER_*. */
  readonly serverCert: ParsedCert;
  /** The decrypted private key (it matches the leaf certificate). */
  readonly key: KeyObject;
  /** DH parameters PEM, if DHFILE was given. */
  readonly dhParams?: Buffer;
  /** Trust anchors from CAFILE and CADIR (PEM), for client certificates. */
  readonly trustedCas: readonly string[];
  /** CAs from CCAFILE (PEM), named in the certificate request. */
  readonly clientCas: readonly string[];
  /** SHA-256 fingerprints (Node's `AA:BB:...` form) of `trustedCas`. */
  readonly trustedFingerprints: ReadonlySet<string>;
}

/** What the server hands to `new tls.TLSSocket(socket, { isServer: true, ...config })` plus SSL_* data. */
export interface ServerTlsConfig {
  readonly secureContext: tls.SecureContext;
  /** True when a client certificate is requested (`-m`, `-z`). */
  readonly requestCert: boolean;
  /** Always false: OpenSSL's verdict is recorded, the server decides (clientVerifyStatus in ssl-env). */
  readonly rejectUnauthorized: false;
  /** The server's leaf certificate, parsed for SSL_SERVER_*. */
  readonly serverCert: ParsedCert;
  readonly clientCert: ClientCertMode;
  /**
   * CCAFILE was given, so the reference would request a certificate too, and fail the handshake
   * of a client that sends none (`peer did not return a certificate`); without CCAFILE it asks
   * for none and rejects such a client as `no client certificate` (110). We always ask.
   */
  readonly ccaFileGiven: boolean;
  /** VERIFYDEPTH: most intermediates between a client certificate and its anchor. */
  readonly verifyDepth: number;
  /** SHA-256 fingerprints of the CAFILE/CADIR anchors: only these make a client certificate valid. */
  readonly trustedFingerprints: ReadonlySet<string>;
}

/**
 * Our default cipher preference: TLS 1.3 suites (AES-256 first, as OpenSSL's default), then
 * forward-secret TLS 1.2 suites, AEAD before CBC. Node's `ciphers` option splits the TLS_* names
 * off into the TLS 1.3 list.
 */
export const DEFAULT_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-CHACHA20-POLY1305',
  'DHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-SHA384',
  'ECDHE-RSA-AES256-SHA384',
  'ECDHE-ECDSA-AES128-SHA256',
  'ECDHE-RSA-AES128-SHA256',
  '!aNULL:!eNULL:!EXPORT:!DES:!3DES:!RC4:!MD5:!PSK:!SRP',
].join(':');

/**
 * Appended to the TLS 1.2 cipher list when only forward-secret suites are allowed
 * (FORWARDSECRECY): no RSA key transport, no PSK or SRP key exchange, no anonymous suites.
 * What is left is ECDHE and DHE. TLS 1.3 suites are always forward secret here: OpenSSL accepts
 * a PSK-only (psk_ke) resumption only with SSL_OP_ALLOW_NO_DHE_KEX, which we never set.
 */
export const FORWARD_SECRET_ONLY = '!kRSA:!PSK:!SRP:!aNULL';

/** The environment variable that turns FORWARD_SECRET_ONLY on (any non-empty value). */
export const FORWARD_SECRECY_VARIABLE = 'FORWARDSECRECY';

/** Choices for createServerContext that are not file settings. */
export interface ContextOptions {
  /** Only forward-secret suites, whatever CIPHERS says (see FORWARD_SECRET_ONLY). */
  forwardSecrecyOnly?: boolean;
  /**
   * Session ticket keys (48 bytes: name, HMAC and AES keys), the same in every context of every
   * event loop, so that a ticket from one loop resumes in another. Node makes random ones per
   * context when unset.
   */
  ticketKeys?: Buffer;
}

/**
 * Reads the forward-secrecy switch: FORWARDSECRECY set to a non-empty value.
 * @param env the environment (a record or a map)
 * @returns the options for createServerContext
 */
export function contextOptionsFromEnv(env: Readonly<Record<string, string | undefined>> | ReadonlyMap<string, string>): ContextOptions {
  const v = env instanceof Map ? env.get(FORWARD_SECRECY_VARIABLE) : (env as Readonly<Record<string, string | undefined>>)[FORWARD_SECRECY_VARIABLE];
  return { forwardSecrecyOnly: v !== undefined && v !== '' };
}

/**
 * The cipher string given to Node: CIPHERS or DEFAULT_CIPHERS, with FORWARD_SECRET_ONLY
 * appended when asked. Node moves the TLS_* names to the TLS 1.3 list; a list of TLS 1.3 names
 * only gets no exclusions (OpenSSL would reject a TLS 1.2 list made only of exclusions).
 * @param ciphers CIPHERS, if set
 * @param opts the switches
 * @returns the string for `ciphers`
 */
export function cipherString(ciphers: string | undefined, opts: ContextOptions = {}): string {
  const list = ciphers ?? DEFAULT_CIPHERS;
  if (opts.forwardSecrecyOnly !== true) return list;
  if (list.split(':').every((c) => c.startsWith('TLS_'))) return list;
  return `${list}:${FORWARD_SECRET_ONLY}`;
}

/** Lowest protocol we speak: TLS 1.0/1.1 are deprecated (RFC 8996). */
export const MIN_TLS_VERSION = 'TLSv1.2';
/**
 * OpenSSL options: no renegotiation (Node lets clients renegotiate 3 times in 10 minutes
 * otherwise), no compression (CRIME), server cipher order.
 */
export const SECURE_OPTIONS =
  cryptoConstants.SSL_OP_NO_RENEGOTIATION |
  cryptoConstants.SSL_OP_NO_COMPRESSION |
  cryptoConstants.SSL_OP_CIPHER_SERVER_PREFERENCE;
/** OpenSSL 3 at security level 1 rejects smaller finite-field DH groups (SPEC: 1024-bit fails). */
export const MIN_DH_BITS = 2048;
/** Session id context, so resumed sessions keep working with client certificates (OpenSSL needs one). */
const SESSION_ID_CONTEXT = 'ucspi-ssl-ts sslserver';
/** Most PEM blocks read from one file (a system CA bundle has ~150). */
const MAX_PEM_BLOCKS = 10_000;
/** Most files looked at in CADIR. */
const MAX_CADIR_FILES = 10_000;

/**
 * Loads every file named by `settings` through `read` and checks it, as sslserver does at
 * startup: certificate (chain), key (decrypted with `password`, matching the certificate),
 * CAFILE/CADIR, CCAFILE (only with client certificates on), DHFILE.
 *
 * @param settings from tlsSettingsFromEnv
 * @param read reads a whole file (throws on failure)
 * @param password the `-3` password bytes (up to the NUL), if any
 * @returns the material
 * @throws ConfigError with the reference's message: `unable to load certificate: PATH`,
 *   `unable to load certificate chain file: PATH`, `unable to load key: PATH`,
 *   `unable to load CA list`, `unable to load client CA list`, `unable to set DH parameters`.
 *   There is always a certificate: none configured is `unable to load certificate: `.
 * @example loadTlsMaterial(tlsSettingsFromEnv(process.env, 'none'), (p) => readFileSync(p))
 */
export function loadTlsMaterial(settings: TlsSettings, read: FileReader, password?: Buffer): TlsMaterial {
  // sslserver.c: CERTCHAINFILE wins over CERTFILE; both may hold intermediates after the leaf.
  const chainPath = settings.certChainFile;
  const certPath = chainPath ?? settings.certFile ?? '';
  const certError = chainPath !== undefined ? `unable to load certificate chain file: ${certPath}` : `unable to load certificate: ${certPath}`;
  if (certPath === '') throw new ConfigError(certError);
  const certText = readOr(read, certPath, certError);
  const certChain = certificatesIn(certText, certError);
  let serverCert: ParsedCert;
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(certChain[0] as string);
    serverCert = parseCertificate(leaf.raw);
  } catch (err) {
    throw new ConfigError(certError, { cause: err });
  }

  const keyPath = settings.keyFile ?? certPath;
  const keyError = `unable to load key: ${keyPath}`;
  const keyText = settings.keyFile === undefined ? certText : readOr(read, keyPath, keyError);
  let key: KeyObject;
  try {
    // PEM_read_bio_PrivateKey skips other blocks (certificates) before the key.
    key = createPrivateKey({ key: keyText, format: 'pem', passphrase: password ?? '' });
  } catch (err) {
    throw new ConfigError(keyError, { cause: err });
  }
  // SSL_CTX_check_private_key; with OpenSSL 3 sslserver reports a mismatch as "unable to load key".
  if (!leaf.checkPrivateKey(key)) throw new ConfigError(keyError);

  // ssl_ca(): CAFILE is loaded (and must be good) even when no client certificate is asked for.
  const trustedCas: string[] = [];
  if (settings.caFile !== undefined) {
    trustedCas.push(...certificatesIn(readOr(read, settings.caFile, 'unable to load CA list'), 'unable to load CA list'));
  }
  if (settings.clientCert !== 'none' && settings.caDir !== undefined) {
    trustedCas.push(...certificatesInDir(settings.caDir, read));
  }
  const clientCas: string[] = [];
  if (settings.clientCert !== 'none' && settings.ccaFile !== undefined) {
    const error = 'unable to load client CA list';
    clientCas.push(...certificatesIn(readOr(read, settings.ccaFile, error), error));
  }
  const trustedFingerprints = new Set(trustedCas.map((pem) => new X509Certificate(pem).fingerprint256));

  const material: TlsMaterial = { certChain, serverCert, key, trustedCas, clientCas, trustedFingerprints };
  if (settings.dhFile === undefined) return material;
  const dhError = 'unable to set DH parameters';
  const dhParams = readOr(read, settings.dhFile, dhError);
  checkDhParams(dhParams, dhError);
  return { ...material, dhParams };
}

/**
 * Builds the SecureContext and TLSSocket options for the loaded material.
 *
 * Client certificates (`-m`/`-z`) are always requested, with or without CCAFILE (the
 * reference requests none without CCAFILE and then rejects every client: we ask). Node has
 * one `ca` list for both the trust store and the names in the request, so both get
 * CAFILE + CADIR + CCAFILE; a chain ending at a CCAFILE-only CA is refused later by
 * clientVerifyStatus, which accepts only anchors in `trustedFingerprints`. Node also has no
 * verify-depth setting: clientVerifyStatus enforces VERIFYDEPTH.
 *
 * @param material from loadTlsMaterial
 * @param settings the same settings
 * @param opts switches that are not file settings (FORWARDSECRECY: contextOptionsFromEnv)
 * @returns the context and options
 * @throws ConfigError `unable to set DH parameters` or `unable to set cipher list` (also when
 *   FORWARDSECRECY leaves none of CIPHERS)
 */
export function createServerContext(material: TlsMaterial, settings: TlsSettings, opts: ContextOptions = {}): ServerTlsConfig {
  const requestCert = settings.clientCert !== 'none';
  const options: tls.SecureContextOptions = {
    cert: material.certChain.join(''),
    key: material.key.export({ type: 'pkcs8', format: 'pem' }),
    minVersion: MIN_TLS_VERSION,
    honorCipherOrder: true,
    secureOptions: SECURE_OPTIONS,
    sessionIdContext: SESSION_ID_CONTEXT,
    // An empty array keeps Node from trusting its bundled root CAs.
    ca: requestCert ? dedupe([...material.trustedCas, ...material.clientCas]) : [],
  };
  if (material.dhParams !== undefined) options.dhparam = material.dhParams;
  if (opts.ticketKeys !== undefined) options.ticketKeys = opts.ticketKeys;
  let secureContext: tls.SecureContext;
  try {
    secureContext = tls.createSecureContext({ ...options, ciphers: cipherString(settings.ciphers, opts) });
  } catch (err) {
    // ERR_SSL_NO_CIPHER_MATCH comes from SSL_CTX_set_cipher_list or SSL_CTX_set_ciphersuites;
    // the certificate and key were checked by loadTlsMaterial, the DH file's shape too.
    if (errCode(err) === 'ERR_SSL_NO_CIPHER_MATCH' || settings.ciphers !== undefined) {
      throw new ConfigError('unable to set cipher list', { cause: err });
    }
    throw new ConfigError('unable to set DH parameters', { cause: err });
  }
  // A new TLS 1.3 ticket after each resumption, so clients that use a ticket once resume every
  // time, not every other time (native/tls.cc); without the addon, Node's behaviour.
  renewTicketsOnResume(secureContext);
  return {
    secureContext,
    requestCert,
    rejectUnauthorized: false,
    serverCert: material.serverCert,
    clientCert: settings.clientCert,
    ccaFileGiven: settings.ccaFile !== undefined,
    verifyDepth: settings.verifyDepth,
    trustedFingerprints: material.trustedFingerprints,
  };
}

function readOr(read: FileReader, path: string, message: string): Buffer {
  try {
    return read(path);
  } catch (err) {
    throw new ConfigError(message, { cause: err });
  }
}

// PEM_read_bio_X509 names (crypto/pem/pem_lib.c): CERTIFICATE and the old X509 CERTIFICATE.
const CERT_BLOCK = /-----BEGIN (?:X509 )?CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END (?:X509 )?CERTIFICATE-----/g;

/** Every certificate in a PEM file, as normalised PEM; throws ConfigError(message) for none or a bad one. */
function certificatesIn(text: Buffer, message: string): string[] {
  const out: string[] = [];
  for (const m of text.toString('latin1').matchAll(CERT_BLOCK)) {
    if (out.length >= MAX_PEM_BLOCKS) throw new ConfigError(message);
    try {
      out.push(new X509Certificate(Buffer.from((m[1] as string).replace(/\s+/g, ''), 'base64')).toString());
    } catch (err) {
      throw new ConfigError(message, { cause: err });
    }
  }
  if (out.length === 0) throw new ConfigError(message);
  return out;
}

// OpenSSL's by_dir lookup only opens HASH.N files (c_rehash / openssl rehash names), so only
// those count; a directory that does not exist is no error (OpenSSL looks it up lazily).
const HASHED_NAME = /^[0-9a-f]{8}\.[0-9]+$/;

function certificatesInDir(dir: string, read: FileReader): string[] {
  let names: string[];
  try {
    // the names that count are ASCII (HASH.N); the directory's own name may be any bytes
    names = readdirSync(exactArg(dir));
  } catch (err) {
    if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return [];
    throw new ConfigError('unable to load CA list', { cause: err });
  }
  const out: string[] = [];
  for (const name of names.filter((n) => HASHED_NAME.test(n)).sort().slice(0, MAX_CADIR_FILES)) {
    try {
      out.push(...certificatesIn(read(join(dir, name)), 'unable to load CA list'));
    } catch {
      // As OpenSSL's lookup: an unreadable or foreign file in the directory is skipped.
    }
  }
  return out;
}

function dedupe(pems: readonly string[]): string[] {
  return [...new Set(pems)];
}

// DHparameter (PKCS #3) or X9.42 DomainParameters: both start SEQUENCE { INTEGER p, INTEGER g ...}.
const DH_BLOCK = /-----BEGIN (X9\.42 )?DH PARAMETERS-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END \1?DH PARAMETERS-----/;

/** Node accepts junk as `dhparam` silently, so check the file here: a DH group of MIN_DH_BITS or more. */
function checkDhParams(text: Buffer, message: string): void {
  const m = DH_BLOCK.exec(text.toString('latin1'));
  if (m === null) throw new ConfigError(message);
  try {
    const der = Buffer.from((m[2] as string).replace(/\s+/g, ''), 'base64');
    const [p, g] = derChildren(expectTag(readDer(der), DER_TAG.SEQUENCE, 'DH parameters'), 8);
    const prime = expectTag(p, DER_TAG.INTEGER, 'DH prime').contents;
    expectTag(g, DER_TAG.INTEGER, 'DH generator');
    const first = prime.findIndex((b) => b !== 0);
    const bits = first < 0 ? 0 : (prime.length - first - 1) * 8 + (32 - Math.clz32(prime[first] as number));
    if (bits < MIN_DH_BITS) throw new ConfigError(message);
  } catch (err) {
    throw err instanceof ConfigError ? err : new ConfigError(message, { cause: err });
  }
}
