// Language awareness: lazily imported modules, templates and data files are
// where slimming breaks, so a package the app touched is kept whole.
import type { FileTree } from '../image/tree.js';
import { baseName, parentOf } from '../paths.js';

export type Language = 'python' | 'node' | 'ruby';
export const LANGUAGES: Language[] = ['python', 'node', 'ruby'];

export interface PackageDir {
  language: Language;
  dir: string;
  /** Metadata beside the package (dist-info, gemspec). */
  extras: string[];
}

const PY_SITE = /^(.*\/(?:site|dist)-packages)\/([^/]+)(\/|$)/;
const PY_STDLIB = /^(\/usr(?:\/local)?\/lib\/python3(?:\.\d+)?)\/([^/]+)\/./;
const NODE_PKG = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)(\/|$)/;
const DEBIAN_NODE_PKG = /^(\/usr\/(?:share|lib)\/nodejs\/(?:@[^/]+\/)?[^/]+)(\/|$)/;
const RUBY_GEM = /^(.*\/gems\/[^/]+\/)gems\/([^/]+)(\/|$)/;

/** The package directory a traced path belongs to, if any. */
export function packageOf(path: string, tree: FileTree, enabled: Set<Language>): PackageDir | undefined {
  if (enabled.has('python')) {
    const site = PY_SITE.exec(path);
    if (site) {
      const [, sitePackages, name] = site as unknown as [string, string, string];
      const dir = `${sitePackages}/${name}`;
      const entry = tree.get(dir);
      if (entry?.type === 'dir' && name !== '__pycache__' && !name.endsWith('-info')) {
        const dist = tree.children(sitePackages).filter((c) => (c.endsWith('.dist-info') || c.endsWith('.egg-info')) && c.split('-')[0]!.toLowerCase().replace(/_/g, '-') === name.toLowerCase().replace(/_/g, '-'));
        return { language: 'python', dir, extras: dist.map((d) => `${sitePackages}/${d}`) };
      }
    }
    const std = PY_STDLIB.exec(path);
    if (std && tree.get(`${std[1]}/${std[2]}`)?.type === 'dir' && !/-packages$|^lib-dynload$|^__pycache__$/.test(std[2]!)) {
      return { language: 'python', dir: `${std[1]}/${std[2]}`, extras: [] };
    }
  }
  if (enabled.has('node')) {
    const pkg = NODE_PKG.exec(path) ?? DEBIAN_NODE_PKG.exec(path);
    if (pkg && tree.get(pkg[1]!)?.type === 'dir') return { language: 'node', dir: pkg[1]!, extras: [] };
  }
  if (enabled.has('ruby')) {
    const gem = RUBY_GEM.exec(path);
    if (gem) return { language: 'ruby', dir: `${gem[1]}gems/${gem[2]}`, extras: [`${gem[1]}specifications/${gem[2]}.gemspec`] };
  }
  return undefined;
}

/**
 * Python keeps source beside bytecode: tracebacks and linecache read the .py.
 * And the interpreter finds its stdlib by stat-ing the os.py landmark, which
 * fanotify cannot see.
 */
export function pythonCompanions(path: string): string[] {
  const out: string[] = [];
  const stdlib = /^(\/usr(?:\/local)?\/lib\/python3\.\d+)\//.exec(path);
  if (stdlib) out.push(`${stdlib[1]}/os.py`);
  const pyc = /^(.*)\/__pycache__\/([^/.]+)\.[^/]*\.pyc$/.exec(path);
  if (pyc) out.push(`${pyc[1]}/${pyc[2]}.py`);
  else if (path.endsWith('.py')) out.push(`${parentOf(path)}/__pycache__/${baseName(path).slice(0, -3)}.`);
  return out;
}
