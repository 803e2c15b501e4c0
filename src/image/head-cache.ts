// The keep plan looks at the first bytes of thousands of files (ELF headers,
// shebangs, script text), each rule for its own reason and at its own size.
// Read through the layer helper, every look is a request; this cache reads a
// file's head once, serves every smaller look from memory, and can be filled
// ahead, while the app is still being traced.
import type { ImageSource } from './content.js';
import type { FileEntry } from './tree.js';

/** The bytes of a file kept in memory: an ELF header with its program headers and interpreter, a script's first lines. */
export const HEAD_BYTES = 1024;
/**
 * Heads kept at most, by all the caches of the process (a fleet builds several
 * images at once): beyond it (images of millions of files) reads go to the image again.
 */
const BUDGET_BYTES = 64 << 20;
let cachedInProcess = 0;
/** Heads asked for at once by prefetch: its requests never keep the plan's waiting long. */
const PREFETCH_BATCH = 256;

export interface HeadCache {
  /** Reads the heads of `entries` ahead, until they are all read or `signal` aborts. */
  prefetch(entries: FileEntry[], signal: AbortSignal): Promise<void>;
}

export function withHeadCache<T extends ImageSource>(source: T): T & HeadCache {
  const heads = new Map<number, Promise<Buffer>>();
  /** The heads read so far, for a look that need not wait a turn of the event loop. */
  const readHeads = new Map<number, Buffer>();
  let cached = 0;
  const head = (entry: FileEntry): Promise<Buffer> | undefined => {
    let found = heads.get(entry.inode);
    if (!found && cachedInProcess < BUDGET_BYTES) {
      const length = Math.min(entry.size, HEAD_BYTES);
      cached += length;
      cachedInProcess += length;
      const reading = source.read(entry, length);
      heads.set(entry.inode, (found = reading));
      reading.then((bytes) => heads.get(entry.inode) === reading && readHeads.set(entry.inode, bytes), () => {});
      // A failed read is not remembered: the next reader asks again and gets the error itself.
      reading.catch(() => {
        if (heads.get(entry.inode) !== reading) return; // disposed meanwhile: nothing to give back
        heads.delete(entry.inode);
        cached -= length;
        cachedInProcess -= length;
      });
    }
    return found;
  };
  return {
    ...source,
    read(entry, limit = Infinity, offset = 0) {
      const end = Math.min(entry.size, offset + limit);
      const cachedHead = entry.type === 'file' && end <= HEAD_BYTES ? head(entry) : undefined;
      return cachedHead ? cachedHead.then((bytes) => bytes.subarray(offset, end)) : source.read(entry, limit, offset);
    },
    headNow(entry, limit) {
      const bytes = entry.type === 'file' && limit <= HEAD_BYTES ? readHeads.get(entry.inode) : undefined;
      return bytes && bytes.subarray(0, Math.min(limit, entry.size));
    },
    async prefetch(entries, signal) {
      for (let at = 0; at < entries.length && !signal.aborted && cachedInProcess < BUDGET_BYTES; at += PREFETCH_BATCH) {
        await Promise.allSettled(entries.slice(at, at + PREFETCH_BATCH).filter((e) => e.type === 'file' && e.size > 0).map(head));
      }
    },
    async [Symbol.asyncDispose]() {
      heads.clear();
      readHeads.clear();
      cachedInProcess -= cached;
      cached = 0;
      await source[Symbol.asyncDispose]();
    },
  };
}
