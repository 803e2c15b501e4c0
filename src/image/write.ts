// Writes a single-layer image FROM scratch holding only the kept paths, as an
// archive `docker load` accepts. Deterministic: the same source and kept set
// give the same bytes, hence the same image ID.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { PassThrough, type Readable } from 'node:stream';
import tar from 'tar-stream';
import { copyArchive } from '../built.js';
import { SlimError } from '../errors.js';
import { showPath } from '../paths.js';
import type { ContainerConfig, ImageConfig } from './archive.js';
import type { ImageSource } from './content.js';
import { fileSink, NO_XATTRS, tarSize, TarWriter, type TarHeader } from './tar.js';
import { baseName, parentOf } from '../paths.js';
import type { FileEntry, FileTree } from './tree.js';

/** Config fields carried over from the source image. */
const CARRIED = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell', 'ArgsEscaped'] as const;

export const SOURCE_LABEL = 'io.slim.source';
export const SOURCE_ID_LABEL = 'io.slim.source-id';
/** Names what the slim layer's bytes follow from, so that an engine that has the layer is not sent it again. */
export const LAYER_KEY_LABEL = 'io.slim.layer-key';
/** Changes whenever the layer writer would write the same entries differently. */
const LAYER_FORMAT = 'slim-layer/1';

export interface SlimLayer {
  size: number;
  diffId: string;
  files: number;
}

/** One entry of the slim layer, and the source entry whose bytes it carries. */
export interface LayerEntry {
  header: TarHeader;
  bytesOf?: FileEntry;
  /** Bytes that replace the source's (a stripped ELF file); `header.size` is their length. */
  data?: Buffer;
}

/** A layer already written to a file (the shared base layer of a fleet): every image that uses it carries these bytes. */
export interface LayerFile extends SlimLayer {
  path: string;
}

const headerFor = (entry: FileEntry, name: string): TarHeader => ({
  name,
  type: entry.type,
  mode: entry.mode,
  uid: entry.uid,
  gid: entry.gid,
  size: entry.type === 'file' ? entry.size : 0,
  mtime: entry.mtime,
  linkname: entry.linkTarget ?? '',
  devmajor: entry.devMajor ?? 0,
  devminor: entry.devMinor ?? 0,
  uname: '',
  gname: '',
  xattrs: entry.xattrs,
});

/**
 * The slim layer's entries in archive order: sorted by path; the first kept
 * path of an inode carries the bytes and the others are hard links to it.
 */
export function layerEntries(tree: FileTree, keep: Iterable<string>): LayerEntry[] {
  return entriesOf(keep, (path) => tree.get(path), (entry) => entry.inode);
}

/**
 * layerEntries over entries that may come from several trees (a fleet's shared
 * base): `inodeOf` tells which entries are one file, across those trees.
 */
export function entriesOf(keep: Iterable<string>, lookup: (path: string) => FileEntry | undefined, inodeOf: (entry: FileEntry) => string | number): LayerEntry[] {
  const paths = [...new Set(keep)].filter((p) => p !== '/').sort();
  const firstOfInode = new Map<string | number, string>();
  return paths.map((path) => {
    const entry = lookup(path);
    if (!entry) throw new SlimError(`writing the slim layer: '${showPath(path)}' is not in the source image`);
    const header = headerFor(entry, path.slice(1) + (entry.type === 'dir' ? '/' : ''));
    if (entry.type !== 'file') return { header };
    const linkTo = firstOfInode.get(inodeOf(entry));
    if (linkTo !== undefined) return { header: { ...header, type: 'hardlink', size: 0, linkname: linkTo } };
    firstOfInode.set(inodeOf(entry), path.slice(1));
    return { header, bytesOf: entry };
  });
}

/** How an image's own layer differs from "every kept path": what a shared base holds, and stripped files. */
export interface LayerShape {
  /** The shared base layer under this one. */
  base?: LayerFile;
  /** Kept paths the base already holds, as this image has them. */
  inBase?: Set<string>;
  /** Base paths this image does not keep: hidden with whiteouts. */
  whiteouts?: string[];
  /** New bytes for files, by inode (stripped ELF files). */
  replaced?: Map<number, Buffer>;
}

/** Entries whose files get new bytes (stripped ELF files) where `bytesFor` has them. */
export const replaceBytes = (entries: LayerEntry[], bytesFor: (file: FileEntry) => Buffer | undefined): LayerEntry[] =>
  entries.map((e) => {
    const data = e.bytesOf && bytesFor(e.bytesOf);
    return data ? { ...e, header: { ...e.header, size: data.length }, data } : e;
  });

/** The entries of an image's own layer. */
export function shapedEntries(tree: FileTree, keep: Iterable<string>, shape: LayerShape = {}): LayerEntry[] {
  const own = [...keep].filter((p) => !shape.inBase?.has(p));
  const entries = replaceBytes(layerEntries(tree, own), (file) => shape.replaced?.get(file.inode));
  return shape.whiteouts?.length ? sortEntries([...entries, ...whiteoutEntries(shape.whiteouts)]) : entries;
}

/** Whiteout entries that hide `paths` of a lower layer (the OCI `.wh.` convention). */
export function whiteoutEntries(paths: string[]): LayerEntry[] {
  return paths.map((path) => {
    const dir = parentOf(path);
    return { header: { name: `${dir === '/' ? '' : dir.slice(1) + '/'}.wh.${baseName(path)}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '', devmajor: 0, devminor: 0, uname: '', gname: '', xattrs: NO_XATTRS } };
  });
}

/** Entries of one layer in archive order: by path, as layerEntries writes them. */
export const sortEntries = (entries: LayerEntry[]): LayerEntry[] => {
  const key = (e: LayerEntry) => e.header.name.replace(/\/$/, '');
  return [...entries].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
};

async function* single(data: Buffer): AsyncIterable<Buffer> {
  yield data;
}

/** Writes the entries, with file bytes from the source in the same order. */
async function writeEntries(source: Pick<ImageSource, 'files'>, entries: LayerEntry[], writer: TarWriter): Promise<{ size: number; digest: string }> {
  const bytes = source.files(entries.flatMap((e) => (e.bytesOf && !e.data ? [e.bytesOf] : [])))[Symbol.asyncIterator]();
  try {
    for (const { header, bytesOf, data } of entries) {
      if (data) {
        await writer.add(header, single(data));
        continue;
      }
      if (!bytesOf) {
        await writer.add(header);
        continue;
      }
      const next = await bytes.next();
      if (next.done) throw new SlimError(`writing the slim layer: the source ended before '${showPath(header.name)}'`);
      await writer.add(header, next.value);
    }
    return await writer.finish();
  } finally {
    await bytes.return?.();
  }
}

/** Writes a layer to a file; `source` gives the bytes of the entries' files, in order. */
export async function writeLayerFile(path: string, source: Pick<ImageSource, 'files'>, entries: LayerEntry[]): Promise<LayerFile> {
  const file = await open(path, 'w');
  try {
    const { size, digest } = await writeEntries(source, entries, new TarWriter(fileSink(file)));
    return { path, size, diffId: digest, files: entries.length };
  } finally {
    await file.close();
  }
}

/** The slim image's config: the source's runtime config, its layer (on a shared base), a label naming the source. */
export function slimConfig(image: Pick<ImageSource, 'ref' | 'id' | 'config'>, layer: SlimLayer, extraLabels: Record<string, string> = {}, base?: SlimLayer): ImageConfig {
  const source = image.config.config ?? {};
  const config: ContainerConfig = {};
  for (const key of CARRIED) if (source[key] !== undefined && source[key] !== null) (config as Record<string, unknown>)[key] = source[key];
  config.Labels = { ...(source.Labels ?? {}), [SOURCE_LABEL]: image.ref, [SOURCE_ID_LABEL]: image.id, ...extraLabels };
  const created = image.config.created ?? '1970-01-01T00:00:00Z';
  return {
    architecture: image.config.architecture ?? 'amd64',
    os: image.config.os ?? 'linux',
    ...(image.config.variant ? { variant: image.config.variant } : {}),
    created,
    config,
    rootfs: { type: 'layers', diff_ids: [...(base ? [base.diffId] : []), layer.diffId] },
    history: [
      ...(base ? [{ created: '1970-01-01T00:00:00Z', created_by: 'slim build --shared-base', comment: `slim: shared base layer, ${base.files} paths` }] : []),
      { created, created_by: `slim build ${image.ref}`, comment: `slim: ${layer.files} paths kept from ${image.id}` },
    ],
  };
}

export interface WrittenImage {
  /** The image ID: the digest of its config. */
  id: string;
  layer: SlimLayer;
}

export interface SlimArchive {
  /** A `docker load` archive: the layer first, then the config and manifest that name its digest. */
  stream: Readable;
  /** Settles once the whole archive is written. */
  done: Promise<WrittenImage>;
}

/** The image's own layer alone, streamed; once written, the archive that names it without carrying it. */
export interface LayerAlone {
  stream: Readable;
  done: Promise<WrittenImage & { withoutLayer: Buffer }>;
}

/** The slim image as outputs take it: streamed anew from the source each time one asks. */
export interface SlimImageStreams {
  /** The layer key (LAYER_KEY_LABEL) of its own layer, and that layer's size and entries, known before it is written. */
  key: string;
  layerSize: number;
  files: number;
  archive(): SlimArchive;
  /** The archive of config and manifest that names `layer` without carrying it, for an engine that has it. */
  named(layer: SlimLayer): Promise<{ id: string; archive: Buffer }>;
  /**
   * For an engine that takes the layer first and the image by name after; undefined
   * when a shared base lies under the layer (the engine would not find the pair).
   */
  layerAlone(): LayerAlone | undefined;
}

const FIXED = { mtime: new Date(0), mode: 0o644, uid: 0, gid: 0 };
const LAYER_NAME = 'layer/layer.tar';
const BASE_NAME = 'base/layer.tar';

/**
 * The layer tar of `size` bytes (known up front from the headers), streamed as
 * the source's bytes come; its digest once it is written.
 */
function layerTar(source: Pick<ImageSource, 'files'>, entries: LayerEntry[], size: number, onBytes?: (written: number, total: number) => void): { stream: Readable; done: Promise<SlimLayer> } {
  const stream = new PassThrough({ highWaterMark: 1 << 20 });
  let written = 0;
  const stopped = () => new SlimError('writing the slim layer: its reader stopped');
  const toStream = async (data: Buffer) => {
    // Destroyed before this write (an abort, a refused import): 'close' has been and gone.
    if (stream.destroyed) throw stopped();
    written += data.length;
    onBytes?.(written, size);
    if (stream.write(data)) return;
    // A reader that went away never drains: its close ends the wait.
    await new Promise<void>((resolve, reject) => {
      const drained = () => { stream.off('close', closed); resolve(); };
      const closed = () => { stream.off('drain', drained); reject(stopped()); };
      stream.once('drain', drained).once('close', closed);
    });
  };
  const done = (async () => {
    const { digest } = await writeEntries(source, entries, new TarWriter(toStream));
    stream.end();
    return { size, diffId: digest, files: entries.length };
  })();
  done.catch((err: Error) => stream.destroy(err));
  return { stream, done };
}

/** The config and manifest of an image archive whose layers are `layerNames` in the order of the config's diff_ids. */
function namingFiles(config: ImageConfig, layerNames: string[]): { id: string; files: Array<{ name: string; data: Buffer }> } {
  const configJson = Buffer.from(JSON.stringify(config));
  const id = createHash('sha256').update(configJson).digest('hex');
  const manifest = [{ Config: `${id}.json`, RepoTags: null, Layers: layerNames }];
  return { id: `sha256:${id}`, files: [{ name: `${id}.json`, data: configJson }, { name: 'manifest.json', data: Buffer.from(JSON.stringify(manifest)) }] };
}

/**
 * The layer key: the source image (its ID fixes every file's bytes), every entry's
 * header, the bytes that replace a source file's, and the writer's format.
 */
export function layerKey(sourceId: string, entries: LayerEntry[]): string {
  const hash = createHash('sha256').update(`${LAYER_FORMAT}\n${sourceId}\n`);
  for (const { header: h, data } of entries) {
    const xattrs = [...h.xattrs].map(([k, v]) => [k, v.toString('base64')]);
    hash.update(JSON.stringify([h.name, h.type, h.mode, h.uid, h.gid, h.size, h.mtime, h.linkname, h.devmajor, h.devminor, xattrs, data ? createHash('sha256').update(data).digest('hex') : null]));
    hash.update('\n');
  }
  return `sha256:${hash.digest('hex')}`;
}

/**
 * The slim image's streams. Each reads the kept files from the source again;
 * the bytes, hence the IDs, are the same every time.
 */
export function slimImageStreams(source: ImageSource, entries: LayerEntry[], makeConfig: (layer: SlimLayer) => ImageConfig, opts: { onBytes?: (written: number, total: number) => void; base?: LayerFile; signal?: AbortSignal } = {}): SlimImageStreams {
  const { onBytes, base, signal } = opts;
  const layerNames = [...(base ? [BASE_NAME] : []), LAYER_NAME];
  const key = layerKey(source.id, entries);
  const layerSize = tarSize(entries.map((e) => e.header));
  // The key goes into the config, so an engine that holds the image holds the key to its layer.
  const configOf = (layer: SlimLayer): ImageConfig => {
    const config = makeConfig(layer);
    return { ...config, config: { ...config.config, Labels: { ...config.config?.Labels, [LAYER_KEY_LABEL]: key } } };
  };
  const named = async (layer: SlimLayer) => {
    const image = namingFiles(configOf(layer), layerNames);
    return { id: image.id, archive: await copyArchive(image.files.map((f) => ({ path: f.name, mode: FIXED.mode, data: f.data }))) };
  };
  /**
   * A stream as the caller gets it: ended when the run is torn down (whoever reads it stops, and
   * so does the reading of the source), its errors told through `done` alone: the engine's request
   * that pipes one listens for none, and an 'error' nobody hears would end the process (Ctrl-C
   * mid-fleet did).
   */
  const handOver = (stream: Readable) => {
    stream.on('error', () => {});
    const stop = () => stream.destroy(signal?.reason as Error);
    signal?.addEventListener('abort', stop, { once: true });
    stream.once('close', () => signal?.removeEventListener('abort', stop));
    if (signal?.aborted) stop();
  };
  return {
    key,
    layerSize,
    files: entries.length,
    named,
    archive() {
      // The engine reads the whole archive before it looks at the manifest: the config that names the layer's digest goes last.
      const pack = tar.pack();
      const done = (async () => {
        try {
          if (base) await pipeline(createReadStream(base.path), pack.entry({ name: BASE_NAME, size: base.size, ...FIXED }));
          const layer = layerTar(source, entries, layerSize, onBytes);
          const [, written] = await Promise.all([pipeline(layer.stream, pack.entry({ name: LAYER_NAME, size: layerSize, ...FIXED })), layer.done]);
          const image = namingFiles(configOf(written), layerNames);
          for (const file of image.files) pack.entry({ name: file.name, ...FIXED }, file.data);
          pack.finalize();
          return { id: image.id, layer: written };
        } catch (err) {
          pack.destroy(err as Error);
          throw err;
        }
      })();
      handOver(pack as unknown as Readable);
      return { stream: pack as unknown as Readable, done };
    },
    layerAlone() {
      if (base) return undefined;
      const layer = layerTar(source, entries, layerSize, onBytes);
      const done = layer.done.then(async (written) => {
        const image = await named(written);
        return { id: image.id, layer: written, withoutLayer: image.archive };
      });
      handOver(layer.stream);
      return { stream: layer.stream, done };
    },
  };
}
