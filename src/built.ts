// The static binaries `npm install` builds from probes/ (slim-probe, slim-fs,
// the strace bundle), and the small archives they are copied into containers
// with: everything root-owned, mtime 0.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { readBody } from './image/entries.js';

/** Where `npm install` put the built probes. */
export function probeBinDir(): string {
  return join(dirname(dirname(fileURLToPath(import.meta.url))), 'probes', 'bin');
}

/** One entry of a copy-in archive: a directory (no data) or a file. */
export interface CopyEntry {
  path: string;
  mode: number;
  data?: Buffer;
}

/** A small tar archive of `entries` in memory: for Container putArchive, or an image's config and manifest. */
export async function copyArchive(entries: CopyEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { path, mode, data } of entries) pack.entry({ name: path, mode, uid: 0, gid: 0, mtime: new Date(0), type: data ? 'file' : 'directory' }, data ?? Buffer.alloc(0));
  pack.finalize();
  return readBody(pack as unknown as Readable);
}
