// Tuning: what the slim image looked for and did not find, where the original
// has it, becomes allowlist suggestions at the right granularity (a pack, a
// language package, or the exact path), written to a file users commit.
import { readFile, writeFile } from 'node:fs/promises';
import { bytePath, showPath } from './errors.js';
import { parentOf, type FileTree } from './image/tree.js';
import { parseAllowlist } from './plan/allowlist.js';
import { globToRegExp } from './plan/glob.js';
import { packageOf, type Language } from './plan/languages/index.js';
import { PACKS } from './plan/packs.js';
import type { Trace } from './trace/trace.js';

export interface Suggestion {
  /** An allowlist line: an absolute path, or "pack NAME" for --include-pack. */
  line: string;
  /** Why: the failed lookups it answers and the probes that diverged. */
  comment: string;
}

const MAX_DIR_FILES = 200;

/** A directory whose files are all of one kind (templates, static assets): the app reads it as a set. */
function sameKindDir(tree: FileTree, dir: string, extension: string): boolean {
  if (!extension || dir.split('/').length < 4) return false;
  let files = 0;
  for (const path of tree.descendants(dir)) {
    const entry = tree.get(path)!;
    if (entry.type === 'dir') continue;
    if (++files > MAX_DIR_FILES || extname(path) !== extension) return false;
  }
  return true;
}

const extname = (path: string): string => /\.[^./]+$/.exec(path)?.[0] ?? '';

export function suggest(original: FileTree, slimTrace: Trace, kept: Set<string>, languages: Set<Language>, diverging: string[]): Suggestion[] {
  const byLine = new Map<string, Set<string>>();
  const add = (line: string, path: string) => {
    if (!byLine.has(line)) byLine.set(line, new Set());
    byLine.get(line)!.add(showPath(path));
  };
  for (const [path, ops] of slimTrace.paths) {
    if (!ops.has('missing')) continue;
    const real = original.resolve(path).path;
    if (!real || kept.has(real)) continue;
    // A missing file of a pack means the pack should be on, rather than that one file.
    const pack = PACKS.find((p) => p.files?.test(real));
    if (pack) {
      add(`pack ${pack.name}`, path);
      continue;
    }
    const pkg = packageOf(real, original, languages);
    if (pkg && !kept.has(pkg.dir)) {
      add(pkg.dir, path);
      continue;
    }
    const dir = parentOf(real);
    add(original.get(real)?.type === 'file' && kept.has(dir) && sameKindDir(original, dir, extname(real)) ? dir : real, path);
  }
  const probes = diverging.length ? ` (diverging: ${diverging.slice(0, 3).join(', ')}${diverging.length > 3 ? ', …' : ''})` : '';
  return [...byLine].sort(([a], [b]) => (a < b ? -1 : 1)).map(([line, paths]) => {
    const list = [...paths].slice(0, 2).join(', ');
    return { line: showPath(line), comment: `slim image looked for ${list}${paths.size > 2 ? ` and ${paths.size - 2} more` : ''}${probes}` };
  });
}

/**
 * Merges suggestions into an allowlist file's text: existing lines stay as
 * they are, new ones are appended in sorted order with their comment, and a
 * line already present (or already covered by a pattern) is not repeated.
 */
export function mergeAllowlist(existing: string, suggestions: Suggestion[], file: string): { text: string; added: Suggestion[] } {
  const { rules, packs } = parseAllowlist(existing, file);
  const covered = (line: string) =>
    line.startsWith('pack ') ? packs.includes(line.slice(5)) : rules.some((r) => !r.exclude && (globToRegExp(r.pattern).test(bytePath(line)) || bytePath(line).startsWith(`${r.pattern}/`)));
  const added = suggestions.filter((s) => !covered(s.line));
  if (added.length === 0) return { text: existing, added };
  const lines = added.flatMap((s) => [`# ${s.comment}`, s.line]);
  const header = existing.trim() === '' ? '# slim allowlist: what the slim image needs beyond what tracing saw. Commit it next to the Dockerfile.\n' : '';
  return { text: `${header}${existing}${existing && !existing.endsWith('\n') ? '\n' : ''}${lines.join('\n')}\n`, added };
}

export async function readTextIfExists(file: string): Promise<string> {
  return readFile(file, 'utf8').catch(() => '');
}

export async function writeAllowlist(file: string, text: string): Promise<void> {
  await writeFile(file, text);
}
