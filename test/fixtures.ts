// Generated fixtures: layer tars and image archives built in code, so that
// nasty inputs (whiteouts, hard links, odd names, xattrs) are exact and reviewable.
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tar from 'tar-stream';
import { fileSink, TarWriter, type TarHeader } from '../src/image/tar.js';

export type Spec = Partial<TarHeader> & { name: string; data?: Buffer | string };

export const header = (spec: Spec): TarHeader => ({
  type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0, uname: '', gname: '', xattrs: new Map(),
  ...spec,
  size: spec.data === undefined ? 0 : Buffer.from(spec.data).length,
});

const tempDirs = new Set<string>();

/** A fresh directory, removed when the test file is done (test/temp-cleanup.ts). */
export async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'slim-test-'));
  tempDirs.add(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  for (const dir of tempDirs) await rm(dir, { recursive: true, force: true });
  tempDirs.clear();
}

/** Writes a layer tar with our codec; returns the file path. */
export async function layerFile(dir: string, name: string, entries: Spec[]): Promise<string> {
  const file = join(dir, name);
  const handle = await open(file, 'w');
  const writer = new TarWriter(fileSink(handle));
  for (const e of entries) {
    const h = header(e);
    await writer.add(h, e.data === undefined ? undefined : (async function* () { yield Buffer.from(e.data!); })());
  }
  await writer.finish();
  await handle.close();
  return file;
}

/** A `docker save`-style archive (legacy layout) of the given layer files. */
export async function imageArchiveFile(dir: string, layers: string[], opts: { corruptDigest?: boolean; repoTags?: string[]; compress?: (layer: Buffer) => Buffer } = {}): Promise<string> {
  const raw = await Promise.all(layers.map((l) => readFile(l)));
  const diffIds = raw.map((b) => `sha256:${createHash('sha256').update(b).digest('hex')}`);
  const blobs = opts.compress ? raw.map(opts.compress) : raw;
  if (opts.corruptDigest) diffIds[0] = `sha256:${'0'.repeat(64)}`;
  const config = Buffer.from(JSON.stringify({
    architecture: 'amd64', os: 'linux', created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['/bin/app'], Env: ['PATH=/usr/bin:/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: layers.map((_, i) => ({ created_by: `layer ${i}` })),
  }));
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const pack = tar.pack();
  pack.entry({ name: configName }, config);
  blobs.forEach((b, i) => pack.entry({ name: `l${i}/layer.tar` }, b));
  pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: configName, RepoTags: opts.repoTags ?? ['fixture:latest'], Layers: blobs.map((_, i) => `l${i}/layer.tar`) }]));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  const file = join(dir, 'image.tar');
  await writeFile(file, Buffer.concat(chunks));
  return file;
}

/**
 * A zstd frame of raw (stored) blocks, written by hand: a valid zstd stream on
 * any Node.js, for the decoder path, without a compressor.
 */
export function zstdFrame(data: Buffer): Buffer {
  const MAX_BLOCK = 100_000;
  const magic = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
  // Frame header: no content size, no checksum, no dictionary; a 128 KiB window (2^(10+7)).
  const header = Buffer.from([0x00, 7 << 3]);
  const blocks: Buffer[] = [];
  for (let at = 0; at < data.length || blocks.length === 0; at += MAX_BLOCK) {
    const chunk = data.subarray(at, at + MAX_BLOCK);
    const last = at + MAX_BLOCK >= data.length ? 1 : 0;
    const blockHeader = (chunk.length << 3) | (0 << 1) | last; // type 0: raw
    blocks.push(Buffer.from([blockHeader & 0xff, (blockHeader >> 8) & 0xff, (blockHeader >> 16) & 0xff]), chunk);
  }
  return Buffer.concat([magic, header, ...blocks]);
}
