// The flattened file system of an image: layers applied oldest first, as the
// OCI layer spec says (whiteouts, opaque directories, hard links across layers).
// Paths are absolute byte strings ("/usr/bin/python3"); "/" is the root.
import { SlimError } from '../errors.js';
import { baseName, joinPath, parentOf, showPath } from '../paths.js';
import { NO_XATTRS, type EntryType, type TarHeader, type TarRecord } from './tar.js';
import { loopTurns } from '../turns.js';

/** Entries applied between pauses of applyLayerInTurns. */
const PAUSE_EVERY = 256;

export type FileType = Exclude<EntryType, 'hardlink'>;

export interface FileEntry {
  path: string;
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  /** Symlink target, as stored. */
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs: ReadonlyMap<string, Buffer>;
  /** Index of the layer the entry (its metadata) comes from. */
  layer: number;
  /** Entries with the same inode are hard links of one file. */
  inode: number;
  /** Where a regular file's bytes are in a spooled layer tar (used by the docker save source only). */
  content?: { layer: number; offset: number };
}

/** Bytes a layer carries that a later layer overwrote or deleted. */
export interface Waste {
  layer: number;
  bytes: number;
  files: number;
}

const WHITEOUT = '.wh.';
const OPAQUE = '.wh..wh..opq';
const MAX_SYMLINK_HOPS = 40;

/** Normalises a tar entry name to an absolute path; rejects names that climb out of the root. */
export function normaliseEntryName(name: string, where: string): string {
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new SlimError(`${where}: entry '${showPath(name)}' climbs out of the image root with '..'`);
    parts.push(part);
  }
  return '/' + parts.join('/');
}

export interface Resolution {
  /** The path after following every symlink, or undefined when a component is missing. */
  path?: string;
  /** Symlinks traversed on the way, in order. */
  via: readonly string[];
  /** The first missing path, when resolution stopped. */
  missing?: string;
  loop?: boolean;
}

export class FileTree {
  private readonly entries = new Map<string, FileEntry>();
  /** Each directory's children as full paths: the very strings that key `entries`, so lookups need no new string. */
  private readonly kids = new Map<string, Set<string>>();
  /** Sorted children, built on first ask and dropped when the directory changes (the plan walks big trees often). */
  private readonly sortedKids = new Map<string, string[]>();
  readonly waste = new Map<number, Waste>();
  /** Odd but tolerated layer contents (the engine accepts them too), for reports. */
  readonly warnings: string[] = [];
  private nextInode = 1;
  /** resolve() answers, asked for again and again by the plan once the layers are applied. */
  private readonly resolutions = new Map<string, Resolution>();

  constructor() {
    this.entries.set('/', { path: '/', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, xattrs: NO_XATTRS, layer: -1, inode: 0 });
    this.kids.set('/', new Set());
  }

  get(path: string): FileEntry | undefined {
    return this.entries.get(path);
  }

  /** The entry a path names after its symlinks are followed, if it names one. */
  entryAt(path: string): FileEntry | undefined {
    const real = this.resolve(path).path;
    return real === undefined ? undefined : this.entries.get(real);
  }

  has(path: string): boolean {
    return this.entries.has(path);
  }

  get size(): number {
    return this.entries.size;
  }

  paths(): IterableIterator<string> {
    return this.entries.keys();
  }

  values(): IterableIterator<FileEntry> {
    return this.entries.values();
  }

  private childPaths(dir: string): string[] {
    let sorted = this.sortedKids.get(dir);
    if (!sorted) {
      sorted = [...(this.kids.get(dir) ?? [])].sort();
      this.sortedKids.set(dir, sorted);
    }
    return sorted;
  }

  /** Names of a directory's children, sorted. */
  children(dir: string): string[] {
    return this.childPaths(dir).map(baseName);
  }

  /** Every path under `dir` (not `dir` itself), depth first, in name order. */
  *descendants(dir: string): Generator<string> {
    const stack = [this.childPaths(dir)];
    const next = [0];
    while (stack.length > 0) {
      const level = stack.length - 1;
      const child = stack[level]![next[level]!++];
      if (child === undefined) {
        stack.pop();
        next.pop();
        continue;
      }
      yield child;
      if (this.entries.get(child)?.type === 'dir') {
        stack.push(this.childPaths(child));
        next.push(0);
      }
    }
  }

  private changed(dir: string): void {
    this.sortedKids.delete(dir);
    this.resolutions.clear();
  }

  private countWaste(entry: FileEntry): void {
    if (entry.type !== 'file' || entry.layer < 0) return;
    const w = this.waste.get(entry.layer) ?? { layer: entry.layer, bytes: 0, files: 0 };
    w.bytes += entry.size;
    w.files += 1;
    this.waste.set(entry.layer, w);
  }

  /** Removes a path and everything under it (a later layer deleted or replaced it). */
  private remove(path: string): void {
    const entry = this.entries.get(path);
    if (!entry) return;
    if (entry.type === 'dir') for (const child of [...this.childPaths(path)]) this.remove(child);
    this.countWaste(entry);
    this.entries.delete(path);
    this.kids.delete(path);
    this.changed(path);
    this.kids.get(parentOf(path))?.delete(path);
    this.changed(parentOf(path));
  }

  private ensureParents(path: string, layer: number): void {
    const parent = parentOf(path);
    const existing = this.entries.get(parent);
    if (existing?.type === 'dir') return;
    if (existing) this.remove(parent);
    this.ensureParents(parent, layer);
    // Layers may omit parent directories; the engine creates them like this.
    this.put({ path: parent, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 0, xattrs: NO_XATTRS, layer, inode: this.nextInode++ });
  }

  private put(entry: FileEntry): void {
    this.entries.set(entry.path, entry);
    this.kids.get(parentOf(entry.path))!.add(entry.path);
    this.changed(parentOf(entry.path));
    if (entry.type === 'dir' && !this.kids.has(entry.path)) this.kids.set(entry.path, new Set());
  }

  /** Applies one layer's entries (in archive order) on top of the tree. */
  applyLayer(layer: number, records: Iterable<TarRecord>, where: string): void {
    for (const _ of this.applying(layer, records, where));
  }

  /** applyLayer, giving the event loop its turns (a base layer's 10,000 entries take 0.1-0.2 s). */
  async applyLayerInTurns(layer: number, records: Iterable<TarRecord>, where: string): Promise<void> {
    const turn = loopTurns();
    for (const _ of this.applying(layer, records, where)) if (turn.due()) await turn();
  }

  /** The work of applyLayer, pausing every few hundred entries. */
  private *applying(layer: number, records: Iterable<TarRecord>, where: string): Generator<void> {
    const entries: Array<TarRecord & { path: string }> = [];
    for (const record of records) {
      entries.push({ ...record, path: normaliseEntryName(record.header.name, where) });
      if (entries.length % PAUSE_EVERY === 0) yield;
    }
    const seen = new Set<string>();
    for (const { header, path } of entries) {
      if (header.name.startsWith('/')) this.warnings.push(`${where}: entry '${showPath(header.name)}' has an absolute name; read as '${showPath(path)}'`);
      if (seen.has(path) && header.type !== 'dir') this.warnings.push(`${where}: '${showPath(path)}' appears more than once; the last one wins`);
      seen.add(path);
    }
    // Whiteouts and opaque markers hide lower layers only, so they go first.
    for (const { path } of entries) {
      const name = baseName(path);
      if (name === OPAQUE) {
        const dir = parentOf(path);
        for (const childPath of [...this.childPaths(dir)]) {
          if (this.entries.get(childPath)!.layer < layer) this.remove(childPath);
        }
      } else if (name.startsWith(WHITEOUT)) {
        const hidden = joinPath(parentOf(path), name.slice(WHITEOUT.length));
        if (!this.entries.has(hidden)) this.warnings.push(`${where}: whiteout of '${showPath(hidden)}', which no lower layer has`);
        this.remove(hidden);
      }
    }
    yield;
    let done = 0;
    for (const { header, dataOffset, path } of entries) {
      if (++done % PAUSE_EVERY === 0) yield;
      const name = baseName(path);
      if (name.startsWith(WHITEOUT) || path === '/') {
        if (path === '/') this.mergeRoot(header, layer);
        continue;
      }
      const existing = this.entries.get(path);
      if (existing && !(existing.type === 'dir' && header.type === 'dir')) this.remove(path);
      this.ensureParents(path, layer);
      if (header.type === 'hardlink') {
        const targetPath = normaliseEntryName(header.linkname, where);
        const target = this.entries.get(targetPath);
        if (!target || target.type === 'dir') {
          throw new SlimError(`${where}: hard link '${showPath(path)}' points to '${showPath(targetPath)}', which is ${target ? 'a directory' : 'not in the image'}`);
        }
        this.put({ ...target, path, layer });
        continue;
      }
      const entry: FileEntry = {
        path,
        type: header.type,
        mode: header.mode,
        uid: header.uid,
        gid: header.gid,
        size: header.type === 'file' ? header.size : 0,
        mtime: header.mtime,
        xattrs: header.xattrs,
        layer,
        inode: existing?.type === 'dir' ? existing.inode : this.nextInode++,
      };
      if (header.type === 'symlink') entry.linkTarget = header.linkname;
      if (header.type === 'char' || header.type === 'block') {
        entry.devMajor = header.devmajor;
        entry.devMinor = header.devminor;
      }
      if (header.type === 'file') entry.content = { layer, offset: dataOffset };
      this.put(entry);
    }
  }

  private mergeRoot(header: TarHeader, layer: number): void {
    const root = this.entries.get('/')!;
    Object.assign(root, { mode: header.mode, uid: header.uid, gid: header.gid, mtime: header.mtime, xattrs: header.xattrs, layer });
  }

  /**
   * Follows symlinks through the tree the way the kernel would inside the
   * container: absolute targets start at the image root, '..' stops at the
   * root, and nothing ever escapes it.
   */
  resolve(path: string, followLast = true): Resolution {
    const key = followLast ? path : `\0${path}`;
    let found = this.resolutions.get(key);
    if (!found) this.resolutions.set(key, (found = this.follow(path, followLast)));
    return found;
  }

  private follow(path: string, followLast: boolean): Resolution {
    // Through its parent's resolution (memoised), a path costs one lookup: the package index
    // resolves every path dpkg lists, tens of thousands in a handful of directories. A followed
    // symlink at the end is walked whole, so that the hops count from the root as the kernel's do.
    const cut = path.lastIndexOf('/');
    const name = path.slice(cut + 1);
    if (cut < 0 || name === '' || name === '.' || name === '..') return this.walk(path, followLast);
    const parent = this.resolve(cut === 0 ? '/' : path.slice(0, cut));
    if (parent.path === undefined) return parent;
    const next = joinPath(parent.path, name);
    if (this.entries.get(parent.path)!.type !== 'dir') return { via: parent.via, missing: next };
    const entry = this.entries.get(next);
    if (!entry) return { via: parent.via, missing: next };
    if (entry.type === 'symlink' && followLast) return this.walk(path, followLast);
    return { path: next, via: parent.via };
  }

  private walk(path: string, followLast: boolean): Resolution {
    const via: string[] = [];
    let pending = path.split('/').filter((p) => p !== '' && p !== '.');
    let current = '/';
    let hops = 0;
    while (pending.length > 0) {
      const part = pending.shift()!;
      if (part === '..') {
        current = parentOf(current);
        continue;
      }
      const next = joinPath(current, part);
      const entry = this.entries.get(next);
      if (!entry) return { via, missing: next };
      if (entry.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++hops > MAX_SYMLINK_HOPS) return { via, missing: next, loop: true };
        via.push(next);
        const target = entry.linkTarget ?? '';
        pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
        if (target.startsWith('/')) current = '/';
        continue;
      }
      if (pending.length > 0 && entry.type !== 'dir') return { via, missing: joinPath(next, pending[0]!) };
      current = next;
    }
    return { path: current, via };
  }
}
