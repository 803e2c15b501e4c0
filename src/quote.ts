// Text built from what an image holds (paths) that ends up in a shell command
// or a line-based file: quoted or escaped so that it stays one word, one line.

// C0 controls and DEL, and the C1 controls, which some terminals act on.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;

export const hasControl = (text: string): boolean => /[\u0000-\u001f\u007f-\u009f]/.test(text);

/** Control characters as visible escapes (\n, \x1b): one printable line. */
export const escapeControl = (text: string): string =>
  text.replace(CONTROL, (c) => ({ '\n': '\\n', '\r': '\\r', '\t': '\\t' })[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);

/**
 * One POSIX shell word: plain words as they are, the rest single-quoted, with
 * quotes inside closed, escaped and reopened. Control characters are rejected:
 * a pasted newline would run the rest as another command.
 */
export function shellQuote(word: string): string {
  if (hasControl(word)) throw new Error(`cannot put ${JSON.stringify(word)} in a shell command: it holds control characters`);
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}
