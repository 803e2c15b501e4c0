// Getting an image into slim: from the engine (docker save stream) or from a file.
import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import type { Engine, ImageSummary } from '../engine.js';
import { SlimError, withContext } from '../errors.js';
import { readImageArchive, type Image } from './archive.js';
import { archiveSource, type ImageSource } from './content.js';
import { layerDirsUnavailable, layerSource } from './inventory.js';

const REF = /^[a-z0-9][a-z0-9._\-/:@]*$/i;

export function checkImageRef(ref: string): void {
  if (!REF.test(ref) || ref.includes('//') || ref.endsWith(':') || ref.endsWith('/')) {
    throw new SlimError(`'${ref}' is not a valid image reference`, { kind: 'usage', hint: 'name an image like app:latest, registry.example/team/app:1.2, or an image ID' });
  }
}

/** The engine's summary of an image, or an error that says how to get the image there. */
export async function requireImage(engine: Engine, ref: string): Promise<ImageSummary> {
  checkImageRef(ref);
  const found = await engine.inspectImage(ref);
  if (!found) {
    throw new SlimError(`reading image ${ref}: the engine has no such image`, { hint: `build or load it first (docker build -t ${ref} . / docker load -i FILE)` });
  }
  return found;
}

/** Reads an image the engine has. The image itself is never changed. */
export async function readImage(engine: Engine, ref: string, signal?: AbortSignal): Promise<Image> {
  const found = await requireImage(engine, ref);
  return withContext(`reading image ${ref}`, async () => readImageArchive(await engine.saveImage(found.id), ref, signal));
}

export type ReadVia = 'auto' | 'layers' | 'save';

/**
 * Opens an image the engine has for a build: through its layer directories
 * when the engine allows (only the bytes that stay move), else through
 * `docker save`; `via` on the result says which, and why.
 */
export async function openImage(engine: Engine, ref: string, opts: { via?: ReadVia; signal?: AbortSignal } = {}): Promise<ImageSource> {
  const found = await requireImage(engine, ref);
  const want = opts.via ?? 'auto';
  if (want !== 'save') {
    const info = await engine.info();
    const unavailable = layerDirsUnavailable(found, info.rootDir);
    if (unavailable && want === 'layers') throw new SlimError(`reading image ${ref}: its layer directories cannot be read: ${unavailable}`, { hint: 'read it with docker save instead' });
    if (!unavailable) {
      try {
        return await layerSource(engine, found, ref, info.rootDir);
      } catch (err) {
        if (want === 'layers' || opts.signal?.aborted) throw err;
        return archiveSource(await readImage(engine, ref, opts.signal), `the layer helper failed: ${(err as Error).message.split('\n')[0]}`);
      }
    }
    return archiveSource(await readImage(engine, ref, opts.signal), unavailable);
  }
  return archiveSource(await readImage(engine, ref, opts.signal));
}

/** Reads an image from a `docker save` archive file. */
export async function readImageFile(path: string): Promise<Image> {
  await access(path).catch(() => {
    throw new SlimError(`reading image archive ${path}: no such file`, { kind: 'usage', hint: 'pass the path of a file written by docker save -o FILE IMAGE' });
  });
  return readImageArchive(createReadStream(path), path);
}

/** Splits "repo:tag" (the repo may hold a registry port) into its parts. */
export function splitTag(ref: string): { repo: string; tag: string } {
  const at = ref.indexOf('@');
  const name = at === -1 ? ref : ref.slice(0, at);
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) return { repo: name.slice(0, colon), tag: name.slice(colon + 1) };
  return { repo: name, tag: 'latest' };
}
