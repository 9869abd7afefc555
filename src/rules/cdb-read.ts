// Looks keys up in a cdb file with a few small pread(2)s per lookup, every read bounded by the file size.
import { closeSync, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { bytesFromText, exactArg } from '../env/env-bytes';
import { CdbFormatError, SysError } from '../errors';
import { cdbHash } from './cdb-hash';

/** cdb.txt: 256 (pos, len) pairs of uint32 LE at the start of the file. */
const HEADER_BYTES = 2048;
/** A header entry, a hash-table slot and a record header are all two uint32 LE. */
const PAIR_BYTES = 8;
/** Slots read per pread: most probes end within the first two or three slots. */
const SLOTS_PER_READ = 8;
/** Bytes read past the key with the record header, so short data needs no extra pread. */
const RECORD_PREFETCH_BYTES = 256;

/**
 * An open cdb file. Lookups pread the header entry, the slots and the record; nothing else is
 * cached, so the reader holds only an fd and a few small reused buffers.
 * String keys are encoded as UTF-8 (rule keys are ASCII).
 * @example
 * const db = CdbReader.open('/etc/rules.cdb');
 * try { const data = db.find('127.0.0.1'); } finally { db.close(); }
 */
export class CdbReader {
  private fd: number | undefined;
  /** Size of the file when opened; every read is checked against it. */
  readonly size: number;
  private readonly pairBuf = Buffer.alloc(PAIR_BYTES);
  private readonly slotBuf = Buffer.alloc(SLOTS_PER_READ * PAIR_BYTES);
  private recordBuf = Buffer.alloc(PAIR_BYTES + 64 + RECORD_PREFETCH_BYTES);

  private constructor(readonly path: string, fd: number, size: number) {
    this.fd = fd;
    this.size = size;
  }

  /**
   * Opens a cdb file for lookups.
   * @param path the cdb file
   * @returns an open reader; call `close()` when done
   * @throws {SysError} when the file cannot be opened or stat'ed (ENOENT, EACCES, ...)
   * @throws {CdbFormatError} when the file is shorter than the 2048-byte header
   */
  static open(path: string): CdbReader {
    const { fd, size, identity } = openCdbFile(path);
    const reader = new CdbReader(path, fd, size);
    identities.set(reader, identity);
    return reader;
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.fd === undefined;
  }

  /**
   * Finds the first record with this key (the first one added, for duplicates).
   * @param key the key; a string is encoded as UTF-8
   * @returns a copy of the record's data, or undefined when the key is absent
   * @throws {CdbFormatError} when a pointer in the file leads outside it
   * @throws {SysError} when a read fails, or the reader is closed (`EBADF`)
   */
  find(key: Uint8Array | string): Buffer | undefined {
    return this.lookup(toBytes(key), false)[0];
  }

  /**
   * Finds every record with this key, in the order they were added.
   * @param key the key; a string is encoded as UTF-8
   * @returns copies of the records' data; empty when the key is absent
   * @throws {CdbFormatError} when a pointer in the file leads outside it
   * @throws {SysError} when a read fails, or the reader is closed (`EBADF`)
   */
  findAll(key: Uint8Array | string): Buffer[] {
    return this.lookup(toBytes(key), true);
  }

  /** Closes the file. Safe to call more than once. */
  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    try {
      closeSync(fd);
    } catch {
      // read-only fd: nothing can be lost by a failed close
    }
  }

  /** cdb.txt lookup: header entry, then linear probing from (h >> 8) mod len; at most len slots. */
  private lookup(key: Uint8Array, all: boolean): Buffer[] {
    const found: Buffer[] = [];
    const fd = this.fd;
    if (fd === undefined) throw new SysError('EBADF', 'read', this.path);
    // A key longer than the file cannot be in it (and must not size a buffer).
    if (key.length > this.size) return found;
    const h = cdbHash(key);
    this.pread(fd, this.pairBuf, PAIR_BYTES, (h & 0xff) * PAIR_BYTES);
    const tablePos = this.pairBuf.readUInt32LE(0);
    const slotCount = this.pairBuf.readUInt32LE(4);
    if (slotCount === 0) return found;
    if (tablePos + slotCount * PAIR_BYTES > this.size) {
      throw new CdbFormatError(`hash table ${h & 0xff} lies outside the file`, this.path);
    }
    let slot = (h >>> 8) % slotCount;
    let left = slotCount;
    while (left > 0) {
      // Read a run of slots up to the table's end (probing wraps to slot 0 after it).
      const run = Math.min(SLOTS_PER_READ, left, slotCount - slot);
      this.pread(fd, this.slotBuf, run * PAIR_BYTES, tablePos + slot * PAIR_BYTES);
      for (let i = 0; i < run; i++) {
        const recordPos = this.slotBuf.readUInt32LE(i * PAIR_BYTES + 4);
        // An empty slot ends the probe sequence: the key is not (or no longer) in the table.
        if (recordPos === 0) return found;
        if (this.slotBuf.readUInt32LE(i * PAIR_BYTES) !== h) continue;
        const data = this.readRecord(fd, recordPos, key);
        if (data !== undefined) {
          found.push(data);
          if (!all) return found;
        }
      }
      left -= run;
      slot += run;
      if (slot === slotCount) slot = 0;
    }
    return found;
  }

  /** Reads the record at `pos`; returns its data when its key equals `key`. */
  private readRecord(fd: number, pos: number, key: Uint8Array): Buffer | undefined {
    if (pos + PAIR_BYTES > this.size) {
      throw new CdbFormatError(`record pointer ${pos} lies outside the file`, this.path);
    }
    // One pread for the record header, the key and (often) the whole data.
    const want = Math.min(PAIR_BYTES + key.length + RECORD_PREFETCH_BYTES, this.size - pos);
    if (this.recordBuf.length < want) this.recordBuf = Buffer.alloc(want);
    const buf = this.recordBuf;
    this.pread(fd, buf, want, pos);
    const keyLength = buf.readUInt32LE(0);
    const dataLength = buf.readUInt32LE(4);
    const dataPos = pos + PAIR_BYTES + keyLength;
    if (dataPos + dataLength > this.size) {
      throw new CdbFormatError(`record at ${pos} runs past the end of the file`, this.path);
    }
    if (keyLength !== key.length) return undefined;
    // keyLength fits in `want`: the record is inside the file, and want covers the key length.
    if (!buf.subarray(PAIR_BYTES, PAIR_BYTES + keyLength).equals(key)) return undefined;
    const data = Buffer.allocUnsafe(dataLength);
    const prefetched = want - PAIR_BYTES - keyLength;
    if (dataLength <= prefetched) {
      buf.copy(data, 0, PAIR_BYTES + keyLength, PAIR_BYTES + keyLength + dataLength);
    } else {
      this.pread(fd, data, dataLength, dataPos);
    }
    return data;
  }

  /** pread(2) exactly `length` bytes at `position`; a short read means the file shrank. */
  private pread(fd: number, buf: Buffer, length: number, position: number): void {
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        n = readSync(fd, buf, done, length - done, position + done);
      } catch (err) {
        throw SysError.from(err, 'read', this.path);
      }
      if (n === 0) {
        throw new CdbFormatError(`unexpected end of file at ${position + done}`, this.path);
      }
      done += n;
    }
  }
}

/** What identifies one version of a file (the fields cdbReaderFor compares). */
interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
}

// Plain-number stats: the bigint form costs ~2 us more per call here. ino is exact (< 2^53),
// and while our reader holds the old file open its inode cannot be reused, so a rename(2)
// over it always shows as a new ino; mtimeMs keeps sub-microsecond resolution for rewrites.
function fileIdentity(st: Stats): FileIdentity {
  return { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

function sameFile(a: FileIdentity | undefined, b: Stats): boolean {
  return (
    a !== undefined && a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs
  );
}

/** Opens `path` read-only and checks it can hold a cdb header; closes the fd on failure. */
function openCdbFile(path: string): { fd: number; size: number; identity: FileIdentity } {
  let fd: number;
  try {
    fd = openSync(exactArg(path), 'r');
  } catch (err) {
    throw SysError.from(err, 'open', path);
  }
  let st: Stats;
  try {
    st = fstatSync(fd);
  } catch (err) {
    closeSync(fd);
    throw SysError.from(err, 'stat', path);
  }
  const size = st.size;
  if (size < HEADER_BYTES) {
    closeSync(fd);
    throw new CdbFormatError(`file is shorter than the ${HEADER_BYTES}-byte cdb header`, path);
  }
  return { fd, size, identity: fileIdentity(st) };
}

function toBytes(key: Uint8Array | string): Uint8Array {
  return typeof key === 'string' ? bytesFromText(key) : key;
}

/** The identity (fstat of the opened fd) of each reader, for cdbReaderFor's revalidation. */
const identities = new WeakMap<CdbReader, FileIdentity>();

/** Readers kept open by cdbReaderFor, by path as given. */
const openReaders = new Map<string, CdbReader>();

/**
 * The reader for `path`, kept open between calls but revalidated on every call with one stat(2):
 * if the file was replaced (dev/ino/size/mtime changed, e.g. tcprules' atomic rename) it is
 * reopened. Do not close the returned reader; the next call would reopen it anyway.
 * @param path the cdb file, as the server was given it
 * @returns an open reader for the file now at `path`
 * @throws {SysError} when stat or open fails (ENOENT when the file is gone)
 * @throws {CdbFormatError} when the new file is shorter than the header
 * @example
 * const data = cdbReaderFor('/etc/tcp.smtp.cdb').find('127.0.0.1');
 */
export function cdbReaderFor(path: string): CdbReader {
  let st: Stats;
  try {
    st = statSync(exactArg(path));
  } catch (err) {
    dropReader(path);
    throw SysError.from(err, 'stat', path);
  }
  const cached = openReaders.get(path);
  if (cached !== undefined && !cached.closed && sameFile(identities.get(cached), st)) return cached;
  dropReader(path);
  // The reader's identity comes from fstat of its own fd, so a replacement racing with this
  // open shows up as a change on the next call rather than being hidden.
  const reader = CdbReader.open(path);
  openReaders.set(path, reader);
  return reader;
}

function dropReader(path: string): void {
  const cached = openReaders.get(path);
  if (cached === undefined) return;
  openReaders.delete(path);
  cached.close();
}
