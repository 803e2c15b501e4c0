// The keep plan: from (file tree, trace, options) to every path the slim image
// keeps, each with the reasons it is kept. It reads file contents (ELF headers,
// shebangs, configs) through a ContentSource and changes nothing.
import type { ContentSource } from '../image/content.js';
import type { FileEntry, FileTree } from '../image/tree.js';
import { ancestors, joinPath, parentOf, showPath } from '../paths.js';
import type { Trace } from '../trace/trace.js';
import type { Rule } from './allowlist.js';
import { expandOrigin, isElf, parseElf, type ElfInfo } from './elf.js';
import { globBase, globToRegExp, isGlob } from './glob.js';
import { packageOf, pythonCompanions, type Language } from './languages.js';
import { PACKS, type PackContext } from './packs.js';

export interface PlanOptions {
  /** The image's runtime config. */
  entrypoint: string[];
  env: string[];
  workdir: string;
  user: string;
  volumes: string[];
  rules: Rule[];
  /** Packs forced on / off by name; the rest are detected. */
  includePacks: string[];
  excludePacks: string[];
  languages: Set<Language>;
  /** Keep directories the app does not ship from a package (its own code and data) whole. */
  appDirs: boolean;
}

export interface KeepPlan {
  /** Kept path → why (first reasons, most direct first). */
  paths: Map<string, string[]>;
  /** Libraries that an ELF file needs and the image does not have. */
  unresolved: Array<{ library: string; neededBy: string }>;
  /** Packs applied, with why. */
  packs: Array<{ name: string; why: string }>;
  warnings: string[];
}

const MAX_REASONS = 3;
const DEFAULT_LIB_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64'];
const RUNTIME_DIRS = ['/tmp', '/var/tmp', '/run', '/var/run'];

const envMap = (env: string[]): Map<string, string> => new Map(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));

export async function planKeep(tree: FileTree, trace: Trace, opts: PlanOptions, content: ContentSource): Promise<KeepPlan> {
  const plan: KeepPlan = { paths: new Map(), unresolved: [], packs: [], warnings: [] };
  const queue: string[] = [];
  const env = envMap(opts.env);

  const keep = (path: string, reason: string): boolean => {
    if (!tree.has(path)) return false;
    const reasons = plan.paths.get(path);
    if (reasons) {
      if (reasons.length < MAX_REASONS && !reasons.includes(reason)) reasons.push(reason);
      return true;
    }
    plan.paths.set(path, [reason]);
    queue.push(path);
    return true;
  };

  /** Keeps what a path names: the symlinks on the way and the file it reaches. */
  const keepNamed = (path: string, reason: string): string | undefined => {
    const resolved = tree.resolve(path);
    for (const link of resolved.via) keep(link, `symlink on the way to ${showPath(path)}`);
    if (resolved.path) keep(resolved.path, reason);
    return resolved.path;
  };

  const keepTree = (dir: string, reason: string): void => {
    if (!keep(dir, reason)) return;
    if (tree.get(dir)?.type === 'dir') for (const p of tree.descendants(dir)) keep(p, reason);
  };

  const matching = (pattern: string): string[] => {
    if (!isGlob(pattern)) return tree.has(pattern) ? [pattern] : [];
    const re = globToRegExp(pattern);
    const base = globBase(pattern);
    const start = tree.resolve(base).path ?? base;
    const candidates = start === '/' ? [...tree.paths()] : tree.has(start) ? [start, ...tree.descendants(start)] : [];
    // Globs under a symlinked directory (/lib -> usr/lib) match by the name the user wrote.
    return candidates.map((p) => (start === base ? p : base + p.slice(start.length))).filter((p) => re.test(p));
  };

  // ---- ELF and script closure, applied to everything kept ----
  const elfCache = new Map<string, ElfInfo | undefined>();
  const ldConfDirs = await readLdSoConf(tree, content);
  const libraryDirs = (env.get('LD_LIBRARY_PATH') ?? '').split(':').filter(Boolean);

  const elfOf = async (entry: FileEntry): Promise<ElfInfo | undefined> => {
    if (elfCache.has(entry.path)) return elfCache.get(entry.path);
    const head = await content.read(entry, 4);
    const info = isElf(head) ? parseElf(await content.read(entry)) : undefined;
    elfCache.set(entry.path, info);
    return info;
  };

  const findLibrary = async (name: string, from: ElfInfo, origin: string): Promise<string | undefined> => {
    if (name.includes('/')) return tree.resolve(name).path ? name : undefined;
    const expand = (dirs: string[]) => dirs.map((d) => expandOrigin(d, origin, from.class === 64));
    const search = [...(from.runpath.length ? [] : expand(from.rpath)), ...libraryDirs, ...expand(from.runpath), ...ldConfDirs, ...DEFAULT_LIB_DIRS];
    for (const dir of search) {
      const candidate = joinPath(dir, name);
      const real = tree.resolve(candidate).path;
      const entry = real ? tree.get(real) : undefined;
      if (!entry || entry.type !== 'file') continue;
      const lib = await elfOf(entry);
      if (lib && lib.class === from.class && lib.machine === from.machine) return candidate;
    }
    return undefined;
  };

  const closeOver = async (entry: FileEntry): Promise<void> => {
    if (entry.type !== 'file') return;
    const maybeBinary = (entry.mode & 0o111) !== 0 || /\.so(\.|$)/.test(entry.path);
    if (!maybeBinary) return;
    const head = await content.read(entry, 256);
    if (head[0] === 0x23 && head[1] === 0x21) {
      keepInterpreter(head, entry.path);
      return;
    }
    if (!isElf(head)) return;
    const elf = await elfOf(entry);
    if (!elf) return;
    if (elf.interpreter) keepNamed(elf.interpreter, `ELF interpreter of ${showPath(entry.path)}`);
    for (const name of elf.needed) {
      const found = await findLibrary(name, elf, parentOf(entry.path));
      if (found) keepNamed(found, `ELF dependency of ${showPath(entry.path)}`);
      else if (!plan.unresolved.some((u) => u.library === name && u.neededBy === entry.path)) plan.unresolved.push({ library: name, neededBy: entry.path });
    }
  };

  const searchPath = (env.get('PATH') ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':');
  const which = (program: string): string | undefined => {
    if (program.includes('/')) return program.startsWith('/') ? program : joinPath(opts.workdir || '/', program);
    return searchPath.map((dir) => joinPath(dir, program)).find((p) => tree.resolve(p).path);
  };

  const keepInterpreter = (head: Buffer, script: string): void => {
    const line = head.toString('latin1').split('\n')[0]!.slice(2).trim();
    const [interpreter, ...args] = line.split(/\s+/);
    if (!interpreter) return;
    keepNamed(interpreter, `interpreter of ${showPath(script)}`);
    // "#!/usr/bin/env python3": env runs the first word that is not an option.
    if (interpreter.endsWith('/env')) {
      const program = args.find((a) => !a.startsWith('-') && !a.includes('='));
      const found = program && which(program);
      if (found) keepNamed(found, `interpreter of ${showPath(script)} (through env)`);
    }
  };

  // A cursor, not shift(): the queue grows to every kept path and shift() would copy it each time.
  let next = 0;
  const drain = async (): Promise<void> => {
    while (next < queue.length) {
      const path = queue[next++]!;
      for (const dir of ancestors(path)) keep(dir, `parent of ${showPath(path)}`);
      const entry = tree.get(path)!;
      if (entry.type === 'symlink') keepNamed(path, `target of symlink ${showPath(path)}`);
      await closeOver(entry);
    }
  };

  // ---- 1. what the app touched, and what it runs ----
  const command = opts.entrypoint[0];
  if (command) {
    const program = which(command);
    if (program) keepNamed(program, 'entrypoint');
    else plan.warnings.push(`the entrypoint ${command} is not in the image`);
  }
  for (const [path, ops] of trace.paths) {
    const real = [...ops].filter((op) => op !== 'missing');
    if (real.length > 0) keepNamed(path, `traced (${real.sort().join(', ')})`);
  }
  await drain();

  // ---- 2. whole packages the app touched, and app directories ----
  const owned = await packageOwnedPaths(tree, content);
  const traced = [...plan.paths.keys()];
  for (const path of traced) {
    const pkg = packageOf(path, tree, opts.languages);
    if (pkg) {
      keepTree(pkg.dir, `${pkg.language} package ${showPath(pkg.dir)}`);
      for (const extra of pkg.extras) keepTree(extra, `metadata of ${pkg.language} package ${showPath(pkg.dir)}`);
    }
    if (opts.languages.has('python')) {
      for (const companion of pythonCompanions(path)) {
        if (companion.endsWith('.')) {
          for (const name of tree.children(parentOf(companion))) if (joinPath(parentOf(companion), name).startsWith(companion)) keep(joinPath(parentOf(companion), name), `bytecode of ${showPath(path)}`);
        } else keep(companion, `source of ${showPath(path)}`);
      }
    }
    if (opts.appDirs) {
      const app = appDirOf(path, tree, owned, opts.workdir);
      if (app) keepTree(app, `app directory ${showPath(app)} (not from a package)`);
    }
  }
  await drain();
  if (opts.languages.has('node')) await keepRequiredNodePackages(tree, plan, content, env, keepNamed, keepTree);
  await drain();

  // ---- 3. packs ----
  const nssSources = await readNssSources(tree, content);
  const ctx: PackContext = { tree, trace, kept: (p) => plan.paths.has(tree.resolve(p).path ?? p), keptPaths: () => [...plan.paths.keys()], env, nssSources, imageUser: opts.user };
  for (const pack of PACKS) {
    if (opts.excludePacks.includes(pack.name)) continue;
    const why = opts.includePacks.includes(pack.name) ? 'asked for with --include-pack' : pack.detect(ctx);
    if (!why) continue;
    plan.packs.push({ name: pack.name, why });
    const patterns = pack.patterns(ctx);
    const excluded = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    for (const pattern of patterns.filter((p) => !p.startsWith('!'))) {
      for (const path of matching(pattern)) {
        if (excluded.some((x) => path === x || path.startsWith(`${x}/`))) continue;
        const real = keepNamed(path, `pack ${pack.name}`);
        if (real && tree.get(real)?.type === 'dir') {
          for (const p of tree.descendants(real)) if (!excluded.some((x) => p === x || p.startsWith(`${x}/`))) keep(p, `pack ${pack.name}`);
        }
      }
    }
  }
  await drain();

  // ---- 4. the user's allowlist ----
  for (const rule of opts.rules.filter((r) => !r.exclude)) {
    const hits = matching(rule.pattern);
    if (hits.length === 0) plan.warnings.push(`${rule.source}: '${showPath(rule.pattern)}' matches nothing in the image`);
    for (const path of hits) {
      const real = keepNamed(path, `allowlist ${rule.source}`);
      if (real && tree.get(real)?.type === 'dir') keepTree(real, `allowlist ${rule.source}`);
    }
  }
  await drain();

  // ---- 5. runtime directories ----
  for (const dir of [...RUNTIME_DIRS, ...opts.volumes, opts.workdir].filter(Boolean)) keep(dir, 'runtime directory');
  for (const entry of tree.values()) {
    if (entry.type === 'dir' && entry.path !== '/' && tree.children(entry.path).length === 0) keep(entry.path, 'empty directory in the original (runtime data dir)');
  }
  for (const [path, ops] of trace.paths) if (ops.has('write') || ops.has('readdir')) keep(parentOf(path), 'directory the app wrote to or listed');
  await drain();

  // ---- 6. symlinks that lead to kept files, or out of the image (logs to /dev/stdout) ----
  for (const entry of tree.values()) {
    if (entry.type !== 'symlink' || plan.paths.has(entry.path)) continue;
    const target = entry.linkTarget ?? '';
    const real = tree.resolve(entry.path).path;
    if (real && plan.paths.has(real)) keep(entry.path, `symlink to kept ${showPath(real)}`);
    else if (/^\/(dev|proc)\//.test(target)) keep(entry.path, `symlink to ${showPath(target)}`);
  }
  await drain();

  // ---- 7. exclusions win over everything but parents of kept paths ----
  const excludes = opts.rules.filter((r) => r.exclude);
  if (excludes.length > 0) {
    const regexes = excludes.map((r) => ({ rule: r, re: globToRegExp(r.pattern) }));
    for (const path of [...plan.paths.keys()]) {
      if (regexes.some(({ rule, re }) => re.test(path) || path.startsWith(`${rule.pattern}/`))) plan.paths.delete(path);
    }
    for (const path of [...plan.paths.keys()]) for (const dir of ancestors(path)) if (!plan.paths.has(dir)) plan.paths.set(dir, [`parent of ${showPath(path)}`]);
  }
  return plan;
}

const NODE_GLOBAL_DIRS = ['/usr/share/nodejs', '/usr/lib/nodejs', '/usr/local/lib/node_modules', '/usr/lib/node_modules'];
const REQUIRE = /(?:require\s*\(|import\s*\(|\bfrom)\s*['"]([^'"./][^'"]*)['"]/g;

/**
 * Node loads packages on first require(), often deep inside a route that no
 * probe reached: every kept JavaScript file of the app and its packages is
 * scanned for require/import of bare names, and the packages they name are kept.
 */
async function keepRequiredNodePackages(tree: FileTree, plan: KeepPlan, content: ContentSource, env: Map<string, string>, keepNamed: (path: string, reason: string) => string | undefined, keepTree: (dir: string, reason: string) => void): Promise<void> {
  const scanned = new Set<string>();
  const globalDirs = [...(env.get('NODE_PATH') ?? '').split(':').filter(Boolean), ...NODE_GLOBAL_DIRS];
  for (let changed = true; changed;) {
    changed = false;
    for (const path of [...plan.paths.keys()]) {
      if (scanned.has(path) || !/\.(c|m)?js$/.test(path)) continue;
      scanned.add(path);
      const entry = tree.get(path);
      if (entry?.type !== 'file' || entry.size > 1 << 20) continue;
      for (const match of (await content.read(entry)).toString('latin1').matchAll(REQUIRE)) {
        const spec = match[1]!;
        if (spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        const local = ancestors(path).map((d) => `${d}/node_modules/${name}`);
        const found = [...local, ...globalDirs.map((d) => `${d}/${name}`)].find((dir) => tree.get(tree.resolve(dir).path ?? '')?.type === 'dir');
        if (!found) continue;
        const reason = `node package ${name}, required by ${showPath(path)}`;
        // Debian links /usr/share/node_modules -> nodejs: keep the name node looks up, and the package.
        const real = keepNamed(found, reason);
        if (real && !scanned.has(`${real}/`)) {
          scanned.add(`${real}/`);
          keepTree(real, reason);
          changed = true;
        }
      }
    }
  }
}

/** Library directories from /etc/ld.so.conf and the files it includes. */
async function readLdSoConf(tree: FileTree, content: ContentSource): Promise<string[]> {
  const dirs: string[] = [];
  const seen = new Set<string>();
  const read = async (file: string): Promise<void> => {
    const real = tree.resolve(file).path;
    const entry = real ? tree.get(real) : undefined;
    if (!entry || seen.has(entry.path)) return;
    seen.add(entry.path);
    for (const raw of (await content.read(entry)).toString('latin1').split('\n')) {
      const line = raw.replace(/#.*/, '').trim();
      if (!line) continue;
      const include = /^include\s+(.+)$/.exec(line);
      if (!include) {
        dirs.push(line);
        continue;
      }
      const pattern = include[1]!.startsWith('/') ? include[1]! : joinPath(parentOf(file), include[1]!);
      const re = globToRegExp(pattern);
      for (const name of tree.children(parentOf(pattern))) if (re.test(joinPath(parentOf(pattern), name))) await read(joinPath(parentOf(pattern), name));
    }
  };
  await read('/etc/ld.so.conf');
  return dirs;
}

async function readNssSources(tree: FileTree, content: ContentSource): Promise<string[]> {
  const entry = tree.get(tree.resolve('/etc/nsswitch.conf').path ?? '');
  if (!entry) return ['files', 'dns'];
  const sources = new Set<string>();
  for (const raw of (await content.read(entry)).toString('latin1').split('\n')) {
    const line = raw.replace(/#.*/, '');
    const colon = line.indexOf(':');
    if (colon === -1) continue;
    for (const word of line.slice(colon + 1).split(/\s+/)) if (/^[a-z0-9_]+$/.test(word)) sources.add(word);
  }
  return [...sources];
}

/** Paths that a package manager installed (dpkg's file lists), or undefined without a package database. */
async function packageOwnedPaths(tree: FileTree, content: ContentSource): Promise<Set<string> | undefined> {
  const info = '/var/lib/dpkg/info';
  if (tree.get(info)?.type !== 'dir') return undefined;
  const owned = new Set<string>();
  for (const name of tree.children(info)) {
    if (!name.endsWith('.list')) continue;
    const entry = tree.get(joinPath(info, name));
    if (!entry) continue;
    for (const line of (await content.read(entry)).toString('latin1').split('\n')) if (line.startsWith('/')) owned.add(line === '/.' ? '/' : line);
  }
  return owned;
}

/** Directories that hold apps, homes or system files rather than being an app: the app dir is further down. */
const CONTAINER_DIRS = new Set([
  '/srv', '/opt', '/home', '/root', '/var', '/usr', '/etc', '/tmp', '/run', '/mnt', '/media',
  '/usr/share', '/usr/lib', '/usr/lib64', '/usr/local', '/usr/local/lib', '/usr/local/share', '/var/lib', '/var/cache', '/var/www', '/var/log',
]);

/**
 * The app's own directory holding a traced path: the topmost ancestor that no
 * package installed (COPY'd code, templates, data). Without a package database,
 * the WORKDIR when the path is inside it.
 */
function appDirOf(path: string, tree: FileTree, owned: Set<string> | undefined, workdir: string): string | undefined {
  if (!owned) return workdir && workdir !== '/' && path.startsWith(`${workdir}/`) ? workdir : undefined;
  if (owned.has(path)) return undefined;
  const chain = ancestors(path).reverse(); // outermost first
  let index = chain.findIndex((p, i) => !owned.has(p) && chain.slice(i).every((q) => !owned.has(q) && tree.get(q)?.type === 'dir'));
  if (index === -1) return undefined;
  while (index < chain.length && CONTAINER_DIRS.has(chain[index]!)) index++;
  const top = chain[index];
  // dpkg does not list the bytecode caches it generates: those are not app directories.
  if (!top || top.includes('/__pycache__')) return undefined;
  return top;
}
