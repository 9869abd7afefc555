// Writes a cdb file (djb's format, byte-identical to tinycdb's cdb_make): records streamed, tables at finish.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { exactArg } from '../env/env-bytes';
import { CdbFormatError, SysError } from '../errors';
import { cdbHash } from './cdb-hash';

/** cdb.txt: the file starts with 256 (pos, len) pairs of 4 bytes each. */
const HEADER_BYTES = 2048;
const TABLE_COUNT = 256;
/** Every pointer in the file is a uint32, so no byte of it (tables included) may lie past this. */
const MAX_FILE_BYTES = 0xffffffff;
/** Record header: klen and dlen, uint32 LE each. Also the size of one hash-table slot. */
const PAIR_BYTES = 8;
/** Each record costs one entry in two slots (tables are twice as long as their record count). */
const SLOT_BYTES_PER_RECORD = 2 * PAIR_BYTES;
/** Writes go out in chunks of this size: few syscalls, bounded memory. */
const WRITE_BUFFER_BYTES = 64 * 1024;
const INITIAL_RECORD_CAPACITY = 1024;
/** Mode of a new file, as tcprules: 0644 (the umask still applies). */
const FILE_MODE = 0o644;

/**
 * Builds a cdb file. Records are streamed to disk through a 64 KiB buffer; memory holds only
 * two uint32 per record (hash and position), so millions of records are cheap.
 * The caller owns atomicity: write a temp file, `finish()`, then rename (as tcprules does).
 * @example
 * const w = CdbWriter.create(`${path}.tmp`);
 * try { w.add(Buffer.from('127.0.0.1'), Buffer.from('D\0')); w.finish(); }
 * catch (err) { w.abort(); unlinkSync(`${path}.tmp`); throw err; }
 * renameSync(`${path}.tmp`, path);
 */
export class CdbWriter {
  private fd: number | undefined;
  private readonly buffer = Buffer.allocUnsafe(WRITE_BUFFER_BYTES);
  private buffered = 0;
  /** File offset where the buffer's first byte goes. */
  private bufferPos = HEADER_BYTES;
  /** File offset of the next record (records start right after the header). */
  private pos = HEADER_BYTES;
  private count = 0;
  private hashes = new Uint32Array(INITIAL_RECORD_CAPACITY);
  private positions = new Uint32Array(INITIAL_RECORD_CAPACITY);

  private constructor(readonly path: string, fd: number) {
    this.fd = fd;
  }

  /**
   * Creates (or truncates) `path` for writing.
   * @param path the file to write, usually a temp name renamed into place after `finish()`
   * @returns a writer positioned after the (not yet written) header
   * @throws {SysError} when the file cannot be opened (`open`)
   */
  static create(path: string): CdbWriter {
    let fd: number;
    try {
      // 'w' is O_WRONLY|O_CREAT|O_TRUNC; libuv adds O_CLOEXEC, so children never inherit it.
      fd = openSync(exactArg(path), 'w', FILE_MODE);
    } catch (err) {
      throw SysError.from(err, 'open', path);
    }
    return new CdbWriter(path, fd);
  }

  /** Number of records added so far. */
  get records(): number {
    return this.count;
  }

  /**
   * Appends one record. Duplicate keys are kept; a lookup returns the first one added.
   * @param key the key bytes
   * @param data the data bytes
   * @throws {CdbFormatError} when the file would pass 4 GiB (cdb pointers are 32 bits)
   * @throws {SysError} when a write fails, or the writer is already finished or aborted (`EBADF`);
   *   after a write error the file is incomplete and only `abort()` makes sense
   */
  add(key: Uint8Array, data: Uint8Array): void {
    this.checkOpen('write');
    const end = this.pos + PAIR_BYTES + key.length + data.length;
    // The hash tables come after the records: check their room now, not at finish.
    if (end + (this.count + 1) * SLOT_BYTES_PER_RECORD > MAX_FILE_BYTES) {
      throw new CdbFormatError('cdb file would exceed 4 GiB', this.path);
    }
    if (this.count === this.hashes.length) this.grow();
    this.hashes[this.count] = cdbHash(key);
    this.positions[this.count] = this.pos;
    this.count++;
    this.putUint32Pair(key.length, data.length);
    this.putBytes(key);
    this.putBytes(data);
    this.pos = end;
  }

  /**
   * Writes the 256 hash tables and the header, then fsyncs and closes the file.
   * On failure the file is closed too (the caller unlinks it).
   * @throws {SysError} when a write, fsync or close fails, or the writer is not open (`EBADF`)
   */
  finish(): void {
    this.checkOpen('write');
    try {
      const header = this.writeTables();
      this.flush();
      this.pwrite(header, 0);
      // as djb's tcprules: "NFS stupidity", fsync before close so close cannot lose data.
      try {
        fsyncSync(this.fd as number);
      } catch (err) {
        throw SysError.from(err, 'fsync', this.path);
      }
    } catch (err) {
      this.abort();
      throw err;
    }
    const fd = this.fd as number;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch (err) {
      throw SysError.from(err, 'close', this.path);
    }
  }

  /** Closes the file without finishing it; the caller unlinks it. Safe to call more than once. */
  abort(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // the file is being thrown away; a close error changes nothing
    }
  }

  /** Lays out the tables (same order as djb's and tinycdb's cdb_make) and returns the header. */
  private writeTables(): Buffer {
    const count = this.count;
    const tableCounts = new Uint32Array(TABLE_COUNT);
    for (let r = 0; r < count; r++) tableCounts[(this.hashes[r] as number) & 0xff]++;
    // Counting sort of record numbers by table, stable: within a table, records stay in the
    // order added, so the first of two duplicates takes the earlier probe slot and wins.
    const tableStart = new Uint32Array(TABLE_COUNT + 1);
    let maxTable = 0;
    for (let t = 0; t < TABLE_COUNT; t++) {
      const n = tableCounts[t] as number;
      tableStart[t + 1] = (tableStart[t] as number) + n;
      if (n > maxTable) maxTable = n;
    }
    const next = tableStart.slice(0, TABLE_COUNT);
    const order = new Uint32Array(count);
    for (let r = 0; r < count; r++) {
      const t = (this.hashes[r] as number) & 0xff;
      order[next[t]++] = r;
    }
    const header = Buffer.alloc(HEADER_BYTES);
    // One table's slots: hash and position interleaved; position 0 marks an empty slot
    // (no record can start inside the header).
    const slots = new Uint32Array(4 * maxTable);
    for (let t = 0; t < TABLE_COUNT; t++) {
      const slotCount = 2 * (tableCounts[t] as number);
      header.writeUInt32LE(this.pos, t * PAIR_BYTES);
      header.writeUInt32LE(slotCount, t * PAIR_BYTES + 4);
      if (slotCount === 0) continue;
      slots.fill(0, 0, 2 * slotCount);
      for (let i = tableStart[t] as number; i < (tableStart[t + 1] as number); i++) {
        const r = order[i] as number;
        const h = this.hashes[r] as number;
        // cdb.txt: start at slot (h >> 8) mod len, then linear probing with wrap-around.
        let where = (h >>> 8) % slotCount;
        while (slots[2 * where + 1] !== 0) {
          if (++where === slotCount) where = 0;
        }
        slots[2 * where] = h;
        slots[2 * where + 1] = this.positions[r] as number;
      }
      for (let s = 0; s < slotCount; s++) {
        this.putUint32Pair(slots[2 * s] as number, slots[2 * s + 1] as number);
      }
      this.pos += slotCount * PAIR_BYTES;
    }
    return header;
  }

  private grow(): void {
    const hashes = new Uint32Array(this.hashes.length * 2);
    hashes.set(this.hashes);
    this.hashes = hashes;
    const positions = new Uint32Array(this.positions.length * 2);
    positions.set(this.positions);
    this.positions = positions;
  }

  private putUint32Pair(a: number, b: number): void {
    if (this.buffered + PAIR_BYTES > WRITE_BUFFER_BYTES) this.flush();
    this.buffer.writeUInt32LE(a, this.buffered);
    this.buffer.writeUInt32LE(b, this.buffered + 4);
    this.buffered += PAIR_BYTES;
  }

  private putBytes(bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      if (this.buffered === WRITE_BUFFER_BYTES) this.flush();
      const n = Math.min(bytes.length - done, WRITE_BUFFER_BYTES - this.buffered);
      this.buffer.set(bytes.subarray(done, done + n), this.buffered);
      this.buffered += n;
      done += n;
    }
  }

  private flush(): void {
    if (this.buffered === 0) return;
    this.pwrite(this.buffer.subarray(0, this.buffered), this.bufferPos);
    this.bufferPos += this.buffered;
    this.buffered = 0;
  }

  /** pwrite(2) all of `bytes` at `position`, looping over short writes. */
  private pwrite(bytes: Uint8Array, position: number): void {
    let done = 0;
    while (done < bytes.length) {
      let n: number;
      try {
        n = writeSync(this.fd as number, bytes, done, bytes.length - done, position + done);
      } catch (err) {
        throw SysError.from(err, 'write', this.path);
      }
      // A regular file never takes 0 bytes unless something is badly wrong: don't spin.
      if (n <= 0) throw new SysError('EIO', 'write', this.path);
      done += n;
    }
  }

  private checkOpen(syscall: string): void {
    if (this.fd === undefined) throw new SysError('EBADF', syscall, this.path);
  }
}
