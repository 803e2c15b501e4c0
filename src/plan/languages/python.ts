// Python: packages in site-/dist-packages, and the standard library as one
// package. Source is kept beside bytecode (tracebacks and linecache read it).
// pip records what each distribution installed in its dist-info's RECORD.
import { type FileTree } from '../../image/tree.js';
import type { Keeper } from '../keeper.js';
import type { Package } from '../pkgdb/index.js';
import { childPaths, readTextAt, type RuleContext } from '../rules/context.js';
import type { LanguageSupport, PackageDir } from './index.js';
import { baseName, joinPath, parentOf, resolvePath, showPath } from '../../paths.js';

const SITE = /^(.*\/(?:site|dist)-packages)\/([^/]+)(\/|$)/;
const STDLIB = /^(\/(?:usr\/(?:local\/)?)?lib(?:64)?\/python3\.\d+)(\/|$)/;
const INTERPRETER = /^(\/(?:usr\/(?:local\/)?)?)bin\/python(3\.\d+)$/;
/**
 * What an app never imports from the standard library: the test suite, the
 * IDE, Tk, pip's bootstrap, 2to3, help()'s topic texts, the static library for
 * embedding; installed packages are packages of their own.
 */
const NOT_STDLIB = /^(test|idlelib|tkinter|turtledemo|ensurepip|lib2to3|pydoc_data|site-packages|dist-packages|config-3\.[^/]*)(\/|$)|^turtle\.py$|^__pycache__\/turtle\./;

const stdlibPackage = (root: string): PackageDir => ({
  language: 'python', dir: root, extras: [],
  skip: (path) => NOT_STDLIB.test(path.slice(root.length + 1)),
});

/** Canonical Python distribution name (PEP 503). */
const pepName = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

/** A distribution's dist-info: its name, version and Requires-Dist in METADATA, its files in RECORD. */
async function readPip(src: Pick<RuleContext, 'tree' | 'content'>, distInfo: string): Promise<Package | undefined> {
  const metadata = (await readTextAt(src, joinPath(distInfo, 'METADATA'))) ?? '';
  const name = /^Name:\s*(\S+)/m.exec(metadata)?.[1] ?? baseName(distInfo).replace(/-[^-]*\.dist-info$/, '');
  const site = parentOf(distInfo);
  const files = ((await readTextAt(src, joinPath(distInfo, 'RECORD'))) ?? '').split('\n')
    .map((line) => (line.startsWith('"') ? line.slice(1, line.indexOf('"', 1)) : line.split(',')[0]!))
    .filter(Boolean)
    .map((p) => resolvePath(site, p));
  const depends = [...metadata.matchAll(/^Requires-Dist:\s*([A-Za-z0-9._-]+)(.*)$/gm)]
    .filter((m) => !/extra\s*==/.test(m[2]!))
    .map((m) => pepName(m[1]!));
  return { manager: 'pip', name: pepName(name), version: /^Version:\s*(\S+)/m.exec(metadata)?.[1], files, depends, conffiles: [] };
}

export const python: LanguageSupport<'python'> = {
  name: 'python',

  code: /\.pyc?$/,
  programCalls: { files: /\.py$/, calls: /\b(?:subprocess\.(?:run|call|check_call|check_output|Popen)|os\.(?:system|popen|execlp|execvp|spawnlp|spawnvp))\(\s*\[?\s*[rbuf]?(["'])([^"'\n]+)\1/g },
  records: [{ files: /\/(site|dist)-packages\/[^/]+\.dist-info$/, read: readPip }],

  runtime: {
    name: 'python',
    recognise: /^(.*)\/(?:bin\/python\d(?:\.\d+)?|lib\/(?:[^/]+\/)?libpython\d\.\d+\.so(?:\.[\d.]+)?)$/,
    async loads(ctx, home) {
      const stdlibs = [joinPath(home, 'lib'), ...childPaths(ctx.tree, joinPath(home, 'lib'))].flatMap((d) => childPaths(ctx.tree, d)).filter((p) => /\/python\d\.\d+$/.test(p));
      return stdlibs.flatMap((dir) => [
        { path: joinPath(dir, 'lib-dynload'), why: 'imports extension modules from lib-dynload/' },
        { path: joinPath(dir, 'encodings'), why: 'looks up codecs by name in encodings/' },
      ]);
    },
  },

  packageOf(path: string, tree: FileTree): PackageDir | undefined {
    const site = SITE.exec(path);
    if (site) {
      const [, sitePackages, name] = site as unknown as [string, string, string];
      const dir = `${sitePackages}/${name}`;
      if (tree.get(dir)?.type !== 'dir' || name === '__pycache__' || name.endsWith('-info')) return undefined;
      const normal = (s: string) => s.toLowerCase().replace(/_/g, '-');
      const dist = tree.children(sitePackages).filter((c) => (c.endsWith('.dist-info') || c.endsWith('.egg-info')) && normal(c.split('-')[0]!) === normal(name));
      return { language: 'python', dir, extras: dist.map((d) => `${sitePackages}/${d}`) };
    }
    const std = STDLIB.exec(path);
    if (std && tree.get(std[1]!)?.type === 'dir') {
      const pkg = stdlibPackage(std[1]!);
      return pkg.skip!(path) ? undefined : pkg;
    }
    return undefined;
  },

  companions(path: string, tree: FileTree): Array<{ path: string; reason: string }> {
    const pyc = /^(.*)\/__pycache__\/([^/.]+)\.[^/]*\.pyc$/.exec(path);
    if (pyc) return [{ path: `${pyc[1]}/${pyc[2]}.py`, reason: `source of ${showPath(path)}` }];
    if (!path.endsWith('.py')) return [];
    const cache = joinPath(parentOf(path), '__pycache__');
    const stem = `${baseName(path).slice(0, -3)}.`;
    return tree.children(cache).filter((n) => n.startsWith(stem)).map((n) => ({ path: joinPath(cache, n), reason: `bytecode of ${showPath(path)}` }));
  },

  /** A kept interpreter brings its standard library (top-level modules and lib-dynload included). */
  async scan(keeper: Keeper): Promise<boolean> {
    let changed = false;
    for (const path of keeper.paths.keys()) {
      const bin = INTERPRETER.exec(path);
      const root = bin && `/${bin[1]!.slice(1)}lib/python${bin[2]}`;
      if (!root || keeper.paths.has(root) || keeper.tree.get(root)?.type !== 'dir') continue;
      keeper.keepTree(root, `python standard library of ${showPath(path)}`, stdlibPackage(root).skip);
      changed = true;
    }
    return changed;
  },
};
