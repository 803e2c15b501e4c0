// Rebuild: the kept paths of an image become a new single-layer image, loaded
// into the engine untagged and tagged only once the load succeeded.
import type { Engine } from './engine.js';
import { SlimError, withContext } from './errors.js';
import type { ImageSource } from './image/content.js';
import { checkImageRef, splitTag } from './image/read.js';
import { shapedEntries, slimConfig, slimImageArchive, type LayerShape } from './image/write.js';

export interface RebuildResult {
  id: string;
  tag: string;
  layerBytes: number;
  files: number;
}

/** `onBytes` sees the slim layer's bytes as they are written, and its total size; `shape` puts it on a shared base, or strips. */
export async function rebuild(engine: Engine, image: ImageSource, keep: Iterable<string>, tag: string, signal?: AbortSignal, onBytes?: (written: number, total: number) => void, shape: LayerShape = {}): Promise<RebuildResult> {
  checkImageRef(tag);
  return withContext(`writing image ${tag}`, async () => {
    const archive = slimImageArchive(image, shapedEntries(image.tree, keep, shape), (layer) => slimConfig(image, layer, {}, shape.base), onBytes, shape.base);
    signal?.addEventListener('abort', () => archive.stream.destroy(), { once: true });
    // Both must succeed: the engine's load, and our writing of what it loads.
    const [loaded, written] = await Promise.all([engine.loadImage(archive.stream), archive.done]);
    if (loaded !== written.id) throw new SlimError(`the engine loaded ${loaded}, but the archive holds ${written.id}`);
    const id = loaded;
    // An interrupted run writes no tag, even when the load itself got through.
    signal?.throwIfAborted();
    const { repo, tag: version } = splitTag(tag);
    await engine.tagImage(id, repo, version);
    return { id, tag, layerBytes: written.layer.size, files: written.layer.files };
  });
}
