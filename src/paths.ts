// Paths inside an image: absolute byte strings (each byte one latin1 char, as
// tar names are), with their printable and typed forms. One place for all of them.

/** Printable form of a byte-string path (see image/tar.ts). */
export const showPath = (path: string): string => Buffer.from(path, 'latin1').toString('utf8');

/** Byte-string form of a path typed by a user (UTF-8). */
export const bytePath = (path: string): string => Buffer.from(path, 'utf8').toString('latin1');

export const parentOf = (path: string): string => {
  const cut = path.lastIndexOf('/');
  return cut <= 0 ? '/' : path.slice(0, cut);
};
export const baseName = (path: string): string => path.slice(path.lastIndexOf('/') + 1);
export const joinPath = (dir: string, name: string): string => (dir === '/' ? `/${name}` : `${dir}/${name}`);

/** Resolves a relative or absolute path against a directory, lexically ('..' stops at the root). */
export function resolvePath(dir: string, path: string): string {
  let out = path.startsWith('/') ? '/' : dir;
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    out = part === '..' ? parentOf(out) : joinPath(out, part);
  }
  return out;
}

/** All ancestors of a path, nearest first, excluding the root. */
export function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let p = parentOf(path); p !== '/'; p = parentOf(p)) out.push(p);
  return out;
}
