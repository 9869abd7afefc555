// -m / -z: the client certificate policy applied after the handshake, with ucspi-ssl's messages.
import type tls from 'node:tls';
import type { ClientCertMode } from '../tls/settings';
import type { ServerTlsConfig } from '../tls/context';
import { clientVerifyStatus } from '../tls/ssl-env';

/** The outcome of the client-certificate check. */
export type CertVerdict =
  | { ok: true }
  | { ok: false; kind: 'fatal' | 'error'; code: number; text(remoteIp: string, pid: number): string };

/**
 * Checks the peer's certificate: present and verified (-m), and with -z also issued to `hostName`
 * (a SAN DNS entry, or the CN when there is no SAN DNS entry; case-insensitive). No name check
 * when the peer has no host name.
 * @param socket an established server-side TLS socket (requestCert, rejectUnauthorized false)
 * @param config its TLS configuration (trust anchors, VERIFYDEPTH)
 * @param mode 'verify' (-m) or 'verify-host' (-z)
 * @param hostName the peer's host name (PTR), if any
 */
export function verifyClientCertificate(socket: tls.TLSSocket, config: ServerTlsConfig, mode: ClientCertMode, hostName: string | undefined): CertVerdict {
  if (mode === 'none') return { ok: true };
  const status = clientVerifyStatus(socket, config);
  if (status === 'NONE') {
    // as the reference: with CCAFILE its handshake fails with OpenSSL's reason (SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
    // without, it asked for nothing and says so
    if (config.ccaFileGiven) return { ok: false, kind: 'fatal', code: 111, text: (ip, pid) => `unable to accept TLS from: ${ip} for pid: ${pid} peer did not return a certificate` };
    return { ok: false, kind: 'error', code: 110, text: (ip, pid) => `no client certificate from: ${ip} for pid: ${pid}` };
  }
  if (status !== 'SUCCESS') {
    // as the reference's handshake reports a chain failure: OpenSSL's reason text
    return { ok: false, kind: 'fatal', code: 111, text: (ip, pid) => `unable to accept TLS from: ${ip} for pid: ${pid} certificate verify failed` };
  }
  if (mode === 'verify-host' && hostName !== undefined) {
    // getPeerCertificate, not getPeerX509Certificate: the latter breaks the chain links on Node 20
    const cert = socket.getPeerCertificate(false);
    const names = certNames(cert.subjectaltname, cert.subject?.CN);
    const want = hostName.toLowerCase();
    if (!names.some((n) => n.toLowerCase() === want)) {
      const shown = names[0] ?? '';
      return { ok: false, kind: 'error', code: 110, text: (_ip, pid) => `client hostname does not match certificate for pid: ${pid} ${hostName} <=> ${shown}` };
    }
  }
  return { ok: true };
}

/** SAN DNS names, or the CN when there are none. */
function certNames(san: string | undefined, cn: string | string[] | undefined): string[] {
  const dns = (san ?? '')
    .split(', ')
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
  if (dns.length > 0) return dns;
  if (cn === undefined) return [];
  return Array.isArray(cn) ? cn : [cn];
}
