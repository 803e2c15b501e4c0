// The keep plan: from (file tree, trace, options) to every path the slim image
// keeps, each with the reasons it is kept. It reads file contents (ELF headers,
// shebangs, configs, package databases) through a ContentSource and changes
// nothing. It is a list of phases; after each, the keeper brings in the
// closure (parents, symlinks, ELF libraries, interpreters) of what it added.
import { envMap } from '../image-config.js';
import type { ContentSource } from '../image/content.js';
import { readEachOnce } from '../image/read-once.js';
import type { HeadCache } from '../image/head-cache.js';
import type { FileTree } from '../image/tree.js';
import { joinPath, parentOf, showPath } from '../paths.js';
import type { Trace } from '../trace/trace.js';
import type { Rule } from './allowlist.js';
import { globToRegExp, isGlob, literalPath } from './glob.js';
import { Keeper, type RuleTotal } from './keeper.js';
import { claimedByLanguage, languageTableOf, type Language, type LanguageSupport } from './languages/index.js';
import { readPackageDatabase, type PackageDatabase } from './packagedb.js';
import { packageIndexOf } from './pkgdb/index.js';
import { applyPacks } from './packs.js';
import { fileAt } from './rules/context.js';
import { KEEP_RULES, symbolNeeds, type RuleContext } from './rules/index.js';
import { runtimeUser } from './rules/state.js';

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
  /** Keep the app's own files (those no package installed) in app places whole. */
  appDirs: boolean;
  /** The language table; without it, the built-in LANGUAGE_TABLE (tests pass a copy with an entry of their own). */
  languageTable?: readonly LanguageSupport[];
}

export interface KeepPlan {
  /** Kept path → why (first reasons, most direct first). */
  paths: Map<string, string[]>;
  /** Libraries that an ELF file needs and the image does not have. */
  unresolved: Array<{ library: string; neededBy: string }>;
  /** Packs applied, with why. */
  packs: Array<{ name: string; why: string }>;
  /** What each rule added: paths and bytes of regular files. */
  rules: RuleTotal[];
  warnings: string[];
}

interface PlanInput {
  tree: FileTree;
  trace: Trace;
  opts: PlanOptions;
  keeper: Keeper;
  plan: KeepPlan;
  /** What the rules see of the trace, resolved once: it does not change while it is planned. */
  traced: ReadonlySet<string>;
}

type Phase = (input: PlanInput) => Promise<void> | void;

const RUNTIME_DIRS = ['/tmp', '/var/tmp', '/run', '/var/run'];

/** What the app touched, and what it runs. */
const keepTraced: Phase = ({ trace, opts, keeper, plan }) => {
  const command = opts.entrypoint[0];
  if (command) {
    const program = keeper.which(command);
    if (program) keeper.keepNamed(program, 'entrypoint');
    else plan.warnings.push(`the entrypoint ${command} is not in the image`);
  }
  for (const [path, ops] of trace.paths) {
    const real = [...ops].filter((op) => op !== 'missing');
    if (real.length > 0) keeper.keepNamed(path, `traced (${real.sort().join(', ')})`);
  }
};

/** Whole packages of what is kept, the files kept beside them, and what static scans find. */
const keepLanguagePackages: Phase = async ({ tree, opts, keeper }) => {
  const languages = languageTableOf(opts).filter((l) => (opts.languages as ReadonlySet<string>).has(l.name));
  const done = new Set<string>();
  /** The packages kept whole: inside one there is nothing more to find. */
  const packages = new Set<string>();
  const inPackage = (path: string): boolean => {
    for (let dir = parentOf(path); dir !== '/'; dir = parentOf(dir)) if (packages.has(dir)) return true;
    return false;
  };
  for (let changed = true; changed;) {
    for (const path of [...keeper.paths.keys()]) {
      if (done.has(path) || inPackage(path)) continue;
      done.add(path);
      for (const language of languages) {
        keeper.rule = `${language.name} packages`;
        const pkg = language.packageOf?.(path, tree);
        if (pkg && !packages.has(pkg.dir)) {
          packages.add(pkg.dir);
          keeper.keepTree(pkg.dir, `${pkg.language} package ${showPath(pkg.dir)}`, pkg.skip);
          for (const extra of pkg.extras) keeper.keepTree(extra, `metadata of ${pkg.language} package ${showPath(pkg.dir)}`);
        }
        for (const c of language.companions?.(path, tree) ?? []) keeper.keep(c.path, c.reason);
      }
    }
    changed = false;
    for (const language of languages) {
      keeper.rule = `${language.name} packages`;
      if (await language.scan?.(keeper)) changed = true;
    }
    await keeper.drain();
  }
};

/**
 * Directories that hold apps, homes or system files rather than being one:
 * an app place found from a traced file stops below them.
 */
const CONTAINER_DIRS = new Set([
  '/srv', '/opt', '/home', '/root', '/var', '/usr', '/etc', '/tmp', '/run', '/mnt', '/media',
  '/usr/share', '/usr/lib', '/usr/lib64', '/usr/local', '/usr/local/lib', '/usr/local/share', '/var/lib', '/var/cache', '/var/www', '/var/log',
]);
/** Where users put their own code, pages and data. */
const APP_ROOTS = ['/app', '/srv', '/opt', '/home', '/usr/local', '/var/www'];
/** Files for building, not running: headers and documentation. */
const BUILD_ONLY = /^\/usr\/local\/(include|share\/(man|doc|info))(\/|$)/;

/**
 * The user's own files: what no package installed, in the places apps live
 * (the app roots, WORKDIR, the USER's home, and the directory around every
 * traced file no package installed: /var/www/html, /usr/share/nginx/html).
 * Files of language packages and runtimes are left to the language rules.
 */
function appFilesPhase(db: () => Promise<PackageDatabase>, content: ContentSource): Phase {
  return async ({ tree, trace, opts, keeper }) => {
    if (!opts.appDirs) return;
    const { installed, source } = await db();
    const claimed = (path: string) => claimedByLanguage(path, tree, opts.languages, languageTableOf(opts));
    const places = new Set(APP_ROOTS);
    if (opts.workdir && opts.workdir !== '/') places.add(opts.workdir);
    // Root's home is no app's place.
    const { uid, home } = await runtimeUser({ tree, content }, opts.user);
    if (home && uid !== 0) places.add(home);
    for (const path of trace.paths.keys()) {
      const real = tree.resolve(path).path;
      if (!real || tree.get(real)?.type !== 'file' || installed(real) || claimed(real)) continue;
      const place = appPlaceOf(real);
      // Library directories hold what programs load, not apps (and without a package database, all of it is "unlisted").
      if (place && !keeper.libraryDirs.includes(place)) places.add(place);
    }
    keeper.rule = 'app files (not from a package)';
    const reasons = new Map<string, string>();
    const reasonFor = (path: string): string => {
      const dir = appPlaceOf(path) ?? (tree.get(path)?.type === 'dir' ? path : parentOf(path));
      let reason = reasons.get(dir);
      if (!reason) reasons.set(dir, (reason = `app directory ${showPath(dir)} (not from a package, says ${source})`));
      return reason;
    };
    const visit = (dir: string): void => {
      for (const name of tree.children(dir)) {
        const path = joinPath(dir, name);
        if (BUILD_ONLY.test(path) || claimed(path)) continue;
        if (!installed(path)) keeper.keep(path, reasonFor(path));
        if (tree.get(path)?.type === 'dir') visit(path);
      }
    };
    // Outer places first, so a nested one is walked once.
    const walked: string[] = [];
    for (const place of [...places].sort()) {
      if (tree.get(place)?.type !== 'dir' || walked.some((w) => place.startsWith(`${w}/`))) continue;
      walked.push(place);
      if (!installed(place)) keeper.keep(place, reasonFor(place));
      visit(place);
    }
  };
}

/** The directory below the container directories that holds a path: /var/www/html for /var/www/html/css/a.css. */
function appPlaceOf(path: string): string | undefined {
  let dir = parentOf(path);
  if (dir === '/' || CONTAINER_DIRS.has(dir)) return undefined;
  while (parentOf(dir) !== '/' && !CONTAINER_DIRS.has(parentOf(dir))) dir = parentOf(dir);
  return dir;
}

/** What the keep rules see: the image, the kept set as it is now, and the real paths the app touched. */
function ruleContext({ tree, opts, keeper, traced }: PlanInput): RuleContext {
  return { tree, content: keeper.content, env: keeper.env, user: opts.user, volumes: opts.volumes, kept: keeper.keptSet(), traced, languages: opts.languages, languageTable: opts.languageTable };
}

/** The real paths the app touched (a lookup that failed touched nothing). */
function tracedPaths(tree: FileTree, trace: Trace): Set<string> {
  const traced = new Set<string>();
  for (const [path, ops] of trace.paths) if ([...ops].some((op) => op !== 'missing')) traced.add(tree.resolve(path).path ?? path);
  return traced;
}

/** Runs keep rules in turn, each charged to its name, with the closure of what it kept; says whether any kept something new. */
async function applyRules(input: PlanInput, from: 'image' | 'kept'): Promise<boolean> {
  const { keeper } = input;
  let grew = false;
  for (const { name, issue, rule } of KEEP_RULES.filter((r) => r.from === from)) {
    const before = keeper.paths.size;
    keeper.rule = `${name} (${issue})`;
    for (const request of await rule(ruleContext(input))) keeper.keepWhole(request.path, request.reason);
    await keeper.drain();
    if (keeper.paths.size > before) grew = true;
  }
  return grew;
}

/**
 * The app's state (what the runtime user owns, VOLUME contents, which the tracer does not see):
 * from the image alone. Like the app's own files, off with --no-app-dirs.
 */
const keepState: Phase = async (input) => {
  if (input.opts.appDirs) await applyRules(input, 'image');
};

/**
 * What programs load later, predicted from what is kept (the language table, then the rules of
 * rules/index.ts), until nothing new is kept: a package kept whole holds scripts that call
 * programs, an interpreter a script calls brings its standard library...
 */
const keepPredicted: Phase = async (input) => {
  do {
    await keepLanguagePackages(input);
  } while (await applyRules(input, 'kept'));
};

function packsPhase(content: ContentSource): Phase {
  return async (input) => {
    const { tree, trace, opts, keeper, plan } = input;
    const nssSources = await readNssSources(tree, content);
    const needs = new Map((await symbolNeeds(ruleContext(input))).map((n) => [n.need as string, n.reason]));
    const ctx = {
      tree, trace, nssSources, needs, env: keeper.env, imageUser: opts.user, libraryDirs: keeper.libraryDirs,
      kept: (p: string) => keeper.kept(p), keptPaths: () => [...keeper.paths.keys()],
    };
    plan.packs.push(...applyPacks(keeper, ctx, opts.includePacks, opts.excludePacks));
  };
}

const keepAllowlisted: Phase = ({ opts, keeper, plan }) => {
  keeper.rule = 'allowlist';
  for (const rule of opts.rules.filter((r) => !r.exclude)) {
    if (keeper.keepMatching(rule.pattern, `allowlist ${rule.source}`) === 0) plan.warnings.push(`${rule.source}: '${showPath(rule.pattern)}' matches nothing in the image`);
  }
};

const keepRuntimeDirs: Phase = ({ tree, trace, opts, keeper }) => {
  keeper.rule = 'runtime directories';
  for (const dir of [...RUNTIME_DIRS, ...opts.volumes, opts.workdir].filter(Boolean)) keeper.keep(dir, 'runtime directory');
  for (const entry of tree.values()) {
    if (entry.type === 'dir' && entry.path !== '/' && tree.children(entry.path).length === 0) keeper.keep(entry.path, 'empty directory in the original (runtime data dir)');
  }
  for (const [path, ops] of trace.paths) if (ops.has('write') || ops.has('readdir')) keeper.keep(parentOf(path), 'directory the app wrote to or listed');
};

/** Symlinks that lead to kept files, or out of the image (logs to /dev/stdout). */
const keepSymlinksToKept: Phase = ({ tree, keeper }) => {
  keeper.rule = 'symlinks to kept files';
  for (const entry of tree.values()) {
    if (entry.type !== 'symlink' || keeper.paths.has(entry.path)) continue;
    const target = entry.linkTarget ?? '';
    const real = tree.resolve(entry.path).path;
    if (real && keeper.paths.has(real)) keeper.keep(entry.path, `symlink to kept ${showPath(real)}`);
    else if (/^\/(dev|proc)\//.test(target)) keeper.keep(entry.path, `symlink to ${showPath(target)}`);
  }
};

/** Exclusions win over everything but parents of kept paths. */
const applyExclusions: Phase = ({ opts, keeper }) => {
  // A pattern matches paths; a plain path also everything below it.
  const excludes = opts.rules.filter((r) => r.exclude).map((rule) => ({ re: globToRegExp(rule.pattern), below: isGlob(rule.pattern) ? undefined : `${literalPath(rule.pattern)}/` }));
  if (excludes.length > 0) keeper.drop((path) => excludes.some(({ re, below }) => re.test(path) || (below !== undefined && path.startsWith(below))));
};

export async function planKeep(tree: FileTree, trace: Trace, opts: PlanOptions, source: ContentSource): Promise<KeepPlan> {
  // The rules run in rounds and look at the same files each round: each range is read once.
  const content = readEachOnce(source);
  const plan: KeepPlan = { paths: new Map(), unresolved: [], packs: [], rules: [], warnings: [] };
  const keeper = await Keeper.create(tree, content, envMap(opts.env), opts.workdir);
  let db: Promise<PackageDatabase> | undefined;
  const packageDb = () => (db ??= readPackageDatabase(tree, content, plan.warnings, opts.languageTable));
  const phases: Phase[] = [
    keepTraced, keepState, appFilesPhase(packageDb, content), keepPredicted, packsPhase(content),
    keepAllowlisted, keepRuntimeDirs, keepSymlinksToKept, applyExclusions,
  ];
  const input = { tree, trace, opts, keeper, plan, traced: tracedPaths(tree, trace) };
  for (const phase of phases) {
    await phase(input);
    await keeper.drain();
  }
  return { ...plan, paths: keeper.paths, unresolved: keeper.unresolved, rules: keeper.totals() };
}

/**
 * What the plan reads of the image whatever the trace says, read ahead while the app is
 * traced (until `signal`): the package index, and the heads of the image's files, which
 * the closure and the rules look into.
 */
export async function warmPlan(tree: FileTree, content: ContentSource & HeadCache, signal: AbortSignal): Promise<void> {
  // Read once per tree, so the plan takes it as it is when it starts; its errors are the plan's to report.
  packageIndexOf({ tree, content }).catch(() => {});
  await content.prefetch([...tree.values()], signal);
}

async function readNssSources(tree: FileTree, content: ContentSource): Promise<string[]> {
  const entry = fileAt(tree, '/etc/nsswitch.conf');
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
