// Writes a single-layer image FROM scratch holding only the kept paths, as an
// archive `docker load` accepts. Deterministic: the same source and kept set
// give the same bytes, hence the same image ID.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { SlimError, showPath } from '../errors.js';
import type { ContainerConfig, Image, ImageConfig } from './archive.js';
import { readRange, TarFileWriter, type TarHeader } from './tar.js';
import type { FileEntry, FileTree } from './tree.js';

/** Config fields carried over from the source image. */
const CARRIED = ['User', 'Env', 'Entrypoint', 'Cmd', 'WorkingDir', 'ExposedPorts', 'Volumes', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell', 'ArgsEscaped'] as const;

export const SOURCE_LABEL = 'io.slim.source';
export const SOURCE_ID_LABEL = 'io.slim.source-id';

export interface SlimLayer {
  file: string;
  size: number;
  diffId: string;
  files: number;
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

/** Writes the kept paths of `tree` as one layer tar at `file`. */
export async function writeLayer(image: Image, tree: FileTree, keep: Iterable<string>, file: string): Promise<SlimLayer> {
  const paths = [...new Set(keep)].filter((p) => p !== '/').sort();
  const handles = new Map<number, FileHandle>();
  const layerFile = async (index: number) => {
    let handle = handles.get(index);
    if (!handle) handles.set(index, (handle = await open(image.layers[index]!.file, 'r')));
    return handle;
  };
  const out = await open(file, 'w');
  try {
    const writer = new TarFileWriter(out);
    // The first kept path of an inode carries the bytes; the others link to it.
    const firstOfInode = new Map<number, string>();
    for (const path of paths) {
      const entry = tree.get(path);
      if (!entry) throw new SlimError(`writing the slim layer: '${showPath(path)}' is not in the source image`);
      const name = path.slice(1) + (entry.type === 'dir' ? '/' : '');
      const header = headerFor(entry, name);
      if (entry.type !== 'file') {
        await writer.add(header);
        continue;
      }
      const linkTo = firstOfInode.get(entry.inode);
      if (linkTo !== undefined) {
        await writer.add({ ...header, type: 'hardlink', size: 0, linkname: linkTo });
        continue;
      }
      firstOfInode.set(entry.inode, path.slice(1));
      const content = entry.content!;
      await writer.add(header, readRange(await layerFile(content.layer), content.offset, entry.size));
    }
    const { size, digest } = await writer.finish();
    return { file, size, diffId: digest, files: paths.length };
  } finally {
    await out.close();
    for (const handle of handles.values()) await handle.close();
  }
}

/** The slim image's config: the source's runtime config, one layer, a label naming the source. */
export function slimConfig(image: Image, layer: SlimLayer, extraLabels: Record<string, string> = {}): ImageConfig {
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
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: `slim build ${image.ref}`, comment: `slim: ${layer.files} paths kept from ${image.id}` }],
  };
}

/** A loadable archive (legacy docker layout) of a config and one layer. */
export async function imageArchive(config: ImageConfig, layer: SlimLayer): Promise<{ stream: Readable; id: string }> {
  const configJson = Buffer.from(JSON.stringify(config));
  const id = createHash('sha256').update(configJson).digest('hex');
  const layerDir = layer.diffId.replace('sha256:', '');
  const manifest = Buffer.from(JSON.stringify([{ Config: `${id}.json`, RepoTags: null, Layers: [`${layerDir}/layer.tar`] }]));
  const pack = tar.pack();
  const fixed = { mtime: new Date(0), mode: 0o644, uid: 0, gid: 0 };
  pack.entry({ name: `${id}.json`, ...fixed }, configJson);
  pack.entry({ name: `${layerDir}/`, type: 'directory', ...fixed, mode: 0o755 });
  const { size } = await stat(layer.file);
  const sink = pack.entry({ name: `${layerDir}/layer.tar`, size, ...fixed }, (err) => {
    if (err) {
      pack.destroy(err);
      return;
    }
    pack.entry({ name: 'manifest.json', ...fixed }, manifest);
    pack.finalize();
  });
  createReadStream(layer.file).on('error', (err) => pack.destroy(err)).pipe(sink);
  return { stream: pack as unknown as Readable, id: `sha256:${id}` };
}

export const layerPath = (image: Image): string => join(image.spoolDir, 'slim-layer.tar');
