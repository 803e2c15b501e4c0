// Python: packages in site-/dist-packages, and the standard library as one
// package. Source is kept beside bytecode (tracebacks and linecache read it).
import { type FileTree } from '../../image/tree.js';
import type { Keeper } from '../keeper.js';
import type { LanguageSupport, PackageDir } from './index.js';
import { baseName, joinPath, parentOf, showPath } from '../../paths.js';

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

export const python: LanguageSupport<'python'> = {
  name: 'python',

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
