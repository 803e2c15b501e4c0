// Reading the bytes of files in a flattened image, from the spooled layers.
import { open, type FileHandle } from 'node:fs/promises';
import type { Image } from './archive.js';
import type { FileEntry } from './tree.js';

/** Reads file contents of an image; the keep plan asks it for ELF headers, shebangs and configs. */
export interface ContentSource {
  /** Up to `limit` bytes of a regular file (all of it without a limit). */
  read(entry: FileEntry, limit?: number): Promise<Buffer>;
}

export interface ImageContent extends ContentSource, AsyncDisposable {}

export function imageContent(image: Image): ImageContent {
  const handles = new Map<number, Promise<FileHandle>>();
  return {
    async read(entry, limit = Infinity) {
      if (entry.type !== 'file' || !entry.content) return Buffer.alloc(0);
      const { layer, offset } = entry.content;
      let handle = handles.get(layer);
      if (!handle) handles.set(layer, (handle = open(image.layers[layer]!.file, 'r')));
      const length = Math.min(entry.size, limit);
      const buf = Buffer.alloc(length);
      const { bytesRead } = await (await handle).read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    },
    async [Symbol.asyncDispose]() {
      for (const handle of handles.values()) await (await handle).close();
      handles.clear();
    },
  };
}
