// The shared base layer of a fleet run, written once: every image of the run
// waits here with its keep plan (or leaves, having failed); when all have, the
// base is planned over their kept entries (shared-base.ts), written to one
// file, and each image gets the shape of its own layer on top of it. Written
// once, the base is byte-identical in every image, so its digest is too.
import { createHash } from 'node:crypto';
import type { ImageSource } from '../image/content.js';
import type { FileEntry } from '../image/tree.js';
import { entriesOf, replaceBytes, writeLayerFile, type LayerFile, type LayerShape } from '../image/write.js';
import { hiddenBase, planSharedBase, type FleetEntry } from './shared-base.js';

export interface BaseMember {
  source: ImageSource;
  kept: Set<string>;
  /** New bytes of files by inode (--strip): what the image holds, so what is compared and shared. */
  replaced?: Map<number, Buffer>;
}

export interface SharedBaseLayer {
  layer: LayerFile;
  paths: string[];
  /** For each image of the run: the base paths it holds as the base has them. */
  held: Array<Set<string>>;
  /** Bytes of file content in the base. */
  bytes: number;
}

async function contentDigest(member: BaseMember, entry: FileEntry): Promise<string> {
  const hash = createHash('sha256');
  const data = member.replaced?.get(entry.inode);
  if (data) hash.update(data);
  else for await (const bytes of member.source.files([entry])) for await (const chunk of bytes) hash.update(chunk);
  return hash.digest('hex');
}

/**
 * Plans and writes the base over the members that are there (undefined: the
 * image failed); `minImages` of them must hold an entry identically for it to
 * be shared. Undefined when fewer than two images remain or nothing is shared.
 */
export async function writeSharedBase(members: Array<BaseMember | undefined>, file: string, minImages: number): Promise<SharedBaseLayer | undefined> {
  const present = members.flatMap((m, i) => (m ? [{ ...m, index: i }] : []));
  if (present.length < 2) return undefined;
  const maps = present.map((m) => new Map<string, FleetEntry>([...m.kept].flatMap((p) => {
    const e = p === '/' ? undefined : m.source.tree.get(p);
    const size = e && m.replaced?.get(e.inode)?.length;
    return e ? [[p, size === undefined ? e : { ...e, size }] as [string, FleetEntry]] : [];
  })));
  const plan = await planSharedBase(maps, (i, entry) => contentDigest(present[i]!, entry as FileEntry), minImages);
  if (plan.base.length === 0) return undefined;
  // Each base path is written as the first image holding it has it; hard links are one file within that image.
  const ownPaths = plan.own.map((o) => new Set(o.paths));
  const holds = (i: number, path: string) => present[i]!.kept.has(path) && !ownPaths[i]!.has(path);
  const owner = new Map(plan.base.map((path) => [path, present[present.findIndex((_, i) => holds(i, path))]!]));
  const entryOf = (path: string) => owner.get(path)!.source.tree.get(path);
  const memberOf = new Map(plan.base.map((path) => [entryOf(path)!, owner.get(path)!]));
  const entries = replaceBytes(entriesOf(plan.base, entryOf, (e) => `${memberOf.get(e)!.index}:${e.inode}`), (file) => memberOf.get(file)!.replaced?.get(file.inode));
  const layer = await writeLayerFile(file, {
    async *files(wanted) {
      for (const entry of wanted) yield* memberOf.get(entry)!.source.files([entry]);
    },
  }, entries);
  const held = members.map(() => new Set<string>());
  present.forEach((m, i) => {
    for (const path of plan.base) if (holds(i, path)) held[m.index]!.add(path);
  });
  return { layer, paths: plan.base, held, bytes: plan.baseBytes };
}

/** The shape of image `index`'s own layer on the base: what the base holds for it, and whiteouts for what it does not keep. */
export function shapeOnBase(base: SharedBaseLayer, index: number, kept: Set<string>): LayerShape {
  return { base: base.layer, inBase: base.held[index]!, whiteouts: hiddenBase(base.paths, kept) };
}

/**
 * The meeting point of a fleet's builds: `join` waits until every image has
 * joined or left, then all get the same base (or undefined: nothing shared).
 */
export class SharedBaseBarrier {
  private readonly members: Array<BaseMember | undefined>;
  private readonly arrived = new Set<number>();
  private readonly ready: Promise<SharedBaseLayer | undefined>;
  private release!: () => void;

  constructor(count: number, file: string, minImages: number, signal?: AbortSignal) {
    this.members = new Array<BaseMember | undefined>(count).fill(undefined);
    const all = new Promise<void>((resolve) => (this.release = resolve));
    this.ready = all.then(() => {
      signal?.throwIfAborted();
      return writeSharedBase(this.members, file, minImages);
    });
    this.ready.catch(() => {}); // every joiner awaits it
    if (count === 0) this.release();
  }

  join(index: number, member: BaseMember): Promise<SharedBaseLayer | undefined> {
    this.members[index] = member;
    this.arrive(index);
    return this.ready;
  }

  /** Image `index` will not join (it failed before its plan); nothing when it already has. */
  leave(index: number): void {
    this.arrive(index);
  }

  private arrive(index: number): void {
    if (this.arrived.has(index)) return;
    this.arrived.add(index);
    if (this.arrived.size === this.members.length) this.release();
  }
}
