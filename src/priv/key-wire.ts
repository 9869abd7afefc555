// The key helper's messages and the TLS material as it crosses the channel.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { ProtocolError } from '../errors';
import type { TlsMaterial } from '../tls/context';
import type { TlsSettings } from '../tls/settings';
import { parseCertificate } from '../tls/x509-fields';

/** Largest request frame the helper accepts (settings are a few paths). */
export const KEY_REQUEST_MAX_BYTES = 64 * 1024;
/** Largest reply frame the server accepts (a CA bundle of 10 000 certificates fits). */
export const KEY_REPLY_MAX_BYTES = 32 * 1024 * 1024;

/** Server to helper. */
export type KeyRequest =
  | { readonly kind: 'password'; readonly password: string }
  | { readonly kind: 'load'; readonly settings: TlsSettings };

/** TlsMaterial in JSON: PEM strings, the key as unencrypted PKCS#8 PEM, DH as base64. */
export interface WireMaterial {
  readonly certChain: readonly string[];
  readonly key: string;
  readonly dhParams?: string;
  readonly trustedCas: readonly string[];
  readonly clientCas: readonly string[];
}

/** Helper to server. */
export type KeyReply =
  | { readonly kind: 'ready'; readonly ok: true }
  | { readonly kind: 'ready'; readonly ok: false; readonly message: string }
  | { readonly kind: 'material'; readonly ok: true; readonly material: WireMaterial }
  | { readonly kind: 'material'; readonly ok: false; readonly message: string };

/**
 * The material as the helper sends it.
 * @param m loaded and checked by loadTlsMaterial
 * @returns its JSON form
 */
export function materialToWire(m: TlsMaterial): WireMaterial {
  return {
    certChain: m.certChain,
    key: m.key.export({ type: 'pkcs8', format: 'pem' }) as string,
    ...(m.dhParams === undefined ? {} : { dhParams: m.dhParams.toString('base64') }),
    trustedCas: m.trustedCas,
    clientCas: m.clientCas,
  };
}

/**
 * The material again, on the server's side.
 * @param w what the helper sent
 * @returns the TlsMaterial createServerContext takes
 * @throws ProtocolError when the helper sent something that is not material
 */
export function materialFromWire(w: WireMaterial): TlsMaterial {
  try {
    const leaf = new X509Certificate(w.certChain[0] as string);
    const trustedCas = [...w.trustedCas];
    return {
      certChain: [...w.certChain],
      serverCert: parseCertificate(leaf.raw),
      key: createPrivateKey({ key: w.key, format: 'pem' }),
      ...(w.dhParams === undefined ? {} : { dhParams: Buffer.from(w.dhParams, 'base64') }),
      trustedCas,
      clientCas: [...w.clientCas],
      trustedFingerprints: new Set(trustedCas.map((pem) => new X509Certificate(pem).fingerprint256)),
    };
  } catch (err) {
    throw new ProtocolError('key helper sent bad material', { cause: err });
  }
}
