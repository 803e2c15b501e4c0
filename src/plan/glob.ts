// Globs for allowlists and packs: `**` crosses directories, `*` and `?` do not,
// `[...]` is a class. Patterns are absolute byte-string paths.
import { SlimError } from '../errors.js';

export const isGlob = (pattern: string): boolean => /[*?[]/.test(pattern);

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
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
    literal.push(part);
  }
  const base = literal.join('/');
  return base === '' ? '/' : base;
}
