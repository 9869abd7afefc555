// TLS settings read from the environment at startup (CERTFILE, KEYFILE, CIPHERS, CAFILE, ...).

/** Client certificate policy: `-Z` none, `-m` verify, `-z` verify and match the peer's host name. */
export type ClientCertMode = 'none' | 'verify' | 'verify-host';

/** Everything the TLS context is built from; paths are as given, not yet read. */
export interface TlsSettings {
  /** CERTFILE: leaf certificate, optionally followed by intermediates (and the key when no KEYFILE). */
  certFile?: string;
  /** KEYFILE: the private key; unset means it is in CERTCHAINFILE or CERTFILE. */
  keyFile?: string;
  /** CERTCHAINFILE: leaf first, then intermediates; takes precedence over CERTFILE. */
  certChainFile?: string;
  /** DHFILE: finite-field DH parameters (PEM); unset means none. */
  dhFile?: string;
  /** CIPHERS: an OpenSSL TLS 1.2 cipher list, TLS 1.3 suite names, or both, colon separated. */
  ciphers?: string;
  /** CAFILE: trust anchors for client certificates (PEM, several allowed). */
  caFile?: string;
  /** CADIR: a directory of trust anchors (OpenSSL hashed dir, or any *.pem / *.crt files). */
  caDir?: string;
  /** CCAFILE: CAs named in the certificate request; unset with `clientCert` 'none'. */
  ccaFile?: string;
  /** VERIFYDEPTH: most intermediate CAs allowed between a client certificate and its anchor. */
  verifyDepth: number;
  /** The effective client certificate policy (CCAFILE `-` forces 'none'). */
  clientCert: ClientCertMode;
}

/** VERIFYDEPTH when unset, as sslserver.c's `int verifydepth = 1`. */
export const DEFAULT_VERIFY_DEPTH = 1;
/** CADIR when unset: ucspi-ssl's conf-cadir. A directory that does not exist is ignored, as OpenSSL's lookup does. */
export const DEFAULT_CADIR = '/usr/local/ssl/certs';

/**
 * Reads the TLS variables of the environment. Pure: no file is touched.
 *
 * As sslserver.c: an empty value counts as unset; CCAFILE `-` turns client certificates off;
 * CCAFILE is ignored when client certificates are off; VERIFYDEPTH is read like scan_ulong
 * (leading digits, else 0). Unlike it: DHFILE unset means no DH file (the reference's compiled
 * default `/usr/local/ssl/pem/dh1024.pem` does not exist, so it fails at startup), and an empty
 * CADIR keeps no directory while an unset one keeps the compiled default.
 *
 * @param env the environment, e.g. `process.env`
 * @param clientCert the policy from `-Z`/`-m`/`-z`
 * @returns the settings
 * @example tlsSettingsFromEnv({ CERTFILE: '/etc/ssl/cert.pem' }, 'none')
 */
export function tlsSettingsFromEnv(env: Record<string, string | undefined>, clientCert: ClientCertMode): TlsSettings {
  const get = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === '' ? undefined : v;
  };
  let mode = clientCert;
  let ccaFile = get('CCAFILE');
  if (ccaFile === '-') mode = 'none';
  if (mode === 'none') ccaFile = undefined;
  const settings: TlsSettings = { verifyDepth: parseDepth(env['VERIFYDEPTH']), clientCert: mode };
  const certFile = get('CERTFILE');
  const keyFile = get('KEYFILE');
  const certChainFile = get('CERTCHAINFILE');
  const dhFile = get('DHFILE');
  const ciphers = get('CIPHERS');
  const caFile = get('CAFILE');
  const caDir = env['CADIR'] === undefined ? DEFAULT_CADIR : get('CADIR');
  if (certFile !== undefined) settings.certFile = certFile;
  if (keyFile !== undefined) settings.keyFile = keyFile;
  if (certChainFile !== undefined) settings.certChainFile = certChainFile;
  if (dhFile !== undefined) settings.dhFile = dhFile;
  if (ciphers !== undefined) settings.ciphers = ciphers;
  if (caFile !== undefined) settings.caFile = caFile;
  if (caDir !== undefined) settings.caDir = caDir;
  if (ccaFile !== undefined) settings.ccaFile = ccaFile;
  return settings;
}

// djb scan_ulong: the leading decimal digits; none gives 0. Unset gives the default.
function parseDepth(text: string | undefined): number {
  if (text === undefined) return DEFAULT_VERIFY_DEPTH;
  const m = /^[0-9]+/.exec(text);
  return m === null ? 0 : Math.min(Number(m[0]), 1_000_000);
}
