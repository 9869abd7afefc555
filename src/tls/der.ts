// A tiny bounded DER (ITU-T X.690) reader: just enough for certificates and SSL_SESSION blobs.

/** Input that is not the DER we expect: truncated, a length past its parent, an unsupported form. */
export class DerFormatError extends Error {
  override readonly name = 'DerFormatError';
  readonly code = 'ERR_DER_FORMAT';
  readonly temporary = true;
  /**
   * @param message what is wrong, e.g. `DER length runs past its container at offset 12`
   * @param offset byte offset in the buffer where the problem was found
   */
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** Universal tags this project looks at (X.690 §8). */
export const DER_TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  SEQUENCE: 0x30,
  SET: 0x31,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  VISIBLE_STRING: 0x1a,
  GENERAL_STRING: 0x1b,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
} as const;

/** Most length octets we accept (a 4-byte length already allows 4 GiB). */
const MAX_LENGTH_OCTETS = 4;
/** Most children one constructed value may have before we call the input hostile. */
export const MAX_DER_CHILDREN = 4096;
/** Most bytes of an OID's content (real ones are under 30). */
const MAX_OID_BYTES = 64;

/** One tag-length-value element; `contents` is a view into the original buffer. */
export interface DerNode {
  /** The identifier octet (class, constructed bit, tag number), e.g. 0x30 for SEQUENCE. */
  readonly tag: number;
  /** Offset of the identifier octet. */
  readonly start: number;
  /** Offset just past the contents. */
  readonly end: number;
  /** The content octets. */
  readonly contents: Buffer;
  /** The whole encoding, identifier to last content octet. */
  readonly encoded: Buffer;
}

/**
 * Reads one TLV element at `offset`, never looking at or past `limit`.
 * @param buf the bytes
 * @param offset where the element starts
 * @param limit end of the enclosing container (default: end of `buf`)
 * @returns the element
 * @throws DerFormatError when truncated, when the length is indefinite, too long, not minimal
 *   or runs past `limit`, or when the tag uses the high-tag-number form
 */
export function readDer(buf: Buffer, offset = 0, limit = buf.length): DerNode {
  const end = Math.min(limit, buf.length);
  if (offset < 0 || offset + 2 > end) throw new DerFormatError(`DER element truncated at offset ${offset}`, offset);
  const tag = buf[offset] as number;
  // X.690 §8.1.2.4: tag number 31 announces the multi-byte form, unused in X.509 and SSL_SESSION.
  if ((tag & 0x1f) === 0x1f) throw new DerFormatError(`DER high tag number at offset ${offset}`, offset);
  let pos = offset + 1;
  const first = buf[pos++] as number;
  let length: number;
  if (first < 0x80) {
    length = first;
  } else {
    const n = first & 0x7f;
    // §10.1: DER has no indefinite form (n === 0).
    if (n === 0) throw new DerFormatError(`DER indefinite length at offset ${offset}`, offset);
    if (n > MAX_LENGTH_OCTETS) throw new DerFormatError(`DER length too long at offset ${offset}`, offset);
    if (pos + n > end) throw new DerFormatError(`DER length truncated at offset ${offset}`, offset);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + (buf[pos + i] as number);
    pos += n;
    // §10.1: minimal length encoding.
    if (length < 0x80 || (n > 1 && buf[pos - n] === 0)) {
      throw new DerFormatError(`DER length not minimal at offset ${offset}`, offset);
    }
  }
  if (length > end - pos) {
    throw new DerFormatError(`DER length runs past its container at offset ${offset}`, offset);
  }
  return {
    tag,
    start: offset,
    end: pos + length,
    contents: buf.subarray(pos, pos + length),
    encoded: buf.subarray(offset, pos + length),
  };
}

/**
 * Reads the children of a constructed element (SEQUENCE, SET, [n] EXPLICIT).
 * @param node a constructed element
 * @param maxChildren stop with an error after this many (default MAX_DER_CHILDREN)
 * @returns the children in order
 * @throws DerFormatError for a primitive element, malformed children or too many of them
 */
export function derChildren(node: DerNode, maxChildren = MAX_DER_CHILDREN): DerNode[] {
  if ((node.tag & 0x20) === 0) {
    throw new DerFormatError(`DER element at offset ${node.start} is not constructed`, node.start);
  }
  const out: DerNode[] = [];
  let pos = 0;
  while (pos < node.contents.length) {
    if (out.length >= maxChildren) {
      throw new DerFormatError(`DER element at offset ${node.start} has too many children`, node.start);
    }
    const child = readDer(node.contents, pos);
    out.push({ ...child, start: node.end - node.contents.length + child.start, end: node.end - node.contents.length + child.end });
    pos = child.end;
  }
  return out;
}

/**
 * Checks an element's tag.
 * @param node the element
 * @param tag the expected identifier octet
 * @param what a name for the error message, e.g. `serialNumber`
 * @returns the same element
 * @throws DerFormatError when the tag differs
 */
export function expectTag(node: DerNode | undefined, tag: number, what: string): DerNode {
  if (node === undefined) throw new DerFormatError(`DER ${what} missing`, -1);
  if (node.tag !== tag) {
    throw new DerFormatError(
      `DER ${what} has tag 0x${node.tag.toString(16)}, expected 0x${tag.toString(16)} at offset ${node.start}`,
      node.start,
    );
  }
  return node;
}

/**
 * Decodes an OBJECT IDENTIFIER's contents to dotted form (X.690 §8.19).
 * @param contents the content octets
 * @returns e.g. `1.2.840.113549.1.1.11`
 * @throws DerFormatError for an empty, oversized or truncated OID
 */
export function decodeOid(contents: Buffer): string {
  if (contents.length === 0 || contents.length > MAX_OID_BYTES) {
    throw new DerFormatError(`DER OID of ${contents.length} bytes`, 0);
  }
  const arcs: bigint[] = [];
  let value = 0n;
  let inArc = false;
  for (const byte of contents) {
    value = (value << 7n) | BigInt(byte & 0x7f);
    inArc = (byte & 0x80) !== 0;
    if (!inArc) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (inArc) throw new DerFormatError('DER OID truncated in an arc', 0);
  const first = arcs[0] as bigint;
  // §8.19.4: the first subidentifier packs the first two arcs.
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/**
 * Decodes an INTEGER's contents (two's complement, big-endian) to a bigint.
 * @param contents the content octets
 * @returns the value
 * @throws DerFormatError for an empty INTEGER
 */
export function decodeInteger(contents: Buffer): bigint {
  if (contents.length === 0) throw new DerFormatError('DER INTEGER with no content', 0);
  let value = 0n;
  for (const byte of contents) value = (value << 8n) | BigInt(byte);
  if (((contents[0] as number) & 0x80) !== 0) value -= 1n << BigInt(contents.length * 8);
  return value;
}
