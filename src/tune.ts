// Tuning: what the slim image looked for and did not find, where the original
// has it, becomes allowlist suggestions at the right granularity (a pack, a
// language package, or the exact path), merged into the text of a file users
// commit. Pure: the CLI reads and writes the file.
import type { FileTree } from './image/tree.js';
import { bytePath, parentOf, showPath } from './paths.js';
import { parseAllowlist, type Allowlist } from './plan/allowlist.js';
import { escapeControl, hasControl } from './quote.js';
import { globQuote, globToRegExp, isGlob, literalPath } from './plan/glob.js';
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
    // An allowlist is one path a line: a path with a newline in it could add lines of its own.
    if (hasControl(showPath(line))) return;
    if (!byLine.has(line)) byLine.set(line, new Set());
    byLine.get(line)!.add(escapeControl(showPath(path)));
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
  const probes = diverging.length ? ` (diverging: ${diverging.slice(0, 3).map(escapeControl).join(', ')}${diverging.length > 3 ? ', …' : ''})` : '';
  return [...byLine].sort(([a], [b]) => (a < b ? -1 : 1)).map(([line, paths]) => {
    const list = [...paths].slice(0, 2).join(', ');
    // The line is read back as a pattern: brackets and stars in a real path must stay plain.
    return { line: globQuote(showPath(line)), comment: `slim image looked for ${list}${paths.size > 2 ? ` and ${paths.size - 2} more` : ''}${probes}` };
  });
}

/** The tuning allowlist: its file name, its text, and what it says. */
export interface TuneAllowlist extends Allowlist {
  file: string;
  text: string;
}

export const tuneAllowlist = (file: string, text: string): TuneAllowlist => ({ file, text, ...parseAllowlist(text, file) });

/**
 * One tuning round's change to the allowlist: existing lines stay as they
 * are, new ones are appended in sorted order under their comment, and a line
 * already present (or covered by a pattern) is not repeated. A line or comment
 * never spans two lines, whatever the image's paths hold.
 */
export function addSuggestions(list: TuneAllowlist, suggestions: Suggestion[]): { list: TuneAllowlist; added: Suggestion[] } {
  const covered = (line: string) => {
    if (line.startsWith('pack ')) return list.packs.includes(line.slice(5));
    const path = bytePath(literalPath(line));
    return list.rules.some((r) => !r.exclude && (globToRegExp(r.pattern).test(path) || (!isGlob(r.pattern) && path.startsWith(`${literalPath(r.pattern)}/`))));
  };
  const added = suggestions.filter((s) => !hasControl(s.line) && !covered(s.line));
  if (added.length === 0) return { list, added };
  const lines = added.flatMap((s) => [`# ${escapeControl(s.comment)}`, s.line]);
  const existing = list.text;
  const header = existing.trim() === '' ? '# slim allowlist: what the slim image needs beyond what tracing saw. Commit it next to the Dockerfile.\n' : '';
  return { list: tuneAllowlist(list.file, `${header}${existing}${existing && !existing.endsWith('\n') ? '\n' : ''}${lines.join('\n')}\n`), added };
}
