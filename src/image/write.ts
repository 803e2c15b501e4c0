// Writes a single-layer image FROM scratch holding only the kept paths, as an
// archive `docker load` accepts. Deterministic: the same source and kept set
// give the same bytes, hence the same image ID.
import { createHash } from 'node:crypto';
import { once, type EventEmitter } from 'node:events';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { SlimError } from '../errors.js';
import { showPath } from '../paths.js';
import type { ContainerConfig, ImageConfig } from './archive.js';
import type { ImageSource } from './content.js';
import { fileSink, tarSize, TarWriter, type TarHeader } from './tar.js';
import { baseName, parentOf } from '../paths.js';
import type { FileEntry, FileTree } from './tree.js';

/** Config fields carried over from the source image. */
const CARRIED = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell', 'ArgsEscaped'] as const;

export const SOURCE_LABEL = 'io.slim.source';
export const SOURCE_ID_LABEL = 'io.slim.source-id';

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
    return { header: { name: `${dir === '/' ? '' : dir.slice(1) + '/'}.wh.${baseName(path)}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 0, linkname: '', devmajor: 0, devminor: 0, uname: '', gname: '', xattrs: new Map() } };
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

export interface SlimArchive {
  /** A `docker load` archive: the layer first, then the config and manifest that name its digest. */
  stream: Readable;
  /** Settles once the whole archive is written: the image ID and the layer. */
  done: Promise<{ id: string; layer: SlimLayer }>;
}

/**
 * Streams a one-layer image archive without a temporary copy of the layer:
 * its size is known up front, and its digest once it is written, which is
 * when the config that names it goes out (the engine reads the whole archive
 * before it looks at the manifest).
 */
export function slimImageArchive(source: ImageSource, entries: LayerEntry[], makeConfig: (layer: SlimLayer) => ImageConfig, onBytes?: (written: number, total: number) => void, base?: LayerFile): SlimArchive {
  const pack = tar.pack();
  const fixed = { mtime: new Date(0), mode: 0o644, uid: 0, gid: 0 };
  const size = tarSize(entries.map((e) => e.header));
  // A shared base goes first, as the lower layer; the archive has it as a file already.
  const baseCopied = base ? pipeline(createReadStream(base.path), pack.entry({ name: 'base/layer.tar', size: base.size, ...fixed })) : Promise.resolve();
  baseCopied.catch(() => {}); // awaited below
  let sink: ReturnType<typeof pack.entry> | undefined;
  // events.once rejects on 'error' and removes its listeners either way.
  let written = 0;
  const toSink = async (data: Buffer) => {
    // tar-stream takes one entry at a time: the layer's entry opens once the base is in.
    if (!sink) {
      await baseCopied;
      sink = pack.entry({ name: 'layer/layer.tar', size, ...fixed });
    }
    written += data.length;
    onBytes?.(written, size);
    if (!sink.write(data)) await once(sink as unknown as EventEmitter, 'drain');
  };
  const done = (async () => {
    try {
      const { digest } = await writeEntries(source, entries, new TarWriter(toSink));
      await new Promise<void>((resolve, reject) => sink!.end((err?: Error | null) => (err ? reject(err) : resolve())));
      const layer = { size, diffId: digest, files: entries.length };
      const configJson = Buffer.from(JSON.stringify(makeConfig(layer)));
      const id = createHash('sha256').update(configJson).digest('hex');
      pack.entry({ name: `${id}.json`, ...fixed }, configJson);
      pack.entry({ name: 'manifest.json', ...fixed }, JSON.stringify([{ Config: `${id}.json`, RepoTags: null, Layers: [...(base ? ['base/layer.tar'] : []), 'layer/layer.tar'] }]));
      pack.finalize();
      return { id: `sha256:${id}`, layer };
    } catch (err) {
      pack.destroy(err as Error);
      throw err;
    }
  })();
  return { stream: pack as unknown as Readable, done };
}
