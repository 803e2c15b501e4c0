// 12.5: static scans per language. Code names the code it loads later
// (require, include, use, a jar's Class-Path, System.loadLibrary); each scanner
// reads one kind of kept file and resolves the names the way that language's
// runtime would, on the search paths the image itself has. Files found are
// scanned in turn. The lead hangs each scanner on its language's table entry.
import { type FileTree } from '../../image/tree.js';
import { jarManifest, zipEntries, zipRead } from '../zip.js';
import { dedupe, fileAt, readFileAt, resolvePath, type KeepRequest, type RuleContext } from './context.js';
import { codeInUse } from './packages.js';
import { loaderDirs } from './plugins.js';
import { joinPath, parentOf, showPath } from '../../paths.js';

export interface Scanner {
  language: string;
  /** Kept files this scanner reads. */
  files: RegExp;
  scan(ctx: RuleContext, path: string, data: Buffer): Promise<KeepRequest[]>;
}

const lineOf = (text: string, index: number) => text.slice(0, index).split('\n').length;
const existing = (tree: FileTree, candidates: string[]) => candidates.find((c) => fileAt(tree, c));

/** Directories of the image matching a pattern, computed once per tree and pattern. */
const dirCache = new WeakMap<FileTree, Map<string, string[]>>();
function dirsMatching(tree: FileTree, pattern: RegExp): string[] {
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

/** Ruby's load path: site_ruby and vendor_ruby, the versioned library dirs, and every installed gem's lib/. */
const RUBY_LOAD_PATH = /\/ruby\/((site|vendor)_ruby(\/\d[\d.]*)?|\d+\.\d+\.\d+)(\/[^/]+-linux[^/]*)?$|\/gems\/[^/]+\/lib$/;
/** Perl's @INC: perl5, perl/VERSION and perl-base directories. */
const PERL_INC = /^\/(etc\/perl|usr\/(local\/)?(lib|share)\/([^/]+\/)?(perl5?(\/\d[\d.]*)?|perl-base))$/;

export const SCANNERS: Scanner[] = [
  {
    language: 'ruby',
    files: /\.(rb|ru|erb)$/,
    async scan(ctx, path, data) {
      const text = data.toString('latin1');
      const out: KeepRequest[] = [];
      const loadPath = [...(ctx.env.get('RUBYLIB') ?? '').split(':').filter(Boolean), ...dirsMatching(ctx.tree, RUBY_LOAD_PATH)];
      for (const m of text.matchAll(/^\s*(require_relative|require|load)\s*\(?\s*['"]([^'"#]+)['"]/gm)) {
        const [, how, name] = m as unknown as [string, string, string];
        const withExt = (base: string) => (/\.(rb|so)$/.test(base) ? [base] : [`${base}.rb`, `${base}.so`]);
        const found = how === 'require_relative'
          ? existing(ctx.tree, withExt(resolvePath(parentOf(path), name)))
          : name.startsWith('/') ? existing(ctx.tree, withExt(name)) : existing(ctx.tree, loadPath.flatMap((d) => withExt(joinPath(d, name))));
        if (found) out.push({ path: found, reason: `${how} '${name}' in ${showPath(path)}:${lineOf(text, m.index!)}` });
      }
      return out;
    },
  },
  {
    language: 'php',
    files: /\.(php|inc|phtml)$/,
    async scan(ctx, path, data) {
      const text = data.toString('latin1');
      const out: KeepRequest[] = [];
      const here = parentOf(path);
      // A path built from the file's own directory: __DIR__ . '/lib/x.php', dirname(__FILE__) . '/pages/' . $name.
      for (const m of text.matchAll(/(?:__DIR__|dirname\(\s*__FILE__\s*\))\s*\.\s*(['"])([^'"$]+)\1(\s*\.)?/g)) {
        const target = resolvePath(here, m[2]!.replace(/^\/?/, ''));
        // With more concatenated after the literal, the literal is the directory the computed name is in.
        const dir = m[3] ? (m[2]!.endsWith('/') ? target : parentOf(target)) : undefined;
        const hit = dir ?? target;
        if (ctx.tree.has(hit)) out.push({ path: hit, reason: `${dir ? 'computed path under' : 'path'} ${showPath(hit)} named in ${showPath(path)}:${lineOf(text, m.index!)}` });
      }
      for (const m of text.matchAll(/\b(include|require)(_once)?\s*\(?\s*(['"])([^'"$]+)\3/g)) {
        const found = existing(ctx.tree, [resolvePath(here, m[4]!)]);
        if (found) out.push({ path: found, reason: `${m[1]}${m[2] ?? ''} in ${showPath(path)}:${lineOf(text, m.index!)}` });
      }
      // Composer's generated autoload maps: $vendorDir . '/pkg/src/X.php', $baseDir . '/app'.
      if (/\/composer\/autoload_\w+\.php$/.test(path)) {
        const vendor = parentOf(here);
        for (const m of text.matchAll(/\$(vendorDir|baseDir)\s*\.\s*'([^']+)'/g)) {
          const target = resolvePath(m[1] === 'vendorDir' ? vendor : parentOf(vendor), m[2]!.replace(/^\//, ''));
          if (ctx.tree.has(target)) out.push({ path: target, reason: `composer autoload map ${showPath(path)}:${lineOf(text, m.index!)}` });
        }
      }
      if (/\/vendor\/autoload\.php$/.test(path)) {
        const composer = joinPath(here, 'composer');
        for (const name of ctx.tree.children(composer)) if (/^autoload_\w+\.php$/.test(name)) out.push({ path: joinPath(composer, name), reason: `composer autoloader ${showPath(path)} loads it` });
      }
      return out;
    },
  },
  {
    language: 'perl',
    files: /\.(pl|pm|cgi)$/,
    async scan(ctx, path, data) {
      // POD is documentation; code inside subs (indented) loads conditionally, so only top-level statements count.
      const text = data.toString('latin1').replace(/^=[a-z][\s\S]*?(^=cut\b.*$|(?![\s\S]))/gm, (pod) => pod.replace(/[^\n]/g, ''));
      const inc = [...(ctx.env.get('PERL5LIB') ?? '').split(':').filter(Boolean), ...dirsMatching(ctx.tree, PERL_INC)];
      const out: KeepRequest[] = [];
      for (const m of text.matchAll(/^(use|require|use\s+parent|use\s+base)\s+([A-Z][\w]*(?:::\w+)*)/gm)) {
        const relative = `${m[2]!.replace(/::/g, '/')}.pm`;
        const leaf = m[2]!.split('::').pop()!;
        for (const dir of inc) {
          const module = joinPath(dir, relative);
          if (!fileAt(ctx.tree, module)) continue;
          const reason = `${m[1]} ${m[2]} in ${showPath(path)}:${lineOf(text, m.index!)}`;
          out.push({ path: module, reason });
          // An XS module's shared object lives under auto/ in the same @INC directory.
          const xs = joinPath(dir, `auto/${m[2]!.replace(/::/g, '/')}/${leaf}.so`);
          if (fileAt(ctx.tree, xs)) out.push({ path: xs, reason });
          break;
        }
      }
      return out;
    },
  },
  {
    language: 'java',
    files: /\.jar$/,
    async scan(ctx, path, data) {
      const out: KeepRequest[] = [];
      for (const url of (jarManifest(data).get('Class-Path') ?? '').split(/\s+/).filter(Boolean)) {
        const target = resolvePath(parentOf(path), decodeURIComponent(url.replace(/^file:/, '')));
        if (ctx.tree.has(target)) out.push({ path: target, reason: `Class-Path of ${showPath(path)}` });
      }
      // System.loadLibrary("name") loads lib<name>.so from java.library.path: the jar's directory, the JVM's lib/ and the loader's.
      const javaHomes = dirsMatching(ctx.tree, /\/jvm\/[^/]+\/lib$/);
      const libraryPath = [parentOf(path), ...javaHomes, ...(await loaderDirs(ctx))];
      for (const entry of zipEntries(data)) {
        if (!entry.name.endsWith('.class')) continue;
        const bytes = zipRead(data, entry);
        if (!bytes?.includes('loadLibrary')) continue;
        for (const name of new Set(bytes.toString('latin1').match(/[A-Za-z][\w-]{1,40}/g) ?? [])) {
          const lib = existing(ctx.tree, libraryPath.map((d) => joinPath(d, `lib${name}.so`)));
          if (lib) out.push({ path: lib, reason: `System.loadLibrary("${name}") in ${showPath(path)}!${entry.name}` });
        }
      }
      return out;
    },
  },
];

/** Runs every scanner on the kept files it reads, and on what they name, transitively. */
export async function staticScans(ctx: RuleContext): Promise<KeepRequest[]> {
  const out: KeepRequest[] = [];
  const pending = await codeInUse(ctx);
  const scanned = new Set<string>();
  while (pending.length > 0) {
    const path = pending.pop()!;
    const scanner = SCANNERS.find((s) => s.files.test(path));
    if (!scanner || scanned.has(path) || ctx.tree.get(path)?.type !== 'file') continue;
    scanned.add(path);
    for (const request of await scanner.scan(ctx, path, (await readFileAt(ctx, path))!)) {
      out.push(request);
      pending.push(request.path);
    }
  }
  return dedupe(out);
}
