// The tar headers of image layers, kept between runs. Reading a layer's
// tar-split record is most of opening an image through its layer directories
// (the Debian base layer's 9,555 headers: 260 ms of a fresh process's main
// thread, read back from here in 40 ms), and a layer never changes: its diff ID
// is the digest of the very tar its headers come from. Images on one machine
// share their base layers, so every build after the first finds them here.
// Anything wrong with an entry (unreadable, another format, another layer)
// makes it a miss: the record is read again and the entry written anew.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { TarRecord } from './tar.js';

const FORMAT = 'slim-layer-headers/1';
/** The cache stays under this many bytes: the entries used longest ago go first. */
const LIMIT_BYTES = 256 << 20;

/** Where layers' headers are kept: $SLIM_CACHE_DIR/layers (set empty: nowhere), else the user's cache directory. */
export function layerCacheDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const root = env.SLIM_CACHE_DIR ?? join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'slim');
  return root ? join(root, 'layers') : undefined;
}

type Encoded = [string, TarRecord['header']['type'], number, number, number, number, number, string, number, number, string, string, Array<[string, string]>, number];

const encode = ({ header: h, dataOffset }: TarRecord): Encoded =>
  [h.name, h.type, h.mode, h.uid, h.gid, h.size, h.mtime, h.linkname, h.devmajor, h.devminor, h.uname, h.gname, [...h.xattrs].map(([k, v]) => [k, v.toString('base64')]), dataOffset];

const decode = ([name, type, mode, uid, gid, size, mtime, linkname, devmajor, devminor, uname, gname, xattrs, dataOffset]: Encoded): TarRecord => ({
  header: { name, type, mode, uid, gid, size, mtime, linkname, devmajor, devminor, uname, gname, xattrs: new Map(xattrs.map(([k, v]) => [k, Buffer.from(v, 'base64')])) },
  dataOffset,
});

/**
 * The headers of the layer `diffId`, from the cache in `dir`, else from `read` (then kept
 * for next time). Names are byte strings (a char per byte); JSON carries them as they are.
 */
export async function cachedLayerHeaders(dir: string | undefined, diffId: string, read: () => Promise<TarRecord[]>, limitBytes = LIMIT_BYTES): Promise<TarRecord[]> {
  if (!dir || !/^sha256:[0-9a-f]{64}$/.test(diffId)) return read();
  const file = join(dir, `${diffId.slice(7)}.json`);
  try {
    const kept = JSON.parse(readFileSync(file, 'utf8')) as { format: string; diffId: string; records: Encoded[] };
    if (kept.format === FORMAT && kept.diffId === diffId && Array.isArray(kept.records)) {
      const now = new Date();
      utimesSync(file, now, now);
      return kept.records.map(decode);
    }
  } catch {
    // a miss
  }
  const records = await read();
  try {
    mkdirSync(dir, { recursive: true });
    const partial = `${file}.${process.pid}.partial`;
    writeFileSync(partial, JSON.stringify({ format: FORMAT, diffId, records: records.map(encode) }));
    renameSync(partial, file);
    keepUnder(dir, limitBytes);
  } catch {
    // A cache that cannot be written (a read-only home) costs the next run the read, nothing more.
  }
  return records;
}

/** Empties the cache in `dir` (slim prune --cache); says how many entries went. */
export function clearLayerCache(dir: string | undefined): number {
  if (!dir) return 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) rmSync(join(dir, name), { force: true });
  return names.length;
}

function keepUnder(dir: string, limitBytes: number): void {
  const entries = readdirSync(dir).map((name) => {
    const { size, mtimeMs } = statSync(join(dir, name));
    return { path: join(dir, name), size, mtimeMs };
  });
  let total = entries.reduce((sum, e) => sum + e.size, 0);
  for (const entry of entries.sort((a, b) => a.mtimeMs - b.mtimeMs)) {
    if (total <= limitBytes) break;
    rmSync(entry.path, { force: true });
    total -= entry.size;
  }
}
