// The static binaries `npm install` builds from probes/ (slim-probe, slim-fs,
// the strace bundle), and the small archives they are copied into containers
// with: everything root-owned, mtime 0.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import tar from 'tar-stream';

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

/** A tar archive of `entries` for Container putArchive. */
export async function copyArchive(entries: CopyEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const { path, mode, data } of entries) pack.entry({ name: path, mode, uid: 0, gid: 0, mtime: new Date(0), type: data ? 'file' : 'directory' }, data ?? Buffer.alloc(0));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as unknown as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}
