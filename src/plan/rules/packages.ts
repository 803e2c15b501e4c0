// Rules from the package databases: keep a package whole when its code is
// used (12.2), the files made at install time beside a kept package's files
// (15.2), and a kept package's configuration, data packages and the programs
// its configuration names (15.4).
import { languageTableOf } from '../languages/index.js';
import { isForPeople, packageIndexOf, type Package, type PackageIndex } from '../pkgdb/index.js';
import { dedupe, findOnPath, readTextAt, searchPath, type KeepRequest, type RuleContext } from './context.js';
import { ancestors, joinPath, showPath } from '../../paths.js';

/**
 * Code of interpreters the language table has no entry for: their packages come only
 * from the system package databases (Debian's lua-*, tcllib), so they need no more than this.
 */
const OTHER_CODE = /\.(lua|tcl)$/;

/** Whether a file is interpreted code: when one is used, the rest of its package will be loaded later. */
function isCode(ctx: RuleContext): (path: string) => boolean {
  const languages = languageTableOf(ctx).flatMap((l) => (l.code ? [l.code] : []));
  return (path) => OTHER_CODE.test(path) || languages.some((code) => code.test(path));
}

const describe = (pkg: Package) => `${pkg.name} (${pkg.manager})`;

/** Packages that own a kept regular file (directories and symlinks such as /lib are listed by everyone). */
function keptPackages(ctx: RuleContext, index: PackageIndex): Map<Package, string> {
  const out = new Map<Package, string>();
  for (const path of ctx.kept) {
    if (ctx.tree.get(path)?.type !== 'file') continue;
    for (const pkg of index.ownerOf(path)) if (!out.has(pkg)) out.set(pkg, path);
  }
  return out;
}

/** 12.2: a kept file that is interpreted code of a package keeps the package's library files whole. */
export async function packageOfKeptCode(ctx: RuleContext): Promise<KeepRequest[]> {
  const index = await packageIndexOf(ctx);
  const code = isCode(ctx);
  const out: KeepRequest[] = [];
  const done = new Set<Package>();
  for (const path of ctx.traced ?? ctx.kept) {
    if (!code(path) || ctx.tree.get(path)?.type !== 'file') continue;
    for (const pkg of index.ownerOf(path)) {
      if (done.has(pkg)) continue;
      done.add(pkg);
      const reason = `package ${describe(pkg)} owns traced ${showPath(path)}`;
      for (const file of index.libraryFiles(pkg)) out.push({ path: file, reason });
    }
  }
  return dedupe(out);
}

/** 15.2: files no package lists, in a directory a kept package owns (trust stores, locale archives, caches made by maintainer scripts). */
export async function installTimeFiles(ctx: RuleContext): Promise<KeepRequest[]> {
  const index = await packageIndexOf(ctx);
  const out: KeepRequest[] = [];
  for (const pkg of keptPackages(ctx, index).keys()) {
    for (const dir of index.filesOf(pkg)) {
      // Top-level directories (/usr, /etc) hold everyone's files, whoever lists them.
      if (ctx.tree.get(dir)?.type !== 'dir' || ancestors(dir).length < 1 || index.dirOwner(dir) !== pkg) continue;
      for (const name of ctx.tree.children(dir)) {
        const path = joinPath(dir, name);
        // An alternatives link to a man page is install-time too, but for people, not for the program.
        const forPeople = isForPeople(path) || isForPeople(ctx.tree.resolve(path).path ?? path);
        if (!index.isListed(path) && ctx.tree.get(path)?.type !== 'dir' && !PACKAGE_MANAGER_STATE.test(path) && !forPeople) out.push({ path, reason: `made at install time in ${showPath(dir)}, which kept package ${describe(pkg)} owns` });
      }
    }
  }
  return dedupe(out);
}

/** Package managers' own records, caches and logs (maintainer scripts, downloaded archives) belong to no package's content. */
const PACKAGE_MANAGER_STATE = /^\/(var\/lib\/dpkg|lib\/apk\/db|var\/lib\/rpm|var\/cache\/(apt|debconf|apk|yum|dnf)|var\/log)\/|\.(deb|apk|rpm)$/;

/**
 * Code the app runs: what it touched, and kept files no package installed (the app's own
 * scripts and sources). Package files kept for other reasons (a pack's CA.pl, a conffile's
 * cron hook) are not run by the app, so what they name is not followed.
 */
export async function codeInUse(ctx: RuleContext): Promise<string[]> {
  if (!ctx.traced) return [...ctx.kept];
  const index = await packageIndexOf(ctx);
  return [...ctx.kept].filter((p) => ctx.traced!.has(p) || !index.isListed(p));
}

/** Packages a library needs for its data and configuration, by Debian's naming convention. */
const DATA_PACKAGE = /-(common|data|config)$|^fonts-/;
/** A data package's programs are tools for the administrator (update-java-alternatives, phpenmod), not what the library loads. */
const PROGRAM_DIR = /\/s?bin\//;

/** Configuration files that name programs to run, and how to read the program names out of them. */
const CONFIG_COMMANDS: Array<{ file: RegExp; commands: (text: string) => string[] }> = [
  {
    // ImageMagick's delegates.xml: command="&quot;gs&quot; -q ..." per format.
    file: /\/delegates\.xml$/,
    commands: (text) => [...text.matchAll(/\bcommand="([^"]*)"/g)].map((m) => m[1]!.replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&').replace(/&lt;/g, '<').replace(/&gt;/g, '>')),
  },
  {
    // mailcap: "type/subtype; command %s; flags".
    file: /(^|\/)\.?mailcap$/,
    commands: (text) => text.split('\n').filter((l) => l.trim() && !l.trimStart().startsWith('#')).map((l) => l.split(';')[1] ?? ''),
  },
];

const programOf = (command: string): string | undefined => {
  const word = /^\s*(?:"([^"]+)"|'([^']+)'|(\S+))/.exec(command);
  const name = word?.[1] ?? word?.[2] ?? word?.[3];
  return name && !name.startsWith('%') && !name.includes('$') ? name : undefined;
};

/** 15.4: a kept package's conffiles and data packages, and the programs kept configuration names. */
export async function configurationOfKeptPackages(ctx: RuleContext): Promise<KeepRequest[]> {
  const index = await packageIndexOf(ctx);
  const out: KeepRequest[] = [];
  const kept = keptPackages(ctx, index);
  const visited = new Set<Package>(kept.keys());
  const pending = [...kept.keys()].map((pkg) => ({ pkg, via: `kept package ${describe(pkg)}` }));
  while (pending.length > 0) {
    const { pkg, via } = pending.pop()!;
    for (const conffile of index.conffilesOf(pkg)) out.push({ path: conffile, reason: `configuration of ${via}` });
    for (const dep of index.dependsOf(pkg)) {
      if (visited.has(dep) || !DATA_PACKAGE.test(dep.name)) continue;
      visited.add(dep);
      const reason = `data package ${describe(dep)} that ${via} depends on`;
      for (const file of index.libraryFiles(dep)) if (!PROGRAM_DIR.test(file)) out.push({ path: file, reason });
      pending.push({ pkg: dep, via: `${describe(dep)}, a dependency of ${via}` });
    }
  }
  const configs = new Set([...ctx.kept, ...out.map((r) => r.path)]);
  const path = searchPath(ctx.env);
  for (const config of configs) {
    const reader = CONFIG_COMMANDS.find((c) => c.file.test(config));
    const text = reader && ctx.tree.get(config)?.type === 'file' ? await readTextAt(ctx, config) : undefined;
    if (!reader || text === undefined) continue;
    for (const program of new Set(reader.commands(text).map(programOf))) {
      const found = program && (program.startsWith('/') ? (ctx.tree.has(program) ? program : undefined) : findOnPath(ctx.tree, path, program));
      if (found) out.push({ path: found, reason: `program named in ${showPath(config)}` });
    }
  }
  return dedupe(out);
}
