// The tar headers of image layers, kept between runs. Reading a layer's
// tar-split record is most of opening an image through its layer directories
// (the Debian base layer's 9,555 headers: 260 ms of a fresh process's main
// thread, read back from here in 75 ms), and a layer never changes: its diff ID
// is the digest of the very tar its headers come from. Images on one machine
// share their base layers, so every build after the first finds them here.
// Anything wrong with an entry (unreadable, another format, another layer)
// makes it a miss: the record is read again and the entry written anew.
import { mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loopTurns } from '../turns.js';
import { NO_XATTRS, type TarRecord } from './tar.js';

const FORMAT = 'slim-layer-headers/2';
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
  header: { name, type, mode, uid, gid, size, mtime, linkname, devmajor, devminor, uname, gname, xattrs: xattrs.length > 0 ? new Map(xattrs.map(([k, v]) => [k, Buffer.from(v, 'base64')])) : NO_XATTRS },
  dataOffset,
});

/**
 * The headers of the layer `diffId`, from the cache in `dir`, else from `read` (then kept
 * for next time). Names are byte strings (a char per byte); JSON carries them as they are.
 */
export async function cachedLayerHeaders(dir: string | undefined, diffId: string, read: () => Promise<TarRecord[]>, limitBytes = LIMIT_BYTES): Promise<TarRecord[]> {
  if (!dir || !/^sha256:[0-9a-f]{64}$/.test(diffId)) return read();
  const file = join(dir, `${diffId.slice(7)}.json`);
  const kept = await readEntry(file, diffId);
  if (kept) return kept;
  const records = await read();
  const partial = `${file}.${process.pid}.partial`;
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(partial, [JSON.stringify({ format: FORMAT, diffId, count: records.length }), ...records.map((r) => JSON.stringify(encode(r)))].join('\n'));
    renameSync(partial, file);
    keepUnder(dir, limitBytes);
  } catch {
    // A cache that cannot be written (a read-only home, a full disk) costs the next run the read, nothing more.
    rmSync(partial, { force: true });
  }
  return records;
}

/**
 * An entry's headers, or undefined for a miss. A line a record: they are read a turn of the
 * event loop at a time, as the tar-split record is, while the traced app's readiness is polled.
 */
async function readEntry(file: string, diffId: string): Promise<TarRecord[] | undefined> {
  try {
    const lines = (await readFile(file, 'utf8')).split('\n');
    // The count catches an entry cut at a line's end.
    const head = JSON.parse(lines[0]!) as { format?: string; diffId?: string; count?: number };
    if (head.format !== FORMAT || head.diffId !== diffId || head.count !== lines.length - 1) return undefined;
    const records: TarRecord[] = [];
    const turn = loopTurns();
    for (let i = 1; i < lines.length; i++) {
      records.push(decode(JSON.parse(lines[i]!) as Encoded));
      if (turn.due()) await turn();
    }
    const now = new Date();
    utimesSync(file, now, now);
    return records;
  } catch {
    return undefined;
  }
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
