// Which files a package manager installed. A file that no package lists is the
// user's own (COPY'd code, pages, data) wherever it lies, and so is a listed
// file that a layer above the package's record replaced (a page COPY'd over
// the packaged index.html). The databases are a table: each says whether the
// image has it and which paths it lists. Without any, the image's layers
// answer: what layers above the base OS layer added.
import type { ContentSource } from '../image/content.js';
import { type FileTree } from '../image/tree.js';
import { baseName, joinPath, parentOf } from '../paths.js';

export interface PackageDatabase {
  /** Where the answer comes from, for reasons and reports. */
  source: string;
  installed(path: string): boolean;
}

interface DatabaseReader {
  name: string;
  present(tree: FileTree): boolean;
  /** Paths the database lists, each with the layer of the record that lists it, or a sentence saying why it cannot be read. */
  read(tree: FileTree, content: ContentSource): Promise<Array<[string, number]> | string>;
}

const DPKG_INFO = '/var/lib/dpkg/info';
const APK_INSTALLED = '/lib/apk/db/installed';
const RPM_DIRS = ['/var/lib/rpm', '/usr/lib/sysimage/rpm'];

/** A record's lines and the layer that wrote it. */
const record = async (tree: FileTree, content: ContentSource, path: string): Promise<{ lines: string[]; layer: number }> => {
  const entry = tree.get(tree.resolve(path).path ?? '');
  return entry ? { lines: (await content.read(entry)).toString('latin1').split('\n'), layer: entry.layer } : { lines: [], layer: -1 };
};

export const DATABASES: DatabaseReader[] = [
  {
    name: 'dpkg',
    present: (tree) => tree.get(DPKG_INFO)?.type === 'dir',
    async read(tree, content) {
      const paths: Array<[string, number]> = [];
      for (const name of tree.children(DPKG_INFO)) {
        if (!name.endsWith('.list')) continue;
        const { lines, layer } = await record(tree, content, joinPath(DPKG_INFO, name));
        for (const line of lines) if (line.startsWith('/')) paths.push([line === '/.' ? '/' : line, layer]);
      }
      return paths;
    },
  },
  {
    name: 'apk',
    present: (tree) => tree.has(APK_INSTALLED),
    async read(tree, content) {
      // "F:usr/lib" names a directory, the "R:libz.so.1" lines after it its files.
      const paths: Array<[string, number]> = [];
      const { lines, layer } = await record(tree, content, APK_INSTALLED);
      let dir = '/';
      for (const line of lines) {
        if (line.startsWith('F:')) paths.push([(dir = `/${line.slice(2)}`), layer]);
        else if (line.startsWith('R:')) paths.push([joinPath(dir, line.slice(2)), layer]);
      }
      return paths;
    },
  },
  {
    name: 'rpm',
    present: (tree) => RPM_DIRS.some((d) => tree.get(d)?.type === 'dir'),
    // Berkeley DB, NDB and sqlite rpmdbs need their libraries to read; the layers answer instead.
    read: async () => 'the RPM database needs librpm or sqlite to read; deciding from the layers instead',
  },
];

const OS_RELEASE = ['/etc/os-release', '/usr/lib/os-release'];

/**
 * The image's package database. `warnings` receives why a present database
 * could not be used. Listed paths are also recorded by their real name, so
 * merged-/usr images (/lib -> usr/lib) answer for both.
 */
export async function readPackageDatabase(tree: FileTree, content: ContentSource, warnings: string[]): Promise<PackageDatabase> {
  const recordLayer = new Map<string, number>();
  const sources: string[] = [];
  const realDirs = new Map<string, string>();
  const realDir = (dir: string): string => {
    let real = realDirs.get(dir);
    if (real === undefined) realDirs.set(dir, (real = tree.resolve(dir).path ?? dir));
    return real;
  };
  for (const db of DATABASES.filter((d) => d.present(tree))) {
    const listed = await db.read(tree, content);
    if (typeof listed === 'string') {
      warnings.push(listed);
      continue;
    }
    sources.push(db.name);
    for (const [path, layer] of listed) {
      recordLayer.set(path, layer);
      if (path !== '/') recordLayer.set(joinPath(realDir(parentOf(path)), baseName(path)), layer);
    }
  }
  if (sources.length > 0) {
    // Directories change layer whenever something in them does: only their listing counts.
    const installed = (path: string): boolean => {
      const layer = recordLayer.get(path);
      const entry = tree.get(path);
      return layer !== undefined && (entry?.type === 'dir' || (entry?.layer ?? -1) <= layer);
    };
    return { source: `the ${sources.join(' and ')} database`, installed };
  }

  // The base OS layer is the last one that wrote os-release; FROM scratch images have none.
  const base = Math.max(-1, ...OS_RELEASE.map((p) => tree.get(tree.resolve(p).path ?? '')?.layer ?? -1));
  return { source: base < 0 ? 'the layers (no base OS)' : `the layers above the base OS layer ${base}`, installed: (path) => (tree.get(path)?.layer ?? Infinity) <= base };
}
