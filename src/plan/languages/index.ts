// Language awareness as a table: lazily imported modules, templates and data
// files are where slimming breaks, so a package the app touched is kept whole.
// A language's file is all slim knows about it: how it recognises its packages,
// which files it keeps beside a kept one, which files are its code, how its
// code runs programs, its package manager's records, what its runtime loads by
// name, and what it finds by reading kept files (static scans). The plan, the
// keep rules (rules/) and the package index (pkgdb/) read those parts from this
// table and keep no per-language tables of their own. Adding a language is its
// own file plus one entry here.
import type { FileTree } from '../../image/tree.js';
import type { Keeper } from '../keeper.js';
import type { PackageRecord } from '../pkgdb/index.js';
import type { Runtime, Scanner } from '../rules/context.js';
import { java } from './java.js';
import { node } from './node.js';
import { perl } from './perl.js';
import { php } from './php.js';
import { python } from './python.js';
import { ruby } from './ruby.js';

export interface PackageDir {
  language: string;
  dir: string;
  /** Metadata beside the package (dist-info, gemspec). */
  extras: string[];
  /** Paths under `dir` that are not part of what the app can load (test suites, build files). */
  skip?: (path: string) => boolean;
}

export interface LanguageSupport<Name extends string = string> {
  name: Name;
  /** The package directory a path belongs to, if any (languages without one leave packages to the package databases). */
  packageOf?(path: string, tree: FileTree): PackageDir | undefined;
  /**
   * Whether a path is the language's rather than the app's own file, which the
   * app-file rule would keep whole. Without this, every path in a package is.
   */
  claims?(path: string, tree: FileTree): boolean;
  /** Files kept beside a kept file (source beside bytecode). */
  companions?(path: string, tree: FileTree): Array<{ path: string; reason: string }>;
  /** Keeps what kept files will load later; returns whether it kept anything new. */
  scan?(keeper: Keeper): Promise<boolean>;
  /** Reads kept files for the code they name (require, include, use, Class-Path); the static-scans rule runs it. */
  scanner?: Scanner;
  // The parts below apply whether or not the run keeps the language's packages (--no-keep-lang turns off only those above).
  /** Names of its code files: a traced one keeps the package that owns it whole (package-of-kept-code rule). */
  code?: RegExp;
  /** How its code runs programs: calls whose string literal (capture group 2, 3 or 4) is a command line or argv[0] (scripts-call-programs rule). */
  programCalls?: { files: RegExp; calls: RegExp };
  /** Its package manager's records of what each package installed (pip's RECORD, package.json, gemspecs), read into the package index. */
  records?: PackageRecord[];
  /** What its runtime loads by name from its install root (runtime-loads-by-name rule). */
  runtime?: Runtime;
}

export const LANGUAGE_TABLE = [python, node, ruby, php, perl, java] as const;
export type Language = (typeof LANGUAGE_TABLE)[number]['name'];
export const LANGUAGES: Language[] = LANGUAGE_TABLE.map((l) => l.name);

/** The language table the keep rules read: the context's own, or the built-in one. */
export const languageTableOf = (ctx: { languageTable?: readonly LanguageSupport[] }): readonly LanguageSupport[] => ctx.languageTable ?? LANGUAGE_TABLE;

/** The package directory a path belongs to, in the enabled languages. */
export function packageOf(path: string, tree: FileTree, enabled: Set<Language>): PackageDir | undefined {
  for (const language of LANGUAGE_TABLE) {
    if (!enabled.has(language.name)) continue;
    const pkg = language.packageOf?.(path, tree);
    if (pkg) return pkg;
  }
  return undefined;
}

/** Whether an enabled language's rules, not the app-file rule, decide about a path. */
export function claimedByLanguage(path: string, tree: FileTree, enabled: ReadonlySet<string>, table: readonly LanguageSupport[] = LANGUAGE_TABLE): boolean {
  return table.some((l) => enabled.has(l.name) && (l.claims ? l.claims(path, tree) : l.packageOf?.(path, tree) !== undefined));
}
