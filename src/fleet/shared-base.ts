// A shared base layer for a fleet: the kept entries that are the same in
// enough of the images (same path, same metadata, same content) go into one
// layer with the same digest in every slim image, so a node stores and pulls
// it once. Each image's own layer goes on top: what it has that the base does
// not, its own version where it differs, and a whiteout for base entries it did
// not keep. Pure: entries in, the split out; file contents are hashed through
// an injected function, and only for entries whose metadata already agree.
import type { FileEntry } from '../image/tree.js';
import { parentOf } from '../paths.js';

/** What of a kept entry decides whether two images hold the same thing (the tree's own entries fit). */
export type FleetEntry = Pick<FileEntry, 'path' | 'mode' | 'uid' | 'gid' | 'size' | 'mtime' | 'linkTarget' | 'devMajor' | 'devMinor' | 'xattrs' | 'inode'> & {
  type: FileEntry['type'] | 'hardlink';
};

export interface SharedBasePlan {
  /** Paths of the base layer, in every image that uses it. */
  base: string[];
  /** For each image: the paths of its own layer, and the base paths it hides with whiteouts. */
  own: Array<{ paths: string[]; whiteouts: string[] }>;
  /** Bytes of file content in the base layer. */
  baseBytes: number;
}

const metadataKey = (e: FleetEntry): string =>
  JSON.stringify([e.type, e.mode, e.uid, e.gid, e.size, e.mtime, e.linkTarget ?? '', e.devMajor ?? 0, e.devMinor ?? 0,
    [...e.xattrs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, v.toString('base64')])]);


/**
 * Splits the kept entries of `images` into a shared base and per-image layers.
 * `minImages` is how many images must hold an identical entry for it to be shared
 * (all of them by default); `digest` returns a file's content digest.
 */
export async function planSharedBase(
  images: Array<Map<string, FleetEntry>>,
  digest: (image: number, entry: FleetEntry) => Promise<string>,
  minImages = images.length,
): Promise<SharedBasePlan> {
  const need = Math.max(2, Math.min(minImages, images.length));
  // For each path: the images whose entry agrees with the most common version of it.
  const holders = new Map<string, number[]>();
  const allPaths = new Set(images.flatMap((m) => [...m.keys()]));
  for (const path of [...allPaths].sort()) {
    const byKey = new Map<string, number[]>();
    images.forEach((m, i) => {
      const e = m.get(path);
      if (!e) return;
      const key = metadataKey(e);
      byKey.set(key, [...(byKey.get(key) ?? []), i]);
    });
    let best: number[] = [];
    for (const group of byKey.values()) {
      if (group.length < need) continue;
      const entry = images[group[0]!]!.get(path)!;
      if (entry.type !== 'file') {
        if (group.length > best.length) best = group;
        continue;
      }
      const byDigest = new Map<string, number[]>();
      for (const i of group) {
        const d = await digest(i, images[i]!.get(path)!);
        byDigest.set(d, [...(byDigest.get(d) ?? []), i]);
      }
      for (const same of byDigest.values()) if (same.length >= need && same.length > best.length) best = same;
    }
    if (best.length >= need) holders.set(path, best);
  }

  // A hard-link group must live in one layer: share it only if every member is shared by the same images.
  for (let changed = true; changed;) {
    changed = false;
    images.forEach((m, i) => {
      const groups = new Map<number, string[]>();
      for (const e of m.values()) if (e.type === 'file' || e.type === 'hardlink') groups.set(e.inode, [...(groups.get(e.inode) ?? []), e.path]);
      for (const paths of groups.values()) {
        if (paths.length < 2) continue;
        const shared = paths.filter((p) => holders.get(p)?.includes(i));
        if (shared.length > 0 && shared.length < paths.length) {
          for (const p of shared) holders.delete(p);
          changed = true;
        }
      }
    });
  }

  // A base entry whose parent directory is not in the base still works (the engine creates missing
  // parents, and each image's own layer carries its own version of the directory).
  const base = [...holders.keys()].sort();
  // A hard-linked file's bytes count once.
  const counted = new Set<string>();
  const baseBytes = base.reduce((sum, p) => {
    const holder = holders.get(p)![0]!;
    const e = images[holder]!.get(p)!;
    const inode = `${holder}:${e.inode}`;
    if (e.type !== 'file' || counted.has(inode)) return sum;
    counted.add(inode);
    return sum + e.size;
  }, 0);
  const own = images.map((m, i) => ({ paths: [...m.keys()].filter((p) => !holders.get(p)?.includes(i)).sort(), whiteouts: hiddenBase(base, m) }));
  return { base, own, baseBytes };
}

/** The base entries an image that keeps `kept` must hide; a hidden directory hides what is below it. */
export function hiddenBase(base: string[], kept: { has(path: string): boolean }): string[] {
  const missing = base.filter((p) => !kept.has(p));
  const hidden = new Set(missing);
  return missing.filter((p) => !hidden.has(parentOf(p)));
}
