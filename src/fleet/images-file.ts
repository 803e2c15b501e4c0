// --images-file: one image a line with its own flags, as they would follow
// `slim build` on a command line ('single' and "double" quotes, backslash
// escapes); blank lines and # comments are skipped.
import { readFile } from 'node:fs/promises';
import { SlimError } from '../errors.js';

export interface ImageLine {
  /** Where it came from, for errors: FILE:LINE. */
  where: string;
  words: string[];
}

/** Splits a line into words the way a POSIX shell does for quotes and backslashes (no expansions). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf(c, i + 1);
      if (end === -1) throw new Error(`unclosed ${c}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      // Inside double quotes a backslash escapes only another backslash, ", $ and `.
      let body = '';
      for (i++; i < line.length && line[i] !== '"'; i++) body += line[i] === '\\' && /[\\"$`]/.test(line[i + 1] ?? '') ? line[++i] : line[i];
      if (i >= line.length) throw new Error('unclosed "');
      word = (word ?? '') + body;
    } else if (c === '\\' && i + 1 < line.length) {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else word = (word ?? '') + c;
  }
  if (word !== undefined) words.push(word);
  return words;
}

export function parseImagesFile(text: string, file: string): ImageLine[] {
  const lines: ImageLine[] = [];
  text.split('\n').forEach((raw, i) => {
    const where = `${file}:${i + 1}`;
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    try {
      const words = splitWords(line);
      if (words[0]?.startsWith('-')) throw new Error('a line starts with the image, then its flags');
      lines.push({ where, words });
    } catch (err) {
      throw new SlimError(`${where}: ${(err as Error).message}`, { kind: 'usage', hint: 'write one image a line, then its flags: app:1 --http-probe /health --tag app:slim' });
    }
  });
  return lines;
}

export async function readImagesFile(file: string): Promise<ImageLine[]> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new SlimError(`reading --images-file ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, { kind: 'usage', hint: 'pass a file with one image a line' });
  });
  return parseImagesFile(text, file);
}
