// Language package managers' own records: pip's RECORD in *.dist-info, npm's
// package.json in node_modules, and gem specifications (RubyGems' gems/NAME-VER
// layout and Debian's rubygems-integration specs whose code is in vendor_ruby).
import { type FileTree } from '../../image/tree.js';
import { readTextAt, resolvePath, type RuleContext } from '../rules/context.js';
import type { Package } from './index.js';
import { baseName, joinPath, parentOf } from '../../paths.js';

type Source = Pick<RuleContext, 'tree' | 'content'>;

/** Canonical Python distribution name (PEP 503). */
const pepName = (name: string) => name.toLowerCase().replace(/[-_.]+/g, '-');

export async function readPip(src: Source, distInfo: string): Promise<Package | undefined> {
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

export async function readNpm(src: Source, packageJson: string): Promise<Package | undefined> {
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

/** Ruby library directories where Debian puts packaged gems' code (rubygems-integration specs say only their name). */
const vendorDirs = (tree: FileTree) => ['/usr/lib/ruby/vendor_ruby', ...tree.children('/usr/lib/ruby/vendor_ruby').filter((n) => /^\d/.test(n)).map((n) => `/usr/lib/ruby/vendor_ruby/${n}`)];

export async function readGem(src: Source, gemspec: string): Promise<Package | undefined> {
  const text = (await readTextAt(src, gemspec)) ?? '';
  const name = /\.name\s*=\s*["']([^"']+)/.exec(text)?.[1];
  const version = /\.version\s*=\s*["']([^"']+)/.exec(text)?.[1];
  if (!name) return undefined;
  const home = parentOf(parentOf(gemspec));
  const full = `${name}-${version}`;
  const files = [gemspec];
  const gemDir = joinPath(joinPath(home, 'gems'), full);
  if (src.tree.has(gemDir)) files.push(gemDir, ...src.tree.descendants(gemDir));
  else {
    // Debian: lib/ of the gem is installed straight into vendor_ruby, named by Ruby's convention (rack-protection → rack/protection).
    for (const dir of vendorDirs(src.tree)) {
      for (const base of new Set([name, name.replace(/-/g, '/')])) {
        for (const candidate of [joinPath(dir, `${base}.rb`), joinPath(dir, base)]) {
          if (!src.tree.has(candidate)) continue;
          files.push(candidate);
          if (src.tree.get(candidate)!.type === 'dir') files.push(...src.tree.descendants(candidate));
        }
      }
    }
  }
  // Generated specs repeat runtime dependencies as add_dependency for old RubyGems, development ones included.
  const call = text.includes('add_runtime_dependency') ? 'add_runtime_dependency' : 'add_dependency';
  const depends = [...text.matchAll(new RegExp(`${call}\\(?\\s*(?:%q<([^>]+)>|["']([^"']+)["'])`, 'g'))].map((m) => m[1] ?? m[2]!);
  return { manager: 'gem', name, version, files, depends: [...new Set(depends)], conffiles: [] };
}
