// The cdb hash function (djb, https://cr.yp.to/cdb/cdb.txt): h = ((h << 5) + h) ^ c from 5381, mod 2^32.

/** cdb.txt: "The hash function ... starts with h = 5381". */
const CDB_HASH_START = 5381;

/**
 * Hashes a key the way cdb (djb's and tinycdb) does, so tables we write are found by them.
 * @param key the key bytes
 * @returns the hash as an unsigned 32-bit integer
 * @example
 * cdbHash(Buffer.from('127.0.0.1')); // same value as tinycdb's cdb_hash()
 */
export function cdbHash(key: Uint8Array): number {
  let h = CDB_HASH_START;
  for (let i = 0; i < key.length; i++) {
    // ((h << 5) + h) may exceed 32 bits as a double; `^` truncates it back to 32 (ToInt32),
    // which is exactly the uint32 wrap-around of the C code, read as signed.
    h = ((h << 5) + h) ^ (key[i] as number);
  }
  return h >>> 0;
}
