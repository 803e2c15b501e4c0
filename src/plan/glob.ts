// Globs for allowlists and packs: `**` crosses directories, `*` and `?` do not,
// `[...]` is a class, and a backslash makes the next character plain (a path
// like /app/[id]/page.js is written /app/\[id]/page.js). Patterns are absolute
// byte-string paths.
import { SlimError } from '../errors.js';

const SPECIAL = /[*?[\\]/;

/** Whether a pattern has a wildcard that is not escaped. */
export const isGlob = (pattern: string): boolean => /(^|[^\\])(\\\\)*[*?[]/.test(pattern);

/** The path a pattern without wildcards names: its escapes removed. */
export const literalPath = (pattern: string): string => pattern.replace(/\\(.)/g, '$1');

/** A path written as a pattern that matches exactly it. */
export const globQuote = (path: string): string => (SPECIAL.test(path) ? path.replace(/[*?[\\]/g, '\\$&') : path);

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) {
      re += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (c === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) throw new SlimError(`'${pattern}': unclosed '[' in glob`, { kind: 'usage' });
      const body = pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\');
      re += `[${body}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The literal directory a glob starts with, to avoid scanning the whole tree. */
export function globBase(pattern: string): string {
  const parts = pattern.split('/');
  const literal: string[] = [];
  for (const part of parts) {
    if (isGlob(part)) break;
    literal.push(literalPath(part));
  }
  const base = literal.join('/');
  return base === '' ? '/' : base;
}
