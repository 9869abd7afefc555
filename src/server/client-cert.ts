// -m / -z: the client certificate policy applied after the handshake, with ucspi-ssl's messages.
import type tls from 'node:tls';
import type { ClientCertMode } from '../tls/settings';

/** The outcome of the client-certificate check. */
export type CertVerdict =
  | { ok: true }
  | { ok: false; kind: 'fatal' | 'error'; code: number; text(remoteIp: string, pid: number): string };

/**
 * Checks the peer's certificate: present and verified (-m), and with -z also issued to `hostName`
 * (a SAN DNS entry, or the CN when there is no SAN DNS entry; case-insensitive). No name check
 * when the peer has no host name.
 * @param socket an established server-side TLS socket (requestCert, rejectUnauthorized false)
 * @param mode 'verify' (-m) or 'verify-host' (-z)
 * @param hostName the peer's host name (PTR), if any
 */
export function verifyClientCertificate(socket: tls.TLSSocket, mode: ClientCertMode, hostName: string | undefined): CertVerdict {
  if (mode === 'none') return { ok: true };
  const cert = socket.getPeerX509Certificate();
  if (cert === undefined) {
    return { ok: false, kind: 'error', code: 110, text: (ip, pid) => `no client certificate from: ${ip} for pid: ${pid}` };
  }
  if (!socket.authorized) {
    // OpenSSL's reason for any chain failure, as the reference's handshake reports it
    return { ok: false, kind: 'fatal', code: 111, text: (ip, pid) => `unable to accept TLS from: ${ip} for pid: ${pid} certificate verify failed` };
  }
  if (mode === 'verify-host' && hostName !== undefined) {
    const names = certNames(cert.subjectAltName, cert.subject);
    const want = hostName.toLowerCase();
    if (!names.some((n) => n.toLowerCase() === want)) {
      const shown = names[0] ?? '';
      return { ok: false, kind: 'error', code: 110, text: (_ip, pid) => `client hostname does not match certificate for pid: ${pid} ${hostName} <=> ${shown}` };
    }
  }
  return { ok: true };
}

/** SAN DNS names, or the CN when there are none. */
function certNames(san: string | undefined, subject: string): string[] {
  const dns = (san ?? '')
    .split(', ')
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4));
  if (dns.length > 0) return dns;
  const cn = /^CN=(.*)$/m.exec(subject);
  return cn?.[1] === undefined ? [] : [cn[1]];
}
