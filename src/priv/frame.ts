// Length-prefixed frames (u32 big-endian byte count, then JSON) for the key helper's channel.
import { ProtocolError } from '../errors';

/** Bytes in the length prefix. */
export const FRAME_HEADER_BYTES = 4;

/**
 * Encodes one value as a frame.
 * @param value anything JSON can carry
 * @returns header and body
 */
export function encodeFrame(value: unknown): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Splits a byte stream into decoded frames, refusing any frame over a size budget. */
export class FrameReader {
  private _buf: Buffer = Buffer.alloc(0);

  /** @param maxBytes the largest frame body accepted */
  constructor(private readonly maxBytes: number) {}

  /**
   * Adds bytes and returns every frame they complete.
   * @param chunk bytes read from the channel
   * @returns the decoded values, in order
   * @throws ProtocolError for a frame over the budget or a body that is not JSON
   */
  push(chunk: Buffer): unknown[] {
    this._buf = this._buf.length === 0 ? chunk : Buffer.concat([this._buf, chunk]);
    const out: unknown[] = [];
    while (this._buf.length >= FRAME_HEADER_BYTES) {
      const len = this._buf.readUInt32BE(0);
      if (len > this.maxBytes) throw new ProtocolError(`frame of ${len} bytes is over ${this.maxBytes}`);
      if (this._buf.length < FRAME_HEADER_BYTES + len) break;
      const body = this._buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + len);
      this._buf = this._buf.subarray(FRAME_HEADER_BYTES + len);
      try {
        out.push(JSON.parse(body.toString('utf8')));
      } catch (err) {
        throw new ProtocolError('frame is not JSON', { cause: err });
      }
    }
    return out;
  }
}
