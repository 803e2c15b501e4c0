// slim xray: what an image is made of, as data (the CLI formats it).
import type { Image } from './image/archive.js';
import type { FileTree } from './image/tree.js';
import { showPath } from './paths.js';

export interface XrayReport {
  image: string;
  id: string;
  layers: Array<{ index: number; createdBy: string; bytes: number; wastedBytes: number; wastedFiles: number }>;
  files: { total: number; regular: number; dirs: number; symlinks: number; hardlinked: number; devices: number; bytes: number };
  largestDirs: Array<{ path: string; bytes: number }>;
  wastedBytes: number;
  caches: Array<{ path: string; bytes: number; kind: string }>;
  setuid: string[];
  capabilities: Array<{ path: string; xattr: string }>;
  warnings: string[];
}

const CACHES: Array<[RegExp, string]> = [
  [/^\/var\/lib\/apt\/lists$/, 'apt lists'],
  [/^\/var\/cache\/apt$/, 'apt cache (package caches, downloaded .debs)'],
  [/^\/(root|home\/[^/]+)\/\.cache\/pip$/, 'pip cache'],
  [/^\/(root|home\/[^/]+)\/\.npm$/, 'npm cache'],
  [/^\/(root|home\/[^/]+)\/\.cache\/yarn$/, 'yarn cache'],
  [/^\/usr\/local\/share\/\.cache\/yarn$/, 'yarn cache'],
];

export function xray(image: Image, tree: FileTree, top = 10): XrayReport {
  const dirBytes = new Map<string, number>();
  const inodes = new Map<number, number>();
  const files = { total: 0, regular: 0, dirs: 0, symlinks: 0, hardlinked: 0, devices: 0, bytes: 0 };
  const setuid: string[] = [];
  const capabilities: Array<{ path: string; xattr: string }> = [];
  for (const entry of tree.values()) {
    if (entry.path === '/') continue;
    files.total++;
    if (entry.type === 'dir') files.dirs++;
    if (entry.type === 'symlink') files.symlinks++;
    if (entry.type === 'char' || entry.type === 'block') files.devices++;
    if (entry.type !== 'file') continue;
    files.regular++;
    inodes.set(entry.inode, (inodes.get(entry.inode) ?? 0) + 1);
    if (inodes.get(entry.inode)! > 1) {
      files.hardlinked++;
      continue; // a hard link's bytes are stored once
    }
    files.bytes += entry.size;
    if (entry.mode & 0o6000) setuid.push(showPath(entry.path));
    const cap = entry.xattrs.get('security.capability');
    if (cap) capabilities.push({ path: showPath(entry.path), xattr: cap.toString('hex') });
    // Bytes count toward the top three levels of directories.
    const parts = entry.path.split('/').slice(1, -1);
    for (let depth = 1; depth <= Math.min(3, parts.length); depth++) {
      const dir = '/' + parts.slice(0, depth).join('/');
      dirBytes.set(dir, (dirBytes.get(dir) ?? 0) + entry.size);
    }
  }
  const caches: XrayReport['caches'] = [];
  for (const entry of tree.values()) {
    const kind = entry.type === 'dir' ? CACHES.find(([re]) => re.test(entry.path))?.[1] : undefined;
    if (!kind) continue;
    let bytes = 0;
    for (const p of tree.descendants(entry.path)) bytes += tree.get(p)!.type === 'file' ? tree.get(p)!.size : 0;
    if (bytes > 0) caches.push({ path: showPath(entry.path), bytes, kind });
  }
  const layers = image.layers.map((l) => {
    const waste = tree.waste.get(l.index);
    return { index: l.index, createdBy: l.createdBy ?? '', bytes: l.size, wastedBytes: waste?.bytes ?? 0, wastedFiles: waste?.files ?? 0 };
  });
  return {
    image: image.ref,
    id: image.id,
    layers,
    files,
    largestDirs: [...dirBytes].sort((a, b) => b[1] - a[1]).slice(0, top).map(([path, bytes]) => ({ path: showPath(path), bytes })),
    wastedBytes: layers.reduce((sum, l) => sum + l.wastedBytes, 0),
    caches,
    setuid: setuid.sort(),
    capabilities,
    warnings: tree.warnings,
  };
}
