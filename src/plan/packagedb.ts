// Which files a package manager installed. A file that no package lists is the
// user's own (COPY'd code, pages, data) wherever it lies, and so is a listed
// file that a layer above the package's record replaced (a page COPY'd over
// the packaged index.html). The system package databases (dpkg, apk) come
// from the one package index the keep rules use too; without any, the image's
// layers answer: what layers above the base OS layer added.
import type { ContentSource } from '../image/content.js';
import type { FileTree } from '../image/tree.js';
import type { LanguageSupport } from './languages/index.js';
import { packageIndexOf, type Manager, type Package } from './pkgdb/index.js';

export interface PackageDatabase {
  /** Where the answer comes from, for reasons and reports. */
  source: string;
  installed(path: string): boolean;
}

/**
 * Package managers that install the system. A language package (an app's own node_modules,
 * its pip-installed site-packages) is the app's, which the language rules decide about.
 */
const SYSTEM_MANAGERS: Manager[] = ['dpkg', 'apk'];
const RPM_DIRS = ['/var/lib/rpm', '/usr/lib/sysimage/rpm'];
const OS_RELEASE = ['/etc/os-release', '/usr/lib/os-release'];

/**
 * The image's package database. `warnings` receives why a present database could not be used.
 * The language table is the plan's, so that the index read is the one its rules read.
 */
export async function readPackageDatabase(tree: FileTree, content: ContentSource, warnings: string[], languageTable?: readonly LanguageSupport[]): Promise<PackageDatabase> {
  const index = await packageIndexOf({ tree, content, languageTable });
  const system = (pkg: Package) => SYSTEM_MANAGERS.includes(pkg.manager);
  const sources = SYSTEM_MANAGERS.filter((m) => index.packages.some((p) => p.manager === m));
  // Berkeley DB, NDB and sqlite rpmdbs need their libraries to read; the layers answer instead.
  if (RPM_DIRS.some((d) => tree.get(d)?.type === 'dir')) warnings.push('the RPM database needs librpm or sqlite to read; deciding from the layers instead');
  if (sources.length > 0) {
    const recordLayer = (pkg: Package) => (pkg.record ? tree.entryAt(pkg.record)?.layer : undefined) ?? Infinity;
    // Directories change layer whenever something in them does: only their listing counts.
    const installed = (path: string): boolean => {
      const entry = tree.get(path);
      return index.ownerOf(path).some((pkg) => system(pkg) && (entry?.type === 'dir' || (entry?.layer ?? -1) <= recordLayer(pkg)));
    };
    return { source: `the ${sources.join(' and ')} database`, installed };
  }

  // The base OS layer is the last one that wrote os-release; FROM scratch images have none.
  const base = Math.max(-1, ...OS_RELEASE.map((p) => tree.entryAt(p)?.layer ?? -1));
  return { source: base < 0 ? 'the layers (no base OS)' : `the layers above the base OS layer ${base}`, installed: (path) => (tree.get(path)?.layer ?? Infinity) <= base };
}
