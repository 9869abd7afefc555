// The SSL_* variables for an established server-side TLS session, in ucspi-ssl's order.
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { DER_TAG, DerFormatError, expectTag, readDer } from './der';
import type { ServerTlsConfig } from './context';
import { parseCertificate } from './x509-fields';
import type { DistinguishedName, ParsedCert } from './x509-fields';

/** One environment entry. */
export type EnvEntry = [name: string, value: string];

/** SSL_VERSION_INTERFACE, as ucspi-ssl's ssl_env.c. */
export const SSL_VERSION_INTERFACE = 'ucspi-ssl';

/**
 * DN components exported one by one (ssl_env.c set_env_id calls), suffix and OID, in its order.
 * UID is x500UniqueIdentifier (NID_x500UniqueIdentifier), not the LDAP uid, as in ssl_env.c.
 */
const DN_COMPONENTS: ReadonlyArray<readonly [suffix: string, oid: string]> = [
  ['C', '2.5.4.6'],
  ['ST', '2.5.4.8'],
  ['L', '2.5.4.7'],
  ['O', '2.5.4.10'],
  ['OU', '2.5.4.11'],
  ['CN', '2.5.4.3'],
  ['T', '2.5.4.12'],
  ['I', '2.5.4.43'],
  ['G', '2.5.4.42'],
  ['S', '2.5.4.4'],
  ['D', '2.5.4.13'],
  ['UID', '2.5.4.45'],
  ['Email', '1.2.840.113549.1.9.1'],
];

// OPENSSL_VERSION_TEXT release dates for the OpenSSL versions Node 20 has bundled lately; Node
// exposes only the number (process.versions.openssl). Unknown versions print without a date.
const OPENSSL_RELEASE_DATES: Readonly<Record<string, string>> = {
  '3.0.19': '27 Jan 2026',
};

/**
 * The library text for SSL_VERSION_LIBRARY, as OPENSSL_VERSION_TEXT: `OpenSSL 3.0.19 27 Jan 2026`.
 * @param version the OpenSSL version number (default: the one Node was built with)
 * @returns the text; without a known release date just `OpenSSL <version>`
 */
export function opensslVersionText(version: string = process.versions.openssl ?? ''): string {
  // Node's bundled OpenSSL may call itself 3.0.x+quic; OPENSSL_VERSION_TEXT keeps the suffix.
  const date = OPENSSL_RELEASE_DATES[version.replace(/\+.*$/, '')];
  return date === undefined ? `OpenSSL ${version}` : `OpenSSL ${version} ${date}`;
}

/**
 * The SSL_* block for an established server-side TLSSocket, in ucspi-ssl's order:
 * session (PROTOCOL, SESSION_ID, CIPHER, CIPHER_EXPORT, CIPHER_USEKEYSIZE, CIPHER_ALGKEYSIZE,
 * VERSION_INTERFACE, VERSION_LIBRARY), then SSL_SERVER_* (M_VERSION, M_SERIAL, S_DN, S_DN_x,
 * I_DN, I_DN_x, A_SIG, A_KEY, V_START, V_END, CERT), then, when the client sent a certificate,
 * the same SSL_CLIENT_* set (the reference 0.13.07 never exports it: bug client_env), and,
 * when a certificate was requested, SSL_CLIENT_VERIFY (bug client_verify).
 *
 * Call it one turn after the socket's 'secure' event (e.g. in setImmediate): Node emits
 * 'secure' for TLS 1.3 before OpenSSL writes the session tickets, and the session id is only
 * assigned then (SSL_SESSION_ID would be empty). With TLS 1.2 and session tickets OpenSSL
 * assigns no session id at all, so SSL_SESSION_ID is empty there, as in the reference.
 *
 * @param socket an established server-side TLS socket
 * @param config the server's TLS configuration
 * @returns name/value pairs; a name appears at most once
 * @throws DerFormatError when the session or the peer certificate cannot be parsed
 * @example for (const [k, v] of sslEnv(socket, config)) env[k] = v;
 */
export function sslEnv(socket: TLSSocket, config: ServerTlsConfig): EnvEntry[] {
  const out: EnvEntry[] = [];
  const cipher = socket.getCipher();
  const [useBits, algBits] = cipherKeyBits(cipher.name);
  const session = socket.getSession();
  out.push(['SSL_PROTOCOL', socket.getProtocol() ?? '']);
  out.push(['SSL_SESSION_ID', session === undefined ? '' : sessionIdFromDer(session).toString('hex')]);
  out.push(['SSL_CIPHER', cipher.name]);
  // ssl_env.c: export grade means fewer than 56 secret bits.
  out.push(['SSL_CIPHER_EXPORT', useBits < 56 ? 'true' : 'false']);
  out.push(['SSL_CIPHER_USEKEYSIZE', String(useBits)]);
  out.push(['SSL_CIPHER_ALGKEYSIZE', String(algBits)]);
  out.push(['SSL_VERSION_INTERFACE', SSL_VERSION_INTERFACE]);
  out.push(['SSL_VERSION_LIBRARY', opensslVersionText()]);
  out.push(...certEnv('SSL_SERVER_', config.serverCert));
  const peer = peerCertificate(socket);
  if (peer !== undefined) out.push(...certEnv('SSL_CLIENT_', parseCertificate(peer.raw)));
  if (config.requestCert) out.push(['SSL_CLIENT_VERIFY', clientVerifyStatus(socket, config)]);
  return out;
}

/**
 * The variables for one certificate, in ssl_env.c's ssl_server_vars order.
 * @param prefix `SSL_SERVER_` or `SSL_CLIENT_`
 * @param cert the parsed certificate
 * @returns name/value pairs
 */
export function certEnv(prefix: string, cert: ParsedCert): EnvEntry[] {
  return [
    [`${prefix}M_VERSION`, String(cert.version)],
    [`${prefix}M_SERIAL`, cert.serial],
    [`${prefix}S_DN`, cert.subject.oneline],
    ...dnComponents(`${prefix}S_DN_`, cert.subject),
    [`${prefix}I_DN`, cert.issuer.oneline],
    ...dnComponents(`${prefix}I_DN_`, cert.issuer),
    [`${prefix}A_SIG`, cert.signatureAlgorithm],
    [`${prefix}A_KEY`, cert.keyAlgorithm],
    [`${prefix}V_START`, cert.notBefore],
    [`${prefix}V_END`, cert.notAfter],
    [`${prefix}CERT`, cert.pem],
  ];
}

// ssl_env.c set_env_name_entry sets the variable once per matching entry, so with two OUs the
// last one is what the program sees; we emit that one only.
function dnComponents(prefix: string, dn: DistinguishedName): EnvEntry[] {
  const out: EnvEntry[] = [];
  for (const [suffix, oid] of DN_COMPONENTS) {
    const matches = dn.entries.filter((e) => e.oid === oid);
    const last = matches[matches.length - 1];
    if (last !== undefined) out.push([`${prefix}${suffix}`, last.value]);
  }
  return out;
}

/**
 * mod_ssl's SSL_CLIENT_VERIFY for this connection, and the server's -m/-z verdict:
 * `NONE` (no certificate), `SUCCESS`, or `FAILED:<OpenSSL verify error text>`.
 *
 * OpenSSL's verdict is taken first; then, because Node has one CA list for trust and for the
 * request and no verify depth, the chain must end at a CAFILE/CADIR anchor (else
 * `FAILED:unable to get local issuer certificate`) and have at most VERIFYDEPTH intermediates
 * (else `FAILED:certificate chain too long`, OpenSSL's meaning of the depth).
 * Do not call `socket.getPeerX509Certificate()` before this (or sslEnv): on Node 20 that makes
 * the client's intermediates disappear from `getPeerCertificate(true)`, and a good chain with
 * an intermediate then reads as `FAILED:unable to get local issuer certificate`.
 *
 * @param socket an established server-side TLS socket created with config's options
 * @param config the server's TLS configuration
 * @returns the status text
 */
export function clientVerifyStatus(socket: TLSSocket, config: ServerTlsConfig): string {
  let c = peerCertificate(socket);
  if (c === undefined) return 'NONE';
  const error = verifyError(socket);
  if (error !== undefined) return `FAILED:${error}`;
  const chain: DetailedPeerCertificate[] = [];
  // Node completes the chain from the trust store; the last one is the anchor (self-issued).
  while (c !== undefined && c.raw !== undefined && chain.length < 100) {
    chain.push(c);
    if (c.issuerCertificate === undefined || c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  const anchor = chain[chain.length - 1];
  if (anchor === undefined || !config.trustedFingerprints.has(anchor.fingerprint256)) {
    return 'FAILED:unable to get local issuer certificate';
  }
  if (chain.length - 2 > config.verifyDepth) return 'FAILED:certificate chain too long';
  return 'SUCCESS';
}

// XXX: Node 20.20: after getPeerX509Certificate() on a server socket, getPeerCertificate(true)
// no longer links the client's intermediates (issuerCertificate is missing), so only the
// latter is used, and it may be called repeatedly.
function peerCertificate(socket: TLSSocket): DetailedPeerCertificate | undefined {
  const cert = socket.getPeerCertificate(true);
  return cert?.raw === undefined ? undefined : cert;
}

// XXX: Node sets TLSSocket.authorized/authorizationError only for sockets a tls.Server made;
// for a TLSSocket wrapped by hand the verdict is only reachable through the handle's
// verifyError(), which tls.Server itself uses (lib/_tls_wrap.js onServerSocketSecure). Its
// message is X509_verify_cert_error_string().
function verifyError(socket: TLSSocket): string | undefined {
  const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
  if (handle?.verifyError === undefined) {
    return socket.authorizationError === undefined ? undefined : String(socket.authorizationError);
  }
  const err = handle.verifyError();
  return err === null ? undefined : err.message;
}

/**
 * Reads the session id out of an i2d_SSL_SESSION blob (OpenSSL ssl/ssl_asn1.c SSL_SESSION_ASN1:
 * SEQUENCE { version INTEGER, ssl_version INTEGER, cipher OCTET STRING, session_id OCTET STRING, ... }).
 * @param der the bytes of `socket.getSession()`
 * @returns the session id bytes (empty when OpenSSL assigned none)
 * @throws DerFormatError when the blob does not have that shape
 */
export function sessionIdFromDer(der: Buffer): Buffer {
  const seq = expectTag(readDer(der), DER_TAG.SEQUENCE, 'SSL_SESSION');
  const wanted = [DER_TAG.INTEGER, DER_TAG.INTEGER, DER_TAG.OCTET_STRING, DER_TAG.OCTET_STRING];
  const names = ['version', 'ssl_version', 'cipher', 'session_id'];
  let pos = 0;
  let last: Buffer = Buffer.alloc(0);
  for (let i = 0; i < wanted.length; i++) {
    if (pos >= seq.contents.length) throw new DerFormatError(`DER SSL_SESSION ends before ${names[i]}`, seq.end);
    const node = expectTag(readDer(seq.contents, pos), wanted[i] as number, names[i] as string);
    last = node.contents;
    pos = node.end;
  }
  // SSL_MAX_SSL_SESSION_ID_LENGTH is 32.
  if (last.length > 32) throw new DerFormatError(`DER SSL_SESSION session_id of ${last.length} bytes`, seq.start);
  return Buffer.from(last);
}

/**
 * SSL_CIPHER_get_bits() for an OpenSSL cipher name: [secret bits used, algorithm bits].
 * @param name e.g. `TLS_AES_256_GCM_SHA384`, `ECDHE-RSA-AES128-GCM-SHA256`
 * @returns the two sizes; [0, 0] for NULL ciphers or unknown names
 */
export function cipherKeyBits(name: string): [use: number, alg: number] {
  // ssl/s3_lib.c cipher table: strength_bits, alg_bits.
  if (/(^|[-_])(AES|CAMELLIA|ARIA)_?256/.test(name)) return [256, 256];
  if (/(^|[-_])(AES|CAMELLIA|ARIA)_?128/.test(name)) return [128, 128];
  if (/CHACHA20/.test(name)) return [256, 256];
  if (/(^|[-_])(AES)(-|$)/.test(name)) return [128, 128];
  if (/DES-CBC3|3DES|DES_EDE3/.test(name)) return [112, 168];
  if (/(^|[-_])(SEED|IDEA|RC4|RC2)/.test(name)) return [128, 128];
  if (/(^|[-_])DES/.test(name)) return [56, 56];
  return [0, 0];
}
