// One index over every package database an image carries: dpkg, apk, and the
// language package managers' records the language table names (pip, npm,
// gems). Paths are indexed by where they really are in the image (dpkg lists
// /lib/..., which a merged /usr holds under /usr/lib/...).
import { type FileTree } from '../../image/tree.js';
import { languageTableOf, type LanguageSupport } from '../languages/index.js';
import type { RuleContext } from '../rules/context.js';
import { readApk } from './apk.js';
import { readDpkg } from './dpkg.js';
import { baseName } from '../../paths.js';
import { loopTurns } from '../../turns.js';

/** dpkg, apk, or a language's package manager (pip, npm, gem). */
export type Manager = string;

/** What the index reads the image through; `languageTable` names the language records. */
type Source = Pick<RuleContext, 'tree' | 'content' | 'languageTable'>;

/** A language package manager's record of one installed package: which paths are records, and how to read one. */
export interface PackageRecord {
  files: RegExp;
  read(src: Pick<RuleContext, 'tree' | 'content'>, path: string): Promise<Package | undefined>;
}

export interface Package {
  manager: Manager;
  name: string;
  version?: string;
  /** Paths as the database lists them (directories included). */
  files: string[];
  /** Names of the packages it depends on, same manager. */
  depends: string[];
  conffiles: string[];
  /** The database file that lists its files (a dpkg .list, apk's installed): a layer above it that changed a file replaced it. */
  record?: string;
}

/** Files a package ships for people, not for the program: docs, man pages, changelogs, licences, shell completions. */
const FOR_PEOPLE_DIR = /^\/usr\/share\/(doc|doc-base|man|info|lintian|bug|help|gtk-doc|bash-completion)\//;
const FOR_PEOPLE_NAME = /^(changelog|changes|news|history|readme|license|licence|copying|copyright|authors|contributing|code_of_conduct)([._-][^/]*)?$/i;
export const isForPeople = (path: string): boolean => FOR_PEOPLE_DIR.test(path) || FOR_PEOPLE_NAME.test(baseName(path));

export class PackageIndex {
  private readonly owners = new Map<string, Package[]>();
  private readonly byName = new Map<string, Package[]>();
  private readonly realFiles = new Map<Package, string[]>();
  private readonly dirOwners = new Map<string, Package | undefined>();

  private constructor(readonly packages: Package[], private readonly tree: FileTree) {}

  /** The index of `packages` in `tree`: every listed path resolved in the image, a turn of the event loop at a time. */
  static async of(packages: Package[], tree: FileTree): Promise<PackageIndex> {
    const index = new PackageIndex(packages, tree);
    const turn = loopTurns();
    for (const pkg of packages) {
      index.add(pkg);
      if (turn.due()) await turn();
    }
    return index;
  }

  private add(pkg: Package): void {
    const real: string[] = [];
    for (const listed of pkg.files) {
      const path = this.tree.resolve(listed, false).path;
      if (!path || !this.tree.has(path)) continue;
      real.push(path);
      const owners = this.owners.get(path) ?? [];
      if (!owners.includes(pkg)) owners.push(pkg);
      this.owners.set(path, owners);
    }
    this.realFiles.set(pkg, real);
    const named = this.byName.get(`${pkg.manager}:${pkg.name}`) ?? [];
    this.byName.set(`${pkg.manager}:${pkg.name}`, [...named, pkg]);
  }

  /** Packages that list a path (its real path in the image). */
  ownerOf(path: string): Package[] {
    // The keys are real paths: a hit needs no resolving (the rules ask for thousands of kept paths, each round).
    return this.owners.get(path) ?? this.owners.get(this.tree.resolve(path, false).path ?? path) ?? [];
  }

  find(manager: Manager, name: string): Package | undefined {
    return this.byName.get(`${manager}:${name}`)?.[0];
  }

  /** Real paths of what a package installed that the image still has. */
  filesOf(pkg: Package): string[] {
    return this.realFiles.get(pkg) ?? [];
  }

  dependsOf(pkg: Package): Package[] {
    return pkg.depends.map((d) => this.find(pkg.manager, d)).filter((p): p is Package => p !== undefined);
  }

  conffilesOf(pkg: Package): string[] {
    return pkg.conffiles.map((c) => this.tree.resolve(c, false).path ?? c).filter((c) => this.tree.has(c));
  }

  /**
   * What the program uses: installed files and symlinks to files, except docs, man pages,
   * changelogs and licences. Directories are left out (a package lists /usr/lib), and so are
   * symlinks to them (merged /usr turns a listed /lib into one).
   */
  libraryFiles(pkg: Package): string[] {
    return this.filesOf(pkg).filter((p) => {
      const type = this.tree.get(p)?.type;
      const target = type === 'symlink' ? this.tree.resolve(p).path : undefined;
      return (type === 'file' || (target !== undefined && this.tree.get(target)?.type !== 'dir')) && !isForPeople(p);
    });
  }

  /**
   * The package a directory belongs to: the only package that lists it, or the
   * one that installed most of what packages put in it. Shared directories
   * (/etc, /usr/lib/x86_64-linux-gnu) belong to none.
   */
  dirOwner(dir: string): Package | undefined {
    if (!this.dirOwners.has(dir)) this.dirOwners.set(dir, this.countDirOwner(dir));
    return this.dirOwners.get(dir);
  }

  /** dirOwner, uncached: it counts the directory's children, and every kept package asks about its directories. */
  private countDirOwner(dir: string): Package | undefined {
    const listing = this.ownerOf(dir);
    if (listing.length === 1) return listing[0];
    if (listing.length === 0) return undefined;
    const counts = new Map<Package, number>();
    let listed = 0;
    for (const name of this.tree.children(dir)) {
      const owners = this.owners.get(`${dir === '/' ? '' : dir}/${name}`) ?? [];
      if (owners.length > 0) listed++;
      for (const o of owners) counts.set(o, (counts.get(o) ?? 0) + 1);
    }
    const [best, n] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [];
    return best && listing.includes(best) && n! * 2 > listed ? best : undefined;
  }

  /** Whether any package lists the path. */
  isListed(path: string): boolean {
    return this.ownerOf(path).length > 0;
  }
}

/** Reads every package database in the image into one index. */
export async function readPackageIndex(src: Source): Promise<PackageIndex> {
  const records = languageTableOf(src).flatMap((l) => l.records ?? []);
  // All asked for at once: reads issued together share round trips to the image.
  const [dpkg, apk, languagePackages] = await Promise.all([
    readDpkg(src),
    readApk(src),
    Promise.all([...src.tree.paths()].map((path) => records.find((r) => r.files.test(path))?.read(src, path))),
  ]);
  return PackageIndex.of([...dpkg, ...apk, ...languagePackages.filter((p): p is Package => p !== undefined)], src.tree);
}

const indexes = new WeakMap<FileTree, WeakMap<readonly LanguageSupport[], Promise<PackageIndex>>>();

/** The image's package index, read once per file tree (and language table) however many rules ask. */
export function packageIndexOf(src: Source): Promise<PackageIndex> {
  let byTable = indexes.get(src.tree);
  if (!byTable) indexes.set(src.tree, (byTable = new WeakMap()));
  const table = languageTableOf(src);
  let index = byTable.get(table);
  if (!index) byTable.set(table, (index = readPackageIndex(src)));
  return index;
}
