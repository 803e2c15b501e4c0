// The keep plan in progress: the kept paths with their reasons, and the
// closure every kept path brings along (its parent directories, the symlinks
// on the way, the targets of symlinks, ELF interpreters and libraries, script
// interpreters). Each keep is charged to the rule that asked for it, so the
// plan can say how many bytes each rule added.
import type { ContentSource } from '../image/content.js';
import { type FileEntry, type FileTree } from '../image/tree.js';
import { ELF_HEAD, elfFile, expandOrigin, type ElfInfo } from './elf.js';
import { globBase, globToRegExp, isGlob, literalPath } from './glob.js';
import { DEFAULT_LIBRARY_DIRS, readLdSoConf } from './ldsoconf.js';
import { fileAt, searchPath } from './rules/context.js';
import { ancestors, joinPath, parentOf, showPath } from '../paths.js';

const MAX_REASONS = 3;

/** Rules the closure charges its keeps to. */
export const CLOSURE_RULE = 'ELF and script closure';
export const PARENTS_RULE = 'parents and symlinks';

export interface RuleTotal {
  rule: string;
  paths: number;
  /** Bytes of regular files, hard links counted once. */
  bytes: number;
}

export class Keeper {
  /** Kept path → why (first reasons, most direct first). */
  readonly paths = new Map<string, string[]>();
  readonly unresolved: Array<{ library: string; neededBy: string }> = [];
  /** Files (and package directories, with a trailing slash) static scans have read: scans repeat until nothing new is kept. */
  readonly scanned = new Set<string>();
  /** The rule new keeps are charged to; the phases set it. */
  rule = 'traced';
  private readonly ruleOf = new Map<string, string>();
  private readonly queue: string[] = [];
  private next = 0;
  /** The queue's files whose head and ELF parse were started (a cursor like `next`, ahead of it). */
  private started = 0;
  private readonly examined = new Map<number, Promise<{ head: Buffer; elf?: ElfInfo }>>();
  private readonly searchPath: string[];
  /** The last copy `keptSet` made, and the paths' size and drops it was made at. */
  private keptCopy: { size: number; drops: number; set: ReadonlySet<string> } | undefined;
  private drops = 0;

  constructor(
    readonly tree: FileTree,
    readonly content: ContentSource,
    readonly env: Map<string, string>,
    readonly workdir: string,
    /** Library directories from ld.so.conf, then the defaults. */
    readonly libraryDirs: string[],
  ) {
    this.searchPath = searchPath(env);
  }

  static async create(tree: FileTree, content: ContentSource, env: Map<string, string>, workdir: string): Promise<Keeper> {
    return new Keeper(tree, content, env, workdir, [...new Set([...(await readLdSoConf(tree, content)), ...multiarchDirs(tree), ...DEFAULT_LIBRARY_DIRS])]);
  }

  kept(path: string): boolean {
    return this.paths.has(this.tree.resolve(path).path ?? path);
  }

  keep(path: string, reason: string, rule = this.rule): boolean {
    if (!this.tree.has(path)) return false;
    const reasons = this.paths.get(path);
    if (reasons) {
      if (reasons.length < MAX_REASONS && !reasons.includes(reason)) reasons.push(reason);
      return true;
    }
    this.paths.set(path, [reason]);
    this.ruleOf.set(path, rule);
    this.queue.push(path);
    return true;
  }

  /** Keeps what a path names: the symlinks on the way and the file it reaches. */
  keepNamed(path: string, reason: string, rule = this.rule): string | undefined {
    const resolved = this.tree.resolve(path);
    for (const link of resolved.via) this.keep(link, `symlink on the way to ${showPath(path)}`, PARENTS_RULE);
    if (resolved.path) this.keep(resolved.path, reason, rule);
    return resolved.path;
  }

  /** Keeps a directory whole, but for the subtrees `skip` names. */
  keepTree(dir: string, reason: string, skip?: (path: string) => boolean): void {
    if (!this.keep(dir, reason) || this.tree.get(dir)?.type !== 'dir') return;
    for (const name of this.tree.children(dir)) {
      const child = joinPath(dir, name);
      if (!skip?.(child)) this.keepTree(child, reason, skip);
    }
  }

  /** Keeps what a path names (after symlinks), a directory whole. */
  keepWhole(path: string, reason: string, skip?: (path: string) => boolean): void {
    const real = this.keepNamed(path, reason);
    if (real && this.tree.get(real)?.type === 'dir') this.keepTree(real, reason, skip);
  }

  /** Keeps what a path or glob names, directories whole; returns how many paths it matched. */
  keepMatching(pattern: string, reason: string, skip?: (path: string) => boolean): number {
    const hits = this.matching(pattern).filter((p) => !skip?.(p));
    for (const path of hits) this.keepWhole(path, reason, skip);
    return hits.length;
  }

  matching(pattern: string): string[] {
    const { tree } = this;
    if (!isGlob(pattern)) return tree.has(literalPath(pattern)) ? [literalPath(pattern)] : [];
    const re = globToRegExp(pattern);
    const base = globBase(pattern);
    const start = tree.resolve(base).path ?? base;
    const candidates = start === '/' ? [...tree.paths()] : tree.has(start) ? [start, ...tree.descendants(start)] : [];
    // Globs under a symlinked directory (/lib -> usr/lib) match by the name the user wrote.
    return candidates.map((p) => (start === base ? p : base + p.slice(start.length))).filter((p) => re.test(p));
  }

  /** The program a command names, found on the image's PATH. */
  which(program: string): string | undefined {
    if (program.includes('/')) return program.startsWith('/') ? program : joinPath(this.workdir || '/', program);
    return this.searchPath.map((dir) => joinPath(dir, program)).find((p) => this.tree.resolve(p).path);
  }

  /** Brings in the closure of everything kept so far. A cursor, not shift(): shift() would copy the queue each time. */
  async drain(): Promise<void> {
    while (this.next < this.queue.length) {
      // Start reading every queued file at once: reads issued together share round trips to the image.
      for (; this.started < this.queue.length; this.started++) this.examine(this.tree.get(this.queue[this.started]!)!)?.catch(() => {});
      const path = this.queue[this.next++]!;
      // A directory with its fill of reasons takes no more: the reason is not even spelled out for it.
      for (const dir of ancestors(path)) if ((this.paths.get(dir)?.length ?? 0) < MAX_REASONS) this.keep(dir, `parent of ${showPath(path)}`, PARENTS_RULE);
      const entry = this.tree.get(path)!;
      if (entry.type === 'symlink') this.keepNamed(path, `target of symlink ${showPath(path)}`, PARENTS_RULE);
      await this.closeOver(entry);
    }
  }

  /** Bytes and paths each rule added, largest first. */
  totals(): RuleTotal[] {
    const byRule = new Map<string, RuleTotal>();
    const inodes = new Set<number>();
    for (const path of this.paths.keys()) {
      const rule = this.ruleOf.get(path) ?? PARENTS_RULE;
      const total = byRule.get(rule) ?? { rule, paths: 0, bytes: 0 };
      const entry = this.tree.get(path);
      total.paths++;
      if (entry?.type === 'file' && !inodes.has(entry.inode)) {
        inodes.add(entry.inode);
        total.bytes += entry.size;
      }
      byRule.set(rule, total);
    }
    return [...byRule.values()].sort((a, b) => b.bytes - a.bytes || (a.rule < b.rule ? -1 : 1));
  }

  /**
   * The kept paths as a set, copied again only when they changed (every rule asks, and django
   * keeps 10,000 paths): keeps only add, so a copy holds while the size and the drops are the same.
   */
  keptSet(): ReadonlySet<string> {
    const { size } = this.paths;
    if (this.keptCopy?.size !== size || this.keptCopy.drops !== this.drops) this.keptCopy = { size, drops: this.drops, set: new Set(this.paths.keys()) };
    return this.keptCopy.set;
  }

  /** Forgets paths (exclusions); parents of what stays are kept again. */
  drop(test: (path: string) => boolean): void {
    this.drops++;
    for (const path of [...this.paths.keys()]) if (test(path)) this.paths.delete(path);
    for (const path of [...this.paths.keys()]) for (const dir of ancestors(path)) if (!this.paths.has(dir)) this.paths.set(dir, [`parent of ${showPath(path)}`]);
  }

  /** The parsed ELF file, once per file (shared with the rules); `head`, when the caller read it already, saves a read. */
  async elfOf(entry: FileEntry, head?: Buffer): Promise<ElfInfo | undefined> {
    return (await elfFile(this.content, entry, head))?.info;
  }

  private async findLibrary(name: string, from: ElfInfo, origin: string): Promise<string | undefined> {
    if (name.includes('/')) return this.tree.resolve(name).path ? name : undefined;
    const expand = (dirs: string[]) => dirs.map((d) => expandOrigin(d, origin, from.class === 64));
    const fromEnv = (this.env.get('LD_LIBRARY_PATH') ?? '').split(':').filter(Boolean);
    const search = [...(from.runpath.length ? [] : expand(from.rpath)), ...fromEnv, ...expand(from.runpath), ...this.libraryDirs];
    for (const dir of search) {
      const candidate = joinPath(dir, name);
      const entry = fileAt(this.tree, candidate);
      if (!entry) continue;
      const lib = await this.elfOf(entry);
      if (lib && lib.class === from.class && lib.machine === from.machine) return candidate;
    }
    return undefined;
  }

  /** The first bytes and the ELF parse of a file that may be a program or a library, once per file; undefined for the others. */
  private examine(entry: FileEntry): Promise<{ head: Buffer; elf?: ElfInfo }> | undefined {
    if (entry.type !== 'file' || !((entry.mode & 0o111) !== 0 || /\.so(\.|$)/.test(entry.path))) return undefined;
    let found = this.examined.get(entry.inode);
    if (!found) {
      found = (async () => {
        const head = await this.content.read(entry, ELF_HEAD);
        return { head, elf: isShebang(head) ? undefined : await this.elfOf(entry, head) };
      })();
      this.examined.set(entry.inode, found);
    }
    return found;
  }

  private async closeOver(entry: FileEntry): Promise<void> {
    const examined = await this.examine(entry);
    if (!examined) return;
    const { head, elf } = examined;
    if (isShebang(head)) {
      this.keepInterpreter(head, entry.path);
      return;
    }
    if (!elf) return;
    const rule = this.rule;
    this.rule = CLOSURE_RULE;
    if (elf.interpreter) this.keepNamed(elf.interpreter, `ELF interpreter of ${showPath(entry.path)}`);
    for (const name of elf.needed) {
      const found = await this.findLibrary(name, elf, parentOf(entry.path));
      if (found) this.keepNamed(found, `ELF dependency of ${showPath(entry.path)}`);
      else if (!this.unresolved.some((u) => u.library === name && u.neededBy === entry.path)) this.unresolved.push({ library: name, neededBy: entry.path });
    }
    this.rule = rule;
  }

  private keepInterpreter(head: Buffer, script: string): void {
    const line = head.toString('latin1').split('\n')[0]!.slice(2).trim();
    const [interpreter, ...args] = line.split(/\s+/);
    if (!interpreter) return;
    const rule = this.rule;
    this.rule = CLOSURE_RULE;
    this.keepNamed(interpreter, `interpreter of ${showPath(script)}`);
    // "#!/usr/bin/env python3": env runs the first word that is not an option.
    if (interpreter.endsWith('/env')) {
      const program = args.find((a) => !a.startsWith('-') && !a.includes('='));
      const found = program && this.which(program);
      if (found) this.keepNamed(found, `interpreter of ${showPath(script)} (through env)`);
    }
    this.rule = rule;
  }
}

const isShebang = (head: Buffer): boolean => head[0] === 0x23 && head[1] === 0x21;

/** Debian's multiarch library directories (x86_64-linux-gnu, s390x-linux-gnu, arm-linux-gnueabihf...), for images without ld.so.conf. */
function multiarchDirs(tree: FileTree): string[] {
  return ['/usr/lib', '/lib'].flatMap((base) => tree.children(base).filter((name) => /^[a-z0-9_]+-linux-[a-z0-9_]+$/.test(name)).map((name) => joinPath(base, name)));
}
