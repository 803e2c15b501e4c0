// Rebuild: the kept paths of an image become a new single-layer image, written
// to each output (loaded into the engine by default); nothing is written under
// its final name (tag, file, directory) unless the image is complete.
import type { Engine } from './engine.js';
import { SlimError, withContext } from './errors.js';
import type { ImageSource } from './image/content.js';
import { checkImageRef } from './image/read.js';
import { shapedEntries, slimConfig, slimImageStreams, type LayerShape, type SlimLayer } from './image/write.js';
import { loadUntagged, nameSlim, removeUnnamedSlim } from './output/docker.js';
import { describeTarget, outputNamed, type LayerVia, type OutputTarget } from './output/outputs.js';

export interface RebuildResult {
  id: string;
  tag: string;
  layerBytes: number;
  files: number;
  /** Where the image went, one line per output. */
  written: string[];
  /** Whether the engine has it now (the docker output). */
  loaded: boolean;
  /** How its layer reached the engine. */
  layerVia?: LayerVia;
}

/** The slim image of the kept paths, shaped by `shape`, as the streams each output writes. */
const keptImageStreams = (image: ImageSource, keep: Iterable<string>, shape: LayerShape, opts: { onBytes?: (written: number, total: number) => void; signal?: AbortSignal }) =>
  slimImageStreams(image, shapedEntries(image.tree, keep, shape), (layer) => slimConfig(image, layer, {}, shape.base), { ...opts, base: shape.base });

/** `onBytes` sees the slim layer's bytes as they are written, and its total size; `shape` puts it on a shared base, or strips. */
export async function rebuild(engine: Engine, image: ImageSource, keep: Iterable<string>, tag: string, outputs: OutputTarget[] = [{ kind: 'docker' }], signal?: AbortSignal, onBytes?: (written: number, total: number) => void, shape: LayerShape = {}): Promise<RebuildResult> {
  checkImageRef(tag);
  let result: Omit<RebuildResult, 'written' | 'loaded'> | undefined;
  const written: string[] = [];
  const streams = keptImageStreams(image, keep, shape, { onBytes, signal });
  // Each output streams its own copy of the image: the bytes, hence the ID, are the same every time.
  for (const target of outputs) {
    written.push(await withContext(`writing image ${tag} (${describeTarget(target)})`, async () => {
      const done = await outputNamed(target.kind).write(streams, { engine, tag, signal }, target.path);
      if (result && result.id !== done.id) throw new SlimError(`the image came out as ${done.id}, after ${result.id} for an earlier output`);
      result = { id: done.id, tag, layerBytes: done.layer.size, files: done.layer.files, layerVia: done.layerVia ?? result?.layerVia };
      return done.where;
    }));
  }
  if (!result) throw new SlimError(`writing image ${tag}: no output given`, { kind: 'usage', hint: 'pass --output docker, oci:DIR or archive:FILE' });
  return { ...result, written, loaded: outputs.some((o) => o.kind === 'docker') };
}

/** An image put into the engine ahead of knowing it is wanted, and the name that holds it there. */
export interface WrittenAhead {
  id: string;
  layer: SlimLayer;
  layerVia: LayerVia;
  hold: string;
}

/**
 * The slim image of `keep`, plain (not stripped, on no base), put into the engine under a hold
 * (Engine.holdImage): written ahead of knowing it is the one wanted. A rebuild of the same paths
 * finds it by its layer key and names it; the caller lets the hold go, which removes an image
 * nothing else names.
 */
export async function loadAhead(engine: Engine, image: ImageSource, keep: Iterable<string>, signal?: AbortSignal): Promise<WrittenAhead> {
  const streams = keptImageStreams(image, keep, {}, { signal });
  const { id, layer, layerVia } = await loadUntagged(streams, { engine, signal });
  const hold = await engine.holdImage(id).catch(async (err: Error) => {
    await removeUnnamedSlim(engine, id);
    throw err;
  });
  return { id, layer, layerVia, hold };
}

/**
 * The image written ahead, named `tag`: what rebuild of the same paths to the docker output
 * alone gives, without making its entries and layer key a second time to find it.
 */
export async function nameAhead(engine: Engine, ahead: WrittenAhead, tag: string): Promise<RebuildResult> {
  checkImageRef(tag);
  await withContext(`writing image ${tag} (${describeTarget({ kind: 'docker' })})`, () => nameSlim(engine, ahead.id, tag));
  return { id: ahead.id, tag, layerBytes: ahead.layer.size, files: ahead.layer.files, written: [`docker ${tag}`], loaded: true, layerVia: ahead.layerVia };
}
