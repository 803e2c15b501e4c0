// Rebuild: the kept paths of an image become a new single-layer image, loaded
// into the engine untagged and tagged only once the load succeeded.
import type { Engine } from './engine.js';
import { withContext } from './errors.js';
import type { Image } from './image/archive.js';
import { checkImageRef, splitTag } from './image/read.js';
import type { FileTree } from './image/tree.js';
import { imageArchive, layerPath, slimConfig, writeLayer } from './image/write.js';

export interface RebuildResult {
  id: string;
  tag: string;
  layerBytes: number;
  files: number;
}

export async function rebuild(engine: Engine, image: Image, tree: FileTree, keep: Iterable<string>, tag: string, signal?: AbortSignal): Promise<RebuildResult> {
  checkImageRef(tag);
  return withContext(`writing image ${tag}`, async () => {
    const layer = await writeLayer(image, tree, keep, layerPath(image));
    const archive = await imageArchive(slimConfig(image, layer), layer);
    signal?.addEventListener('abort', () => archive.stream.destroy(), { once: true });
    const id = await engine.loadImage(archive.stream);
    // An interrupted run writes no tag, even when the load itself got through.
    signal?.throwIfAborted();
    const { repo, tag: version } = splitTag(tag);
    await engine.tagImage(id, repo, version);
    return { id, tag, layerBytes: layer.size, files: layer.files };
  });
}
