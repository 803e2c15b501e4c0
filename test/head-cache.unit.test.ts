// The head cache: every look at a file's first bytes after the first is served
// from memory; reads past the head, failed reads and aborted prefetches are not.
// And a plan's read memory: each range of a file read once, within a budget.
import { describe, expect, it } from 'vitest';
import type { ImageSource } from '../src/image/content.js';
import { HEAD_BYTES, withHeadCache } from '../src/image/head-cache.js';
import { readEachOnce } from '../src/image/read-once.js';
import type { FileEntry } from '../src/image/tree.js';
import { FileTree } from '../src/image/tree.js';

const file = (inode: number, size: number): FileEntry => ({ path: `/f${inode}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0, xattrs: new Map(), layer: 0, inode });

/** A source whose bytes are their own offsets (mod 251), counting the reads that reach it. */
function countingSource(fail = new Set<number>()) {
  const reads: Array<{ inode: number; limit: number; offset: number }> = [];
  const disposed: boolean[] = [];
  const source: ImageSource = {
    ref: 'test', id: 'sha256:test', config: {} as ImageSource['config'], tree: new FileTree(), via: 'layer directories',
    async read(entry, limit = Infinity, offset = 0) {
      reads.push({ inode: entry.inode, limit, offset });
      if (fail.has(entry.inode)) throw new Error(`cannot read ${entry.path}`);
      const length = Math.max(0, Math.min(entry.size - offset, limit));
      return Buffer.from(Array.from({ length }, (_, i) => (offset + i) % 251));
    },
    files: () => { throw new Error('not used'); },
    async [Symbol.asyncDispose]() {
      disposed.push(true);
    },
  };
  return { source, reads, disposed };
}

describe('head cache', () => {
  it('reads a head once for every look inside it, with the right bytes', async () => {
    const { source, reads } = countingSource();
    const cached = withHeadCache(source);
    const big = file(1, 10_000);
    const [a, b, c] = await Promise.all([cached.read(big, 64), cached.read(big, 256), cached.read(big, 100, 900)]);
    expect(reads).toEqual([{ inode: 1, limit: HEAD_BYTES, offset: 0 }]);
    expect([...a]).toEqual(Array.from({ length: 64 }, (_, i) => i));
    expect(b.length).toBe(256);
    expect([...c]).toEqual(Array.from({ length: 100 }, (_, i) => (900 + i) % 251));
  });

  it('passes reads beyond the head through, and reads a small file whole from its head', async () => {
    const { source, reads } = countingSource();
    const cached = withHeadCache(source);
    const big = file(1, 10_000);
    expect((await cached.read(big, 100, HEAD_BYTES - 50)).length).toBe(100);
    expect((await cached.read(big)).length).toBe(10_000);
    expect(reads.map((r) => r.offset)).toEqual([HEAD_BYTES - 50, 0]);
    const small = file(2, 300);
    await cached.read(small, 10);
    expect((await cached.read(small)).length).toBe(300);
    expect(reads.filter((r) => r.inode === 2)).toHaveLength(1);
  });

  it('does not remember a failed read: the next look asks again and gets the error', async () => {
    const { source, reads } = countingSource(new Set([3]));
    const cached = withHeadCache(source);
    await cached.prefetch([file(3, 50)], new AbortController().signal);
    await expect(cached.read(file(3, 50), 10)).rejects.toThrow(/cannot read/);
    expect(reads).toHaveLength(2);
  });

  it('prefetches regular files until aborted', async () => {
    const { source, reads } = countingSource();
    const cached = withHeadCache(source);
    const files = Array.from({ length: 1000 }, (_, i) => file(i + 10, 100));
    const dir: FileEntry = { ...file(5, 0), type: 'dir' };
    await cached.prefetch([dir, file(6, 0), ...files.slice(0, 10)], new AbortController().signal);
    expect(reads.map((r) => r.inode)).toEqual(files.slice(0, 10).map((f) => f.inode));
    const stop = new AbortController();
    stop.abort();
    await cached.prefetch(files, stop.signal);
    expect(reads).toHaveLength(10);
    await cached.read(files[0]!, 5);
    expect(reads).toHaveLength(10);
  });

  it('hands out a head it has read without waiting, through a plan\'s read memory too, and nothing it has not', async () => {
    const { source, reads } = countingSource(new Set([4]));
    const cached = withHeadCache(source);
    const [read, unread, failed, small] = [file(1, 10_000), file(2, 10_000), file(4, 100), file(5, 3)];
    expect(cached.headNow!(read, 64)).toBeUndefined();
    await cached.prefetch([read, failed, small], new AbortController().signal);
    const once = readEachOnce(cached);
    expect([...once.headNow!(read, 4)!]).toEqual([0, 1, 2, 3]);
    expect(once.headNow!(small, 64)!.length).toBe(3);
    expect(once.headNow!(read, HEAD_BYTES + 1)).toBeUndefined();
    expect(once.headNow!(unread, 4)).toBeUndefined();
    expect(once.headNow!(failed, 4)).toBeUndefined();
    expect(reads).toHaveLength(3);
    await cached[Symbol.asyncDispose]();
    expect(cached.headNow!(read, 4)).toBeUndefined();
  });

  it('disposes its source with it, and reads anew after', async () => {
    const { source, reads, disposed } = countingSource();
    const cached = withHeadCache(source);
    await cached.read(file(1, 100), 10);
    await cached[Symbol.asyncDispose]();
    expect(disposed).toEqual([true]);
    await cached.read(file(1, 100), 10);
    expect(reads).toHaveLength(2);
  });
});

describe('a plan reads each range once', () => {
  it('serves a range read before from memory, hard links included, and reads other ranges', async () => {
    const { source, reads } = countingSource();
    const once = readEachOnce(source);
    const whole = await once.read(file(1, 5000));
    expect(await once.read(file(1, 5000))).toBe(whole);
    expect(await once.read({ ...file(1, 5000), path: '/hard-link' })).toBe(whole);
    await once.read(file(1, 5000), 100, 200);
    await once.read(file(1, 5000), 100, 200);
    expect(reads).toEqual([{ inode: 1, limit: Infinity, offset: 0 }, { inode: 1, limit: 100, offset: 200 }]);
  });

  it('does not remember a failed read, nor past its budget', async () => {
    const fail = new Set([2]);
    const { source, reads } = countingSource(fail);
    const once = readEachOnce(source, 1000);
    await expect(once.read(file(2, 10))).rejects.toThrow(/cannot read/);
    fail.clear();
    await once.read(file(2, 10));
    await once.read(file(2, 10));
    expect(reads.filter((r) => r.inode === 2)).toHaveLength(2);
    await once.read(file(3, 990));
    await once.read(file(4, 10));
    await once.read(file(4, 10));
    expect(reads.filter((r) => r.inode === 4)).toHaveLength(2);
  });
});
