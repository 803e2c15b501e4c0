// What --strip and the packed-executable warning look at: the kept ELF files.
// An ELF file is an executable (an x bit) or a shared object (named *.so or
// *.so.N); only those are read, so a Python tree of thousands of .py files
// costs nothing here.
import { bytePath, showPath } from '../paths.js';
import type { ContentSource } from '../image/content.js';
import type { FileEntry, FileTree } from '../image/tree.js';
import { globToRegExp } from '../plan/glob.js';
import { isElf } from '../plan/elf.js';
import { packedExecutable, stripDebugSections } from './elf-strip.js';

export interface StrippedFile {
  path: string;
  before: number;
  after: number;
  removed: string[];
}

export interface StrippedKept {
  /** New bytes by inode, for the writer. */
  replaced: Map<number, Buffer>;
  /** One row per stripped file (hard links: their first path), largest saving first. */
  files: StrippedFile[];
  saved: number;
}

const SHARED_OBJECT = /\.so(\.\d+)*$/;

/** Kept regular files that may be ELF, one per inode, in path order. */
function keptElfCandidates(tree: FileTree, kept: Iterable<string>): Array<{ entry: FileEntry; paths: string[] }> {
  const byInode = new Map<number, { entry: FileEntry; paths: string[] }>();
  for (const path of [...kept].sort()) {
    const entry = tree.get(path);
    if (entry?.type !== 'file' || entry.size < 64) continue;
    if ((entry.mode & 0o111) === 0 && !SHARED_OBJECT.test(path)) continue;
    const found = byInode.get(entry.inode);
    if (found) found.paths.push(path);
    else byInode.set(entry.inode, { entry, paths: [path] });
  }
  return [...byInode.values()];
}

/**
 * Strips debug sections from the kept ELF files, except those matching a
 * `noStrip` path or glob (any name of a hard-linked file counts).
 */
export async function stripKept(source: ContentSource, tree: FileTree, kept: Iterable<string>, noStrip: string[] = []): Promise<StrippedKept> {
  const excluded = noStrip.map((p) => globToRegExp(bytePath(p)));
  const replaced = new Map<number, Buffer>();
  const files: StrippedFile[] = [];
  for (const { entry, paths } of keptElfCandidates(tree, kept)) {
    if (paths.some((p) => excluded.some((re) => re.test(p)))) continue;
    if (!isElf(await source.read(entry, 4))) continue;
    const stripped = stripDebugSections(await source.read(entry));
    if (!stripped) continue;
    replaced.set(entry.inode, stripped.data);
    files.push({ path: showPath(paths[0]!), before: entry.size, after: stripped.data.length, removed: stripped.removed });
  }
  files.sort((a, b) => b.before - b.after - (a.before - a.after) || (a.path < b.path ? -1 : 1));
  return { replaced, files, saved: files.reduce((sum, f) => sum + f.before - f.after, 0) };
}

/** Bytes read from an executable's start to find a packer's mark (UPX puts its header right after the program headers). */
const HEAD = 4096;

export const PACKED_WHY = 'it unpacks itself into anonymous memory at every start: slower start-up, and its pages cannot be shared with other processes or dropped and re-read from the page cache, so every copy costs its full size in RAM; the image layer compresses it no better';

/** Kept executables a packer compressed (UPX), with a warning each. */
export async function packedExecutables(source: ContentSource, tree: FileTree, kept: Iterable<string>): Promise<string[]> {
  const warnings: string[] = [];
  for (const { entry, paths } of keptElfCandidates(tree, kept)) {
    if ((entry.mode & 0o111) === 0) continue;
    const head = await source.read(entry, HEAD);
    const packer = isElf(head) ? packedExecutable(head) : undefined;
    if (packer) warnings.push(`${showPath(paths[0]!)} is packed with ${packer}: ${PACKED_WHY}; use the unpacked binary (upx -d)`);
  }
  return warnings;
}
