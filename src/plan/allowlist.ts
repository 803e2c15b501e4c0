// User allowlists: --include-path, --include-path-file (one pattern a line,
// '#' comments, '!' to exclude, 'pack NAME' to turn a pack on), --exclude-path.
import { readFile } from 'node:fs/promises';
import { SlimError } from '../errors.js';
import { bytePath } from '../paths.js';
import { globToRegExp } from './glob.js';

export interface Rule {
  pattern: string;
  exclude: boolean;
  /** Where it came from, for reasons and errors: "slim.allow:3" or "--include-path". */
  source: string;
}

export function parseRule(text: string, source: string, exclude = false): Rule {
  let pattern = text.trim();
  if (pattern.startsWith('!')) {
    exclude = !exclude;
    pattern = pattern.slice(1).trim();
  }
  if (!pattern.startsWith('/')) {
    throw new SlimError(`${source}: '${pattern}' is not an absolute path or glob`, { kind: 'usage', hint: 'write paths as they are inside the image, e.g. /usr/share/zoneinfo or /app/**/*.html' });
  }
  try {
    globToRegExp(pattern);
  } catch (err) {
    throw new SlimError(`${source}: ${(err as Error).message}`, { kind: 'usage' });
  }
  return { pattern: bytePath(pattern.replace(/\/+$/, '') || '/'), exclude, source };
}

export interface Allowlist {
  rules: Rule[];
  /** Packs turned on by "pack NAME" lines. */
  packs: string[];
}

export function parseAllowlist(text: string, file: string): Allowlist {
  const list: Allowlist = { rules: [], packs: [] };
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const pack = /^pack\s+(\S+)$/.exec(line);
    if (pack) list.packs.push(pack[1]!);
    else list.rules.push(parseRule(line, `${file}:${i + 1}`));
  }
  return list;
}

export async function readAllowlist(file: string): Promise<Allowlist> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new SlimError(`--include-path-file ${file}: cannot read the file`, { kind: 'usage', hint: 'pass an existing file, one path or glob a line' });
  }
  return parseAllowlist(text, file);
}
