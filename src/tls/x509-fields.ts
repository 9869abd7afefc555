// Certificate fields for the SSL_*_ variables, read from DER so names, order and escaping match OpenSSL.
import { DER_TAG, DerFormatError, decodeInteger, decodeOid, derChildren, expectTag, readDer } from './der';
import type { DerNode } from './der';

/** One attribute of a distinguished name, in certificate order. */
export interface DnEntry {
  /** Dotted OID, e.g. `2.5.4.3`. */
  readonly oid: string;
  /** OpenSSL's short name (`CN`, `emailAddress`) or the dotted OID when OpenSSL has none. */
  readonly shortName: string;
  /** The string's content octets, undecoded. */
  readonly raw: Buffer;
  /** The value as text: UTF-8, UTF-16BE (BMPString), UTF-32BE (UniversalString) or Latin-1. */
  readonly value: string;
  /** Index of the RDN (SET) this entry belongs to: equal indexes make a multi-valued RDN. */
  readonly set: number;
}

/** A parsed Name: its entries and OpenSSL's one-line rendering. */
export interface DistinguishedName {
  readonly entries: readonly DnEntry[];
  /** As X509_NAME_oneline(): `/C=DE/ST=Berlin/O=Acceptance Server/CN=localhost`. */
  readonly oneline: string;
}

/** What the SSL_SERVER_* / SSL_CLIENT_* block needs from one certificate. */
export interface ParsedCert {
  /** X.509 version as printed (1, 2 or 3). */
  readonly version: number;
  /** Serial number in decimal (BN_bn2dec). */
  readonly serial: string;
  readonly subject: DistinguishedName;
  readonly issuer: DistinguishedName;
  /** notBefore as ASN1_TIME_print(): `Nov 22 19:51:58 2026 GMT`. */
  readonly notBefore: string;
  readonly notAfter: string;
  /** Long name of the TBS signature algorithm (`sha256WithRSAEncryption`), `UNKNOWN` if unknown. */
  readonly signatureAlgorithm: string;
  /** Long name of the public key algorithm (`rsaEncryption`, `id-ecPublicKey`). */
  readonly keyAlgorithm: string;
  /** PEM as PEM_write_bio_X509() writes it (64-column base64, trailing newline). */
  readonly pem: string;
  /** The certificate's DER. */
  readonly der: Buffer;
}

// OpenSSL short names (OBJ_nid2sn) for attribute types seen in DNs; crypto/objects/objects.txt.
const DN_SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.16': 'postalAddress',
  '2.5.4.17': 'postalCode',
  '2.5.4.18': 'postOfficeBox',
  '2.5.4.20': 'telephoneNumber',
  '2.5.4.41': 'name',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.45': 'x500UniqueIdentifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.72': 'role',
  '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '1.2.840.113549.1.9.2': 'unstructuredName',
  '1.2.840.113549.1.9.8': 'unstructuredAddress',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionL',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionST',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionC',
};

// OpenSSL long names (OBJ_nid2ln) for signature and key algorithms; crypto/objects/objects.txt.
const ALGORITHM_LONG_NAMES: Readonly<Record<string, string>> = {
  '1.2.840.113549.1.1.1': 'rsaEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.14': 'sha224WithRSAEncryption',
  '1.2.840.10045.2.1': 'id-ecPublicKey',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.10040.4.1': 'dsaEncryption',
  '1.2.840.10040.4.3': 'dsaWithSHA1',
  '2.16.840.1.101.3.4.3.1': 'dsa_with_SHA224',
  '2.16.840.1.101.3.4.3.2': 'dsa_with_SHA256',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
  '1.2.156.10197.1.501': 'SM2-with-SM3',
};

/** X509_NAME_oneline refuses names longer than this (NAME_ONELINE_MAX, crypto/x509/x509_obj.c). */
const NAME_ONELINE_MAX_BYTES = 1024 * 1024;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * Parses the fields of an X.509 certificate the SSL_* variables need.
 * @param der the certificate's DER
 * @returns the fields, formatted as OpenSSL prints them
 * @throws DerFormatError when the bytes are not a certificate
 * @example parseCertificate(new X509Certificate(pem).raw).subject.oneline
 */
export function parseCertificate(der: Buffer): ParsedCert {
  const cert = expectTag(readDer(der), DER_TAG.SEQUENCE, 'Certificate');
  if (cert.end !== der.length) throw new DerFormatError('DER trailing bytes after Certificate', cert.end);
  const [tbs] = derChildren(cert, 3);
  const fields = derChildren(expectTag(tbs, DER_TAG.SEQUENCE, 'TBSCertificate'), 16);
  let i = 0;
  let version = 1;
  // RFC 5280 §4.1: version [0] EXPLICIT INTEGER DEFAULT v1.
  if (fields[0]?.tag === 0xa0) {
    const [v] = derChildren(fields[0], 1);
    version = Number(decodeInteger(expectTag(v, DER_TAG.INTEGER, 'version').contents)) + 1;
    i = 1;
  }
  const serial = decodeInteger(expectTag(fields[i], DER_TAG.INTEGER, 'serialNumber').contents).toString(10);
  const signatureAlgorithm = algorithmName(fields[i + 1], 'signature');
  const issuer = parseName(fields[i + 2]);
  const validity = derChildren(expectTag(fields[i + 3], DER_TAG.SEQUENCE, 'validity'), 2);
  const subject = parseName(fields[i + 4]);
  const spki = derChildren(expectTag(fields[i + 5], DER_TAG.SEQUENCE, 'subjectPublicKeyInfo'), 2);
  return {
    version,
    serial,
    subject,
    issuer,
    notBefore: formatTime(validity[0]),
    notAfter: formatTime(validity[1]),
    signatureAlgorithm,
    keyAlgorithm: algorithmName(spki[0], 'algorithm'),
    pem: derToPem(der),
    der,
  };
}

/**
 * Renders DER as a PEM CERTIFICATE block, exactly as PEM_write_bio_X509 does.
 * @param der the certificate's DER
 * @returns `-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n`
 */
export function derToPem(der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let p = 0; p < b64.length; p += 64) lines.push(b64.slice(p, p + 64));
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/**
 * Parses an X.501 Name (SEQUENCE OF SET OF AttributeTypeAndValue).
 * @param node the Name element
 * @returns its entries and one-line form
 * @throws DerFormatError when malformed
 */
export function parseName(node: DerNode | undefined): DistinguishedName {
  const rdns = derChildren(expectTag(node, DER_TAG.SEQUENCE, 'Name'));
  const entries: DnEntry[] = [];
  rdns.forEach((rdn, set) => {
    for (const atv of derChildren(expectTag(rdn, DER_TAG.SET, 'RelativeDistinguishedName'))) {
      const [type, value] = derChildren(expectTag(atv, DER_TAG.SEQUENCE, 'AttributeTypeAndValue'), 2);
      const oid = decodeOid(expectTag(type, DER_TAG.OID, 'AttributeType').contents);
      if (value === undefined) throw new DerFormatError('DER AttributeValue missing', atv.start);
      entries.push({
        oid,
        shortName: DN_SHORT_NAMES[oid] ?? oid,
        raw: value.contents,
        value: decodeString(value.tag, value.contents),
        set,
      });
    }
  });
  return { entries, oneline: onelineName(entries) };
}

// X509_NAME_oneline (crypto/x509/x509_obj.c, OpenSSL 3.0): "/" before each RDN, "+" between
// the parts of a multi-valued RDN; bytes outside ' '..'~' become \xHH (uppercase), '/' and '+'
// get a backslash. Multi-byte strings are printed byte by byte, so a BMPString shows \x00.
function onelineName(entries: readonly DnEntry[]): string {
  let out = '';
  let prevSet = -1;
  for (const e of entries) {
    out += `${e.set === prevSet ? '+' : '/'}${e.shortName}=`;
    for (const byte of e.raw) {
      if (byte < 0x20 || byte > 0x7e) out += `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
      else out += (byte === 0x2f || byte === 0x2b ? '\\' : '') + String.fromCharCode(byte);
    }
    prevSet = e.set;
    if (out.length > NAME_ONELINE_MAX_BYTES) throw new DerFormatError('DER Name too long', 0);
  }
  return out;
}

function decodeString(tag: number, raw: Buffer): string {
  switch (tag) {
    case DER_TAG.UTF8_STRING:
      return raw.toString('utf8');
    case DER_TAG.BMP_STRING:
      // UTF-16BE; Node only decodes little-endian, so swap a copy (an odd last byte is dropped).
      return Buffer.from(raw.subarray(0, raw.length & ~1)).swap16().toString('utf16le');
    case DER_TAG.UNIVERSAL_STRING: {
      let s = '';
      for (let p = 0; p + 4 <= raw.length; p += 4) {
        const cp = raw.readUInt32BE(p);
        s += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      }
      return s;
    }
    default:
      // PrintableString, IA5String, T61String, VisibleString: one byte per character.
      return raw.toString('latin1');
  }
}

function algorithmName(node: DerNode | undefined, what: string): string {
  const [oid] = derChildren(expectTag(node, DER_TAG.SEQUENCE, what), 2);
  return ALGORITHM_LONG_NAMES[decodeOid(expectTag(oid, DER_TAG.OID, what).contents)] ?? 'UNKNOWN';
}

// ASN1_TIME_print (crypto/asn1/a_time.c): "%s %2d %02d:%02d:%02d%.*s %d%s", month name,
// space-padded day, fractional seconds only for GeneralizedTime, " GMT" for a Z time.
function formatTime(node: DerNode | undefined): string {
  if (node === undefined) throw new DerFormatError('DER Time missing', -1);
  const text = node.contents.toString('latin1');
  let m: RegExpExecArray | null;
  let year: number;
  if (node.tag === DER_TAG.UTC_TIME) {
    m = /^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)()(Z?)$/.exec(text);
    // RFC 5280 §4.1.2.5.1: YY >= 50 is 19YY.
    year = m === null ? 0 : Number(m[1]) + (Number(m[1]) >= 50 ? 1900 : 2000);
  } else if (node.tag === DER_TAG.GENERALIZED_TIME) {
    m = /^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\.\d+)?(Z?)$/.exec(text);
    year = m === null ? 0 : Number(m[1]);
  } else {
    throw new DerFormatError(`DER Time has tag 0x${node.tag.toString(16)}`, node.start);
  }
  if (m === null) throw new DerFormatError(`DER Time malformed: ${JSON.stringify(text)}`, node.start);
  const month = MONTHS[Number(m[2]) - 1];
  if (month === undefined) throw new DerFormatError(`DER Time month out of range: ${text}`, node.start);
  const day = String(Number(m[3])).padStart(2, ' ');
  return `${month} ${day} ${m[4]}:${m[5]}:${m[6]}${m[7] ?? ''} ${year}${m[8] === 'Z' ? ' GMT' : ''}`;
}
