// Node: packages under node_modules (and Debian's /usr/share/nodejs), each
// recorded by its package.json. Node loads a package on its first require(),
// often deep inside a route no probe reached, so kept JavaScript is scanned
// for the packages it requires. Node's runtime loads nothing by name beyond
// that node_modules resolution, so it has no runtime entry.
import { type FileTree } from '../../image/tree.js';
import type { Keeper } from '../keeper.js';
import type { Package } from '../pkgdb/index.js';
import { readTextAt, type RuleContext } from '../rules/context.js';
import type { LanguageSupport, PackageDir } from './index.js';
import { ancestors, joinPath, parentOf, showPath } from '../../paths.js';

const PACKAGE = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)(\/|$)/;
const DEBIAN_PACKAGE = /^(\/usr\/(?:share|lib)\/nodejs\/(?:@[^/]+\/)?[^/]+)(\/|$)/;
const GLOBAL_DIRS = ['/usr/share/nodejs', '/usr/lib/nodejs', '/usr/local/lib/node_modules', '/usr/lib/node_modules'];
const REQUIRE = /(?:require\s*\(|import\s*\(|\bfrom)\s*['"]([^'"./][^'"]*)['"]/g;
const SCRIPT = /\.(c|m)?js$/;
const MAX_SCANNED_BYTES = 1 << 20;

/** Every path under a package directory, without the packages nested in its own node_modules. */
function* ownTree(tree: FileTree, dir: string): Generator<string> {
  yield dir;
  for (const name of tree.children(dir)) {
    const child = joinPath(dir, name);
    if (name === 'node_modules') continue;
    if (tree.get(child)?.type === 'dir') yield* ownTree(tree, child);
    else yield child;
  }
}

/** A package's package.json: its name, version and dependencies; its files are its directory's. */
async function readNpm(src: Pick<RuleContext, 'tree' | 'content'>, packageJson: string): Promise<Package | undefined> {
  let manifest: { name?: unknown; version?: unknown; dependencies?: unknown; optionalDependencies?: unknown; peerDependencies?: unknown };
  try {
    manifest = JSON.parse((await readTextAt(src, packageJson)) ?? '');
  } catch {
    return undefined;
  }
  if (typeof manifest !== 'object' || manifest === null || typeof manifest.name !== 'string') return undefined;
  const keys = (o: unknown) => (o && typeof o === 'object' ? Object.keys(o) : []);
  return {
    manager: 'npm',
    name: manifest.name,
    version: typeof manifest.version === 'string' ? manifest.version : undefined,
    files: [...ownTree(src.tree, parentOf(packageJson))],
    depends: [...keys(manifest.dependencies), ...keys(manifest.optionalDependencies), ...keys(manifest.peerDependencies)],
    conffiles: [],
  };
}

export const node: LanguageSupport<'node'> = {
  name: 'node',

  code: SCRIPT,
  programCalls: { files: SCRIPT, calls: /\b(?:exec|execSync|execFile|execFileSync|spawn|spawnSync)\s*\(\s*(["'`])([^"'`\n]+)\1/g },
  records: [{ files: /(\/node_modules\/(@[^/]+\/)?[^/]+|^\/usr\/share\/nodejs\/(@[^/]+\/)?[^/]+)\/package\.json$/, read: readNpm }],

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
        const found = [...local, ...globalDirs.map((d) => `${d}/${name}`)].find((dir) => tree.entryAt(dir)?.type === 'dir');
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
