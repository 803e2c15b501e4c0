// Many images in one run: builds with bounded concurrency, spread over the
// engines that have each image, a failure of one not stopping the others, and
// optionally a shared base layer under all of them. Reports per image and the
// fleet's bytes: the sum of image sizes and the unique layer bytes a node
// stores and pulls, with the shared base and without it.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pLimit from 'p-limit';
import { build, buildReport, type BuildEvent, type BuildOptions, type BuildResult } from '../build.js';
import type { Engine } from '../engine.js';
import { SlimError } from '../errors.js';
import type { ImageSource } from '../image/content.js';
import { tarSize } from '../image/tar.js';
import { shapedEntries, type LayerShape } from '../image/write.js';
import type { Cleanup } from '../session.js';
import { SharedBaseBarrier, shapeOnBase, type SharedBaseLayer } from './base-layer.js';

export interface FleetOptions {
  /** Builds running at once. */
  jobs: number;
  /** Share (0..1] of the images that must hold an entry identically for it to go into the shared base; none: no shared base. */
  sharedBase?: number;
}

export interface FleetImage {
  image: string;
  /** The engine it was built on. */
  engine: string;
  result?: BuildResult;
  error?: SlimError;
  /** Bytes of the image's layers: its own, and the whole kept set as one layer (what it weighs without the base). */
  ownBytes?: number;
  aloneBytes?: number;
}

export interface FleetBytes {
  sumOfSizes: number;
  uniqueBytes: number;
  withoutSharedBase: { sumOfSizes: number; uniqueBytes: number };
  sharedBaseBytes: number;
}

export interface FleetResult {
  images: FleetImage[];
  base?: { diffId: string; size: number; files: number; users: number };
  bytes: FleetBytes;
}

/** Picks, for each image, the engine that has it and has been given the fewest so far. */
async function assignEngines(engines: Engine[], images: string[]): Promise<Array<Engine | SlimError>> {
  const load = new Map(engines.map((e) => [e, 0]));
  const out: Array<Engine | SlimError> = [];
  for (const image of images) {
    const having: Engine[] = [];
    for (const engine of engines) {
      try {
        if (await engine.inspectImage(image)) having.push(engine);
      } catch {
        // an engine that does not answer has nothing to give
      }
    }
    const chosen = having.sort((a, b) => load.get(a)! - load.get(b)!)[0];
    if (chosen) load.set(chosen, load.get(chosen)! + 1);
    out.push(chosen ?? new SlimError(`reading image ${image}: no engine has it (${engines.map((e) => e.host).join(', ')})`, {
      hint: `load it into one of them first (docker save ${image} | docker -H ENGINE load)`,
    }));
  }
  return out;
}

/** The layer bytes of image results: with the base counted once, and as if each were one layer alone. */
export function fleetBytes(images: FleetImage[], base?: { size: number }): FleetBytes {
  const built = images.filter((i) => i.result && i.ownBytes !== undefined);
  const own = built.reduce((sum, i) => sum + i.ownBytes!, 0);
  const alone = built.reduce((sum, i) => sum + (i.aloneBytes ?? i.ownBytes!), 0);
  const baseSize = base?.size ?? 0;
  return {
    sumOfSizes: own + baseSize * built.length,
    uniqueBytes: own + (built.length > 0 ? baseSize : 0),
    withoutSharedBase: { sumOfSizes: alone, uniqueBytes: alone },
    sharedBaseBytes: baseSize,
  };
}

export async function buildFleet(engines: Engine[], items: BuildOptions[], opts: FleetOptions, cleanup: Cleanup, onEvent: (index: number, e: BuildEvent) => void = () => {}): Promise<FleetResult> {
  if (engines.length === 0) throw new SlimError('no engine to build on', { kind: 'usage' });
  const assigned = await assignEngines(engines, items.map((i) => i.image));
  const limit = pLimit(Math.max(1, opts.jobs));
  // p-limit as a semaphore: a build gives its slot back while it waits for the others at the shared base.
  const slot = () => new Promise<() => void>((got) => void limit(() => new Promise<void>((release) => got(release))));
  const workDir = opts.sharedBase === undefined ? undefined : await mkdtemp(join(tmpdir(), 'slim-fleet-'));
  const removeWorkDir = { [Symbol.asyncDispose]: async () => void (workDir && (await rm(workDir, { recursive: true, force: true }))) };
  cleanup.add(removeWorkDir);
  const barrier = workDir
    ? new SharedBaseBarrier(items.length, join(workDir, 'base.tar'), Math.ceil(opts.sharedBase! * items.length), cleanup.signal)
    : undefined;
  let base: SharedBaseLayer | undefined;

  const images: FleetImage[] = items.map((item, i) => ({ image: item.image, engine: assigned[i] instanceof SlimError ? '' : (assigned[i] as Engine).host }));
  const one = async (index: number): Promise<void> => {
    const engine = assigned[index]!;
    const row = images[index]!;
    if (engine instanceof SlimError) {
      barrier?.leave(index);
      row.error = engine;
      return;
    }
    let release = await slot();
    try {
      const shape = async (kept: Set<string>, image: ImageSource, replaced: Map<number, Buffer>): Promise<LayerShape> => {
        row.aloneBytes = tarSize(shapedEntries(image.tree, kept, { replaced }).map((e) => e.header));
        if (!barrier) return { replaced };
        release();
        try {
          base = await barrier.join(index, { source: image, kept, replaced });
        } finally {
          release = await slot();
        }
        return base ? { ...shapeOnBase(base, index, kept), replaced } : { replaced };
      };
      row.result = await build(engine, { ...items[index]!, shapeLayer: shape }, cleanup, (e) => onEvent(index, e));
      row.ownBytes = row.result.layers.own;
    } catch (err) {
      row.error = err instanceof SlimError ? err : new SlimError((err as Error).message ?? String(err), { cause: err });
    } finally {
      barrier?.leave(index);
      release();
    }
  };
  try {
    await Promise.all(items.map((_, i) => one(i)));
  } finally {
    await removeWorkDir[Symbol.asyncDispose]();
    cleanup.delete(removeWorkDir);
  }
  cleanup.signal.throwIfAborted();
  const users = images.filter((i) => i.result?.layers.base).length;
  const usedBase = base && users > 0 ? { diffId: base.layer.diffId, size: base.layer.size, files: base.layer.files, users } : undefined;
  return { images, base: usedBase, bytes: fleetBytes(images, usedBase) };
}

/** The fleet's report (--report): the fleet's bytes and base, and each image's own report or its error. */
export function fleetJsonReport(fleet: FleetResult): object {
  return {
    format: 'slim-fleet-report/1',
    bytes: fleet.bytes,
    sharedBase: fleet.base,
    images: fleet.images.map((i) => ({
      image: i.image,
      engine: i.engine,
      ...(i.error ? { error: i.error.message, hint: i.error.hint } : {}),
      ...(i.result ? { layers: { own: i.ownBytes, alone: i.aloneBytes }, report: buildReport(i.result) } : {}),
    })),
  };
}
