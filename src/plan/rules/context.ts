// What every keep rule gets and gives: a read-only view of the image and the
// kept set in, "keep requests" out. The caller keeps each requested path
// (directories whole, following symlinks) and then the ELF closure of it.
import type { ContentSource } from '../../image/content.js';
import { type FileEntry, type FileTree } from '../../image/tree.js';
import { baseName, joinPath } from '../../paths.js';
import type { LanguageSupport } from '../languages/index.js';

export interface RuleContext {
  tree: FileTree;
  content: ContentSource;
  /** The image's environment (PATH, LANG, JAVA_HOME...). */
  env: Map<string, string>;
  /** The runtime user as the config or a --user override names it ("app", "1002:1002", ""). */
  user: string;
  /** The image's VOLUME directories. */
  volumes?: readonly string[];
  /** Paths kept so far (real paths, as the plan stores them). */
  kept: ReadonlySet<string>;
  /** Paths the app touched while traced; without it, every kept path counts as touched. */
  traced?: ReadonlySet<string>;
  /** Languages whose scans run; without it, all of them. */
  languages?: ReadonlySet<string>;
  /** The language table the rules read; without it, the built-in LANGUAGE_TABLE (tests pass a copy with an entry of their own). */
  languageTable?: readonly LanguageSupport[];
}

/** What a language reads in kept files to find the code they load later (12.5). */
export interface Scanner {
  /** Kept files this scanner reads. */
  files: RegExp;
  scan(ctx: RuleContext, path: string, data: Buffer): Promise<KeepRequest[]>;
}

/** What a language's runtime loads by name from its install root, never through DT_NEEDED or a traced path (15.3). */
export interface Runtime {
  /** The runtime's name in reasons ("jvm runtime /usr/lib/jvm/x loads ..."). */
  name: string;
  /** A kept file that means this runtime runs; the match is its install root (JAVA_HOME, prefix). */
  recognise: RegExp;
  /** What the runtime at `home` loads by name; directories are kept whole. */
  loads(ctx: RuleContext, home: string): Promise<Array<{ path: string; why: string }>>;
}

export interface KeepRequest {
  path: string;
  reason: string;
}

export type KeepRule = (ctx: RuleContext) => Promise<KeepRequest[]>;

/** The regular file a path names, after symlinks. */
export function fileAt(tree: FileTree, path: string): FileEntry | undefined {
  const entry = tree.entryAt(path);
  return entry?.type === 'file' ? entry : undefined;
}

/** Bytes of the file a path names (up to `limit`), or undefined when there is none. */
export async function readFileAt(ctx: Pick<RuleContext, 'tree' | 'content'>, path: string, limit?: number): Promise<Buffer | undefined> {
  const entry = fileAt(ctx.tree, path);
  return entry ? ctx.content.read(entry, limit) : undefined;
}

export async function readTextAt(ctx: Pick<RuleContext, 'tree' | 'content'>, path: string): Promise<string | undefined> {
  return (await readFileAt(ctx, path))?.toString('latin1');
}

/** Directories of a PATH-like variable, with a default when it is unset. */
export function searchPath(env: Map<string, string>, name = 'PATH', fallback = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'): string[] {
  return (env.get(name) ?? fallback).split(':').filter((d) => d.startsWith('/'));
}

/** The first executable regular file named `command` on the directories given. */
export function findOnPath(tree: FileTree, dirs: readonly string[], command: string): string | undefined {
  for (const dir of dirs) {
    const candidate = joinPath(dir, command);
    const entry = fileAt(tree, candidate);
    if (entry && (entry.mode & 0o111) !== 0) return candidate;
  }
  return undefined;
}

/** Keep requests without repeated paths (the first reason wins), in a stable order. */
export function dedupe(requests: Iterable<KeepRequest>): KeepRequest[] {
  const seen = new Map<string, KeepRequest>();
  for (const r of requests) if (!seen.has(r.path)) seen.set(r.path, r);
  return [...seen.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

export const lineOf = (text: string, index: number): number => text.slice(0, index).split('\n').length;

/** The first candidate that names a regular file. */
export const existing = (tree: FileTree, candidates: string[]): string | undefined => candidates.find((c) => fileAt(tree, c));

/** Directories of the image matching a pattern, computed once per tree and pattern. */
const dirCache = new WeakMap<FileTree, Map<string, string[]>>();
export function dirsMatching(tree: FileTree, pattern: RegExp): string[] {
  let cache = dirCache.get(tree);
  if (!cache) dirCache.set(tree, (cache = new Map()));
  let dirs = cache.get(pattern.source);
  if (!dirs) {
    dirs = [];
    for (const entry of tree.values()) if (entry.type === 'dir' && pattern.test(entry.path)) dirs.push(entry.path);
    cache.set(pattern.source, dirs.sort());
  }
  return dirs;
}

/** The paths of a directory's entries. */
export const childPaths = (tree: FileTree, dir: string): string[] => tree.children(dir).map((n) => joinPath(dir, n));

/** Directories under `root` whose name matches. */
export const dirsNamed = (tree: FileTree, root: string, name: RegExp): string[] =>
  tree.get(root)?.type === 'dir' ? [...tree.descendants(root)].filter((p) => name.test(baseName(p)) && tree.get(p)?.type === 'dir') : [];
