// Reads an image from a `docker save` stream (or a file holding one): the
// legacy layout (manifest.json + <id>/layer.tar) and the OCI layout
// (index.json + blobs/sha256/...). Layers are spooled to disk uncompressed,
// so memory stays flat whatever the image size and the manifest may come last.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';
import tar from 'tar-stream';
import { SlimError } from '../errors.js';
import { readTarHeaders } from './tar.js';
import { FileTree } from './tree.js';

// The config types are shared with the engine, which reads the same fields from inspect.
export type { ContainerConfig, ImageConfig } from '../image-config.js';
import type { ImageConfig } from '../image-config.js';

export interface Layer {
  index: number;
  diffId: string;
  /** Uncompressed layer tar, spooled on disk. */
  file: string;
  size: number;
  createdBy?: string;
}

/** An image read from an archive. Disposing it removes its spool directory. */
export interface Image extends AsyncDisposable {
  ref: string;
  /** Config digest (the engine's image ID). */
  id: string;
  config: ImageConfig;
  layers: Layer[];
  repoTags: string[];
  spoolDir: string;
}

const IN_MEMORY = 1 << 20;

interface SpooledFile {
  path: string;
  /** sha256 and size of the bytes as stored, taken while spooling: a plain layer needs no second read. */
  digest: string;
  size: number;
}

interface Spooled {
  /** Small entries (manifests, configs, tiny layers) stay in memory. */
  small: Map<string, Buffer>;
  /** Larger entries are spooled to files. */
  files: Map<string, SpooledFile>;
}

/** A pass-through that hashes and counts what flows by. */
function digesting(): { stream: Transform; result: () => { digest: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return { stream, result: () => ({ digest: `sha256:${hash.digest('hex')}`, size }) };
}

/** Reads the tar entries of an archive stream, holding no large entry in memory. */
async function spoolArchive(source: Readable, dir: string, where: string): Promise<Spooled> {
  const small = new Map<string, Buffer>();
  const files = new Map<string, SpooledFile>();
  const extract = tar.extract();
  let count = 0;
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if (header.type !== 'file') {
      stream.resume();
      stream.on('end', next);
    } else if ((header.size ?? 0) < IN_MEMORY) {
      const chunks: Buffer[] = [];
      stream.on('data', (c) => chunks.push(c as Buffer));
      stream.on('error', () => {}); // reported by the pipeline below
      stream.on('end', () => {
        small.set(name, Buffer.concat(chunks));
        next();
      });
    } else {
      const path = join(dir, `blob-${count++}`);
      const counter = digesting();
      pipeline(stream, counter.stream, createWriteStream(path)).then(() => {
        files.set(name, { path, ...counter.result() });
        next();
      }, next);
    }
  });
  try {
    await pipeline(source, extract);
  } catch (err) {
    const message = (err as Error).message;
    throw new SlimError(`${where}: ${/unexpected end|premature|truncat/i.test(message) ? 'archive is truncated' : message}`, {
      hint: 'check that the archive was written completely (docker save -o FILE IMAGE)',
    });
  }
  return { small, files };
}

type Compression = 'none' | 'gzip' | 'zstd';

async function sniff(file: string): Promise<Compression> {
  const handle = await open(file, 'r');
  try {
    const magic = Buffer.alloc(4);
    await handle.read(magic, 0, 4, 0);
    if (magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
    if (magic.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await handle.close();
  }
}

/** zstd in plain JavaScript (fzstd): Node.js has zstd only from 22.15, and slim runs on 20. */
function zstdDecompress(where: string): Transform {
  const decoder = new ZstdDecompress();
  const fail = (err: unknown) => new SlimError(`${where}: the zstd layer cannot be decompressed (${(err as Error).message})`, { hint: 'check that the image was saved completely' });
  const stream = new Transform({
    transform(chunk: Buffer, _enc, done) {
      try {
        decoder.push(chunk);
        done();
      } catch (err) {
        done(fail(err));
      }
    },
    flush(done) {
      try {
        decoder.push(new Uint8Array(0), true);
        done();
      } catch (err) {
        done(fail(err));
      }
    },
  });
  // The decoder hands out views of its window, which it overwrites: copy them.
  decoder.ondata = (data) => void stream.push(Buffer.from(data));
  return stream;
}

const decompressor = (kind: Compression, where: string): Transform => (kind === 'gzip' ? zlib.createGunzip() : zstdDecompress(where));

/** Makes the layer an uncompressed file on disk and returns its diff_id. */
async function uncompressedLayer(spooled: SpooledFile, where: string): Promise<{ file: string; diffId: string; size: number }> {
  const kind = await sniff(spooled.path);
  if (kind === 'none') return { file: spooled.path, diffId: spooled.digest, size: spooled.size };
  const out = `${spooled.path}.tar`;
  const counter = digesting();
  await pipeline(createReadStream(spooled.path), decompressor(kind, where), counter.stream, createWriteStream(out));
  await rm(spooled.path);
  await rename(out, spooled.path);
  const { digest, size } = counter.result();
  return { file: spooled.path, diffId: digest, size };
}

function parseJson<T>(json: Map<string, Buffer>, name: string, where: string): T {
  const data = json.get(name);
  if (!data) throw new SlimError(`${where}: '${name}' is missing from the archive`);
  try {
    return JSON.parse(data.toString('utf8')) as T;
  } catch (err) {
    throw new SlimError(`${where}: '${name}' is not valid JSON (${(err as Error).message})`);
  }
}

interface ManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** Finds config and layer paths, from manifest.json, or from index.json for OCI-only archives. */
function locate(json: Map<string, Buffer>, where: string): ManifestEntry {
  if (json.has('manifest.json')) {
    const manifest = parseJson<ManifestEntry[]>(json, 'manifest.json', where);
    if (!Array.isArray(manifest) || manifest.length === 0) throw new SlimError(`${where}: manifest.json lists no image`);
    if (manifest.length > 1) throw new SlimError(`${where}: the archive holds ${manifest.length} images; slim reads one`, { hint: 'save a single image: docker save IMAGE' });
    return manifest[0]!;
  }
  if (!json.has('index.json')) throw new SlimError(`${where}: neither manifest.json nor index.json found: not an image archive`, { hint: 'create one with docker save -o FILE IMAGE' });
  const blob = (digest: string) => `blobs/${digest.replace(':', '/')}`;
  let node = parseJson<{ manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> }>(json, 'index.json', where);
  // An index may point to another index before it reaches the image manifest.
  for (let depth = 0; !node.config && depth < 4; depth++) {
    const next = node.manifests?.[0]?.digest;
    if (!next) throw new SlimError(`${where}: index.json names no manifest`);
    node = parseJson(json, blob(next), where);
  }
  if (!node.config || !node.layers) throw new SlimError(`${where}: OCI manifest has no config or layers`);
  return { Config: blob(node.config.digest), RepoTags: [], Layers: node.layers.map((l) => blob(l.digest)) };
}

/** Reads an image archive stream into an Image whose layers are spooled under a temp dir. */
export async function readImageArchive(source: Readable, ref: string, signal?: AbortSignal): Promise<Image> {
  const where = `reading image ${ref}`;
  const spoolDir = await mkdtemp(join(tmpdir(), 'slim-image-'));
  const dispose = () => rm(spoolDir, { recursive: true, force: true });
  const abort = () => source.destroy(signal?.reason as Error);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    signal?.throwIfAborted();
    const { small: json, files } = await spoolArchive(source, spoolDir, where);
    const entry = locate(json, where);
    const config = parseJson<ImageConfig>(json, entry.Config, where);
    const diffIds = config.rootfs?.diff_ids ?? [];
    if (diffIds.length !== entry.Layers.length) {
      throw new SlimError(`${where}: config lists ${diffIds.length} layers but the manifest has ${entry.Layers.length}`);
    }
    const history = (config.history ?? []).filter((h) => !h.empty_layer);
    const layers: Layer[] = [];
    for (const [index, name] of entry.Layers.entries()) {
      let spooled = files.get(name);
      const inMemory = json.get(name);
      if (!spooled && inMemory) {
        spooled = { path: join(spoolDir, `layer-${index}`), digest: `sha256:${createHash('sha256').update(inMemory).digest('hex')}`, size: inMemory.length };
        await writeFile(spooled.path, inMemory);
      }
      if (!spooled) throw new SlimError(`${where}: layer '${name}' named in the manifest is missing from the archive`);
      const layer = await uncompressedLayer(spooled, where);
      if (layer.diffId !== diffIds[index]) {
        throw new SlimError(`${where}: layer ${index} (${name}) has digest ${layer.diffId} but the config expects ${diffIds[index]}: the archive is corrupted`);
      }
      layers.push({ index, diffId: layer.diffId, file: layer.file, size: layer.size, createdBy: history[index]?.created_by });
    }
    const id = `sha256:${createHash('sha256').update(json.get(entry.Config)!).digest('hex')}`;
    return { ref, id, config, layers, repoTags: entry.RepoTags ?? [], spoolDir, [Symbol.asyncDispose]: dispose };
  } catch (err) {
    await dispose();
    throw signal?.aborted ? signal.reason : err;
  } finally {
    signal?.removeEventListener('abort', abort);
  }
}

/** Applies an image's layers oldest first into one file tree. */
export async function flatten(image: Image): Promise<FileTree> {
  const tree = new FileTree();
  for (const layer of image.layers) {
    const where = `reading image ${image.ref}: layer ${layer.index}`;
    const handle = await open(layer.file, 'r');
    try {
      const records = [];
      for await (const record of readTarHeaders(handle, where)) records.push(record);
      await tree.applyLayerInTurns(layer.index, records, where);
    } finally {
      await handle.close();
    }
  }
  return tree;
}
