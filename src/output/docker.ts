// Output `docker`: the image goes into the engine, and is tagged only once it
// is complete and the run was not interrupted.
//
// `docker load` spools the whole archive before it applies the layer, so the
// engine's work (creating every file) would start only after slim's (reading
// every kept file) ends. A one-layer image goes in two steps instead: the layer
// through `docker import`, which applies it while slim is still writing it, and
// then the image itself through `docker load` of its config and manifest alone,
// which finds the layer in the engine's store by its digest. The ID is the one a
// whole load gives; an engine that does not take the pair gets the whole archive.
// And an engine that holds an image with the same layer key already gets only
// the config. The same steps without the tag put an image in ahead of time
// (loadUntagged), for a later write of the same layer to find.
import { Readable } from 'node:stream';
import type { Engine } from '../engine.js';
import { SlimError } from '../errors.js';
import { splitTag } from '../image/read.js';
import { LAYER_KEY_LABEL, type LayerAlone, type SlimArchive, type SlimImageStreams, type WrittenImage } from '../image/write.js';
import type { LayerVia, Output, OutputContext } from './outputs.js';

type Written = WrittenImage & { layerVia: LayerVia };
type EngineContext = Pick<OutputContext, 'engine' | 'signal'>;

export const engineOutput: Output = {
  name: 'docker',
  description: 'load into the engine under --tag (the default; verification needs it)',
  async write(image, ctx) {
    const written = await loadUntagged(image, ctx);
    ctx.signal?.throwIfAborted();
    await nameSlim(ctx.engine, written.id, ctx.tag);
    return { ...written, where: `docker ${ctx.tag}` };
  },
};

/** Tags a slim image in the engine; the slim image the tag named before goes, unless something else names it. */
export async function nameSlim(engine: Engine, id: string, ref: string): Promise<void> {
  const { repo, tag } = splitTag(ref);
  const before = await engine.inspectImage(ref);
  await engine.tagImage(id, repo, tag);
  // A rebuild or a tuning round replaces the image the tag named rather than leaving it behind untagged.
  if (before && before.id !== id) await removeUnnamedSlim(engine, before.id);
}

/** The image in the engine by the cheapest way it takes, under no name. */
export async function loadUntagged(image: SlimImageStreams, ctx: EngineContext): Promise<Written> {
  return (await fromStore(image, ctx)) ?? (await throughImport(image.layerAlone(), ctx)) ?? (await throughLoad(image.archive(), ctx));
}

/** Removes a slim image that nothing names; one with a tag, one in use by a container, or one not slim's stays. */
export async function removeUnnamedSlim(engine: Engine, id: string): Promise<void> {
  const image = await engine.inspectImage(id);
  if (!image || image.repoTags.length > 0 || !image.config.Labels?.[LAYER_KEY_LABEL]) return;
  await engine.removeImage(id).catch(() => {});
}

async function throughLoad(archive: SlimArchive, ctx: EngineContext): Promise<Written> {
  // Both must succeed: the engine's load, and our writing of what it loads.
  const [loaded, written] = await Promise.all([ctx.engine.loadImage(archive.stream), archive.done]);
  if (loaded !== written.id) throw new SlimError(`the engine loaded ${loaded}, but the archive holds ${written.id}`);
  return { ...written, layerVia: 'loaded whole' };
}

/**
 * An image named by the layer of an earlier build with the same key (the same source,
 * the same kept entries): nothing is read or sent but its config.
 */
async function fromStore(image: SlimImageStreams, ctx: EngineContext): Promise<Written | undefined> {
  for (const id of await ctx.engine.imagesLabelled(LAYER_KEY_LABEL, image.key)) {
    const layers = (await ctx.engine.inspectImage(id))?.diffIds;
    if (layers?.length !== 1) continue;
    const layer = { diffId: layers[0]!, size: image.layerSize, files: image.files };
    const named = await image.named(layer);
    // The ID is the digest of the config: an image of that ID is this image.
    if (named.id === id) return { id, layer, layerVia: 'already in the engine' };
    const loaded = await ctx.engine.loadImage(Readable.from([named.archive])).catch(() => undefined);
    if (loaded === named.id) return { id: named.id, layer, layerVia: 'already in the engine' };
  }
  return undefined;
}

/** The layer imported as it is written, then the image loaded by name; undefined when the engine does not take the pair. */
async function throughImport(alone: LayerAlone | undefined, ctx: EngineContext): Promise<Written | undefined> {
  if (!alone) return undefined;
  const importing = ctx.engine.importLayer(alone.stream);
  // A refused import reads no further: the writer must not wait for it.
  importing.catch(() => alone.stream.destroy());
  const [imported, written] = await Promise.allSettled([importing, alone.done]);
  try {
    if (written.status === 'rejected' || imported.status === 'rejected') {
      if (ctx.signal?.aborted) throw (written.status === 'rejected' ? written : imported as PromiseRejectedResult).reason;
      return undefined; // an engine that refuses imports; a source that failed fails the whole load too, and says why
    }
    // The engine keeps the bytes it was given unless it took them for compressed: then its layer is another one.
    const layers = (await ctx.engine.inspectImage(imported.value))?.diffIds;
    if (layers?.length !== 1 || layers[0] !== written.value.layer.diffId) return undefined;
    const loaded = await ctx.engine.loadImage(Readable.from([written.value.withoutLayer])).catch((err: Error) => {
      if (ctx.signal?.aborted) throw err;
      return undefined; // an engine that wants every layer in the archive
    });
    if (loaded === undefined) return undefined;
    if (loaded !== written.value.id) throw new SlimError(`the engine loaded ${loaded}, but the image is ${written.value.id}`);
    return { id: written.value.id, layer: written.value.layer, layerVia: 'imported while written' };
  } finally {
    // The loaded image holds the layer now; the import was only its way in.
    if (imported.status === 'fulfilled') await ctx.engine.removeImage(imported.value);
  }
}
