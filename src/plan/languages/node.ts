// Node: packages under node_modules (and Debian's /usr/share/nodejs). Node
// loads a package on its first require(), often deep inside a route no probe
// reached, so kept JavaScript is scanned for the packages it requires.
import { type FileTree } from '../../image/tree.js';
import type { Keeper } from '../keeper.js';
import type { LanguageSupport, PackageDir } from './index.js';
import { ancestors, showPath } from '../../paths.js';

const PACKAGE = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)(\/|$)/;
const DEBIAN_PACKAGE = /^(\/usr\/(?:share|lib)\/nodejs\/(?:@[^/]+\/)?[^/]+)(\/|$)/;
const GLOBAL_DIRS = ['/usr/share/nodejs', '/usr/lib/nodejs', '/usr/local/lib/node_modules', '/usr/lib/node_modules'];
const REQUIRE = /(?:require\s*\(|import\s*\(|\bfrom)\s*['"]([^'"./][^'"]*)['"]/g;
const SCRIPT = /\.(c|m)?js$/;
const MAX_SCANNED_BYTES = 1 << 20;

export const node: LanguageSupport<'node'> = {
  name: 'node',

  packageOf(path: string, tree: FileTree): PackageDir | undefined {
    const pkg = PACKAGE.exec(path) ?? DEBIAN_PACKAGE.exec(path);
    return pkg && tree.get(pkg[1]!)?.type === 'dir' ? { language: 'node', dir: pkg[1]!, extras: [] } : undefined;
  },

  /**
   * Only the global package directories: an app's own node_modules is part of
   * the app (its package.json pins it, and plugins and view engines are
   * required by names computed at run time).
   */
  claims: (path: string) => GLOBAL_DIRS.some((dir) => path.startsWith(`${dir}/`)),

  /** Keeps the packages that kept JavaScript requires or imports by a bare name. */
  async scan(keeper: Keeper): Promise<boolean> {
    const { tree } = keeper;
    const { scanned } = keeper;
    const globalDirs = [...(keeper.env.get('NODE_PATH') ?? '').split(':').filter(Boolean), ...GLOBAL_DIRS];
    let changed = false;
    for (const path of [...keeper.paths.keys()]) {
      if (scanned.has(path) || !SCRIPT.test(path)) continue;
      scanned.add(path);
      const entry = tree.get(path);
      if (entry?.type !== 'file' || entry.size > MAX_SCANNED_BYTES) continue;
      for (const match of (await keeper.content.read(entry)).toString('latin1').matchAll(REQUIRE)) {
        const spec = match[1]!;
        if (spec.startsWith('node:')) continue;
        const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        const local = ancestors(path).map((d) => `${d}/node_modules/${name}`);
        const found = [...local, ...globalDirs.map((d) => `${d}/${name}`)].find((dir) => tree.get(tree.resolve(dir).path ?? '')?.type === 'dir');
        if (!found) continue;
        const reason = `node package ${name}, required by ${showPath(path)}`;
        // Debian links /usr/share/node_modules -> nodejs: keep the name node looks up, and the package.
        const real = keeper.keepNamed(found, reason);
        if (real && !scanned.has(`${real}/`)) {
          scanned.add(`${real}/`);
          keeper.keepTree(real, reason);
          changed = true;
        }
      }
    }
    return changed;
  },
};
