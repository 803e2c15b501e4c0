// An image as the build stages see it: its config, its flattened file tree,
// and the bytes of the files the plan and the writer ask for. Two sources
// implement it: the engine's layer directories (inventory.ts, reads only what
// is asked for, on this host or through a helper container) and a `docker
// save` archive spooled to disk (this file).
import { open, type FileHandle } from 'node:fs/promises';
import { flatten, type Image, type ImageConfig } from './archive.js';
import { readRange } from './tar.js';
import type { FileEntry, FileTree } from './tree.js';

/** Reads file contents of an image; the keep plan asks it for ELF headers, shebangs and configs. */
export interface ContentSource {
  /** Up to `limit` bytes of a regular file from `offset` (all of it without either). */
  read(entry: FileEntry, limit?: number, offset?: number): Promise<Buffer>;
  /** The first `limit` bytes of a regular file when they are in memory already (a head cache's), else undefined. */
  headNow?(entry: FileEntry, limit: number): Buffer | undefined;
}

export interface ImageSource extends ContentSource, AsyncDisposable {
  ref: string;
  /** Config digest (the engine's image ID). */
  id: string;
  config: ImageConfig;
  tree: FileTree;
  /** How the files are read, for reports. */
  via: 'layer directories' | 'layer directories, through a helper container' | 'docker save';
  /** Why docker save was used where the layer directories were wanted. */
  fallback?: string;
  /**
   * The whole bytes of regular files, in the order given, one iterable each;
   * each must be consumed before the next is taken.
   */
  files(entries: FileEntry[]): AsyncIterable<AsyncIterable<Buffer>>;
}

/** An image read from a `docker save` archive: every layer spooled, bytes read from the spool. */
export async function archiveSource(image: Image, fallback?: string): Promise<ImageSource> {
  // The spool goes with the image whether or not its layers make a tree.
  const tree = await flatten(image).catch(async (err: unknown) => {
    await image[Symbol.asyncDispose]();
    throw err;
  });
  const handles = new Map<number, Promise<FileHandle>>();
  const handle = (layer: number) => {
    let found = handles.get(layer);
    if (!found) handles.set(layer, (found = open(image.layers[layer]!.file, 'r')));
    return found;
  };
  return {
    ref: image.ref,
    id: image.id,
    config: image.config,
    tree,
    via: 'docker save',
    fallback,
    async read(entry, limit = Infinity, offset = 0) {
      if (entry.type !== 'file' || !entry.content) return Buffer.alloc(0);
      const length = Math.max(0, Math.min(entry.size - offset, limit));
      const buf = Buffer.alloc(length);
      const { bytesRead } = await (await handle(entry.content.layer)).read(buf, 0, length, entry.content.offset + offset);
      return buf.subarray(0, bytesRead);
    },
    async *files(entries) {
      for (const entry of entries) yield readRange(await handle(entry.content!.layer), entry.content!.offset, entry.size);
    },
    async [Symbol.asyncDispose]() {
      for (const found of handles.values()) await (await found).close();
      handles.clear();
      await image[Symbol.asyncDispose]();
    },
  };
}
