// The docker output's ways into an engine, and its way back to a whole
// `docker load` when an engine does not take the shorter ones. The real
// engine's side is in roundtrip.test.ts; here a stand-in engine refuses or
// changes what a real one might, so that every fallback is taken.
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../src/engine.js';
import { archiveSource, type ImageSource } from '../src/image/content.js';
import { eachEntry, readBody } from '../src/image/entries.js';
import { readImageFile } from '../src/image/read.js';
import { LAYER_KEY_LABEL, layerEntries, slimConfig, slimImageStreams } from '../src/image/write.js';
import { engineOutput, loadUntagged } from '../src/output/docker.js';
import { imageArchiveFile, layerFile, tempDir } from './fixtures.js';

/** The entries of a tar, by name. */
async function entriesOf(archive: Buffer): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  await eachEntry(Readable.from([archive]), async (header, body) => void out.set(header.name, await readBody(body)));
  return out;
}

interface StandIn {
  /** What the import does to the layer's digest (a real engine keeps it), or refuses. */
  importing: 'keeps' | 'changes' | 'refuses';
  /** Whether a load whose archive lacks a layer file works (it does when the engine has the layer). */
  loadsByName: boolean;
  /** Images the engine has with the layer key asked for. */
  labelled?: string[];
  /** The image the tag named before: its labels, and the tags it still has once the tag moved. */
  before?: { labels: Record<string, string>; tagsAfter: readonly string[] };
  /** Images the engine has stored already, by ID, with their layers. */
  stored?: Record<string, string[]>;
}

/** An engine that takes images as a real one would, up to what `how` says it refuses. */
function standInEngine(how: StandIn) {
  const calls: string[] = [];
  const layers = new Map<string, string[]>([['sha256:kept', ['sha256:from-earlier-build']], ...Object.entries(how.stored ?? {})]);
  const engine = {
    async importLayer(layer: Readable) {
      const data = await readBody(layer);
      calls.push('import');
      if (how.importing === 'refuses') throw new Error('imports are not allowed here');
      const digest = `sha256:${createHash('sha256').update(how.importing === 'keeps' ? data : Buffer.concat([data, Buffer.from('x')])).digest('hex')}`;
      layers.set('sha256:imported', [digest]);
      return 'sha256:imported';
    },
    async inspectImage(ref: string) {
      if (how.before && (ref === 'app.slim:latest' || ref === 'sha256:before')) {
        return { id: 'sha256:before', repoTags: ref === 'sha256:before' ? [...how.before.tagsAfter] : ['app.slim:latest'], size: 0, config: { Labels: how.before.labels }, diffIds: [] };
      }
      return layers.has(ref) ? { id: ref, repoTags: [], size: 0, config: {}, diffIds: layers.get(ref)! } : undefined;
    },
    async loadImage(archive: Readable) {
      const files = await entriesOf(await readBody(archive));
      const manifest = JSON.parse(files.get('manifest.json')!.toString()) as Array<{ Config: string; Layers: string[] }>;
      const whole = manifest[0]!.Layers.every((l) => files.has(l));
      calls.push(whole ? 'load whole' : 'load by name');
      if (!whole && !how.loadsByName) throw new Error('open layer/layer.tar: no such file or directory');
      return `sha256:${manifest[0]!.Config.replace(/\.json$/, '')}`;
    },
    async removeImage(id: string) {
      calls.push(`remove ${id}`);
    },
    async imagesLabelled() {
      return how.labelled ?? [];
    },
    async tagImage() {
      calls.push('tag');
    },
  };
  return { engine: engine as unknown as Engine, calls };
}

describe('docker output', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  async function image(): Promise<ImageSource> {
    const dir = await tempDir();
    dirs.push(dir);
    const layer = await layerFile(dir, 'l0.tar', [{ name: 'bin/', type: 'dir' }, { name: 'bin/app', mode: 0o755, data: 'program' }, { name: 'etc/motd', data: 'hello' }]);
    return archiveSource(await readImageFile(await imageArchiveFile(dir, [layer])));
  }

  const streamsOf = (source: ImageSource, signal?: AbortSignal) => slimImageStreams(source, layerEntries(source.tree, source.tree.paths()), (layer) => slimConfig(source, layer), { signal });
  const write = async (source: ImageSource, how: StandIn) => {
    const { engine, calls } = standInEngine(how);
    const streams = streamsOf(source);
    const result = await engineOutput.write(streams, { engine, tag: 'app.slim:latest' }, undefined);
    const whole = await streams.archive().done; // the ID a whole load gives
    return { result, calls, whole };
  };

  it('imports the layer while it is written, then loads the image by name, and removes the import', async () => {
    await using source = await image();
    const { result, calls, whole } = await write(source, { importing: 'keeps', loadsByName: true });
    expect(calls).toEqual(['import', 'load by name', 'remove sha256:imported', 'tag']);
    expect(result).toMatchObject({ id: whole.id, layerVia: 'imported while written', where: 'docker app.slim:latest' });
  });

  it('loads the whole archive when the engine changed the layer on import, or will not load by name, or refuses imports', async () => {
    for (const how of [{ importing: 'changes', loadsByName: true }, { importing: 'keeps', loadsByName: false }, { importing: 'refuses', loadsByName: true }] as const) {
      await using source = await image();
      const { result, calls, whole } = await write(source, how);
      expect(calls.at(-2), how.importing).toBe('load whole');
      expect(calls.filter((c) => c.startsWith('remove')), how.importing).toEqual(how.importing === 'refuses' ? [] : ['remove sha256:imported']);
      expect(result).toMatchObject({ id: whole.id, layerVia: 'loaded whole' });
    }
  });

  it('removes the earlier slim image the tag named once nothing names it, and no other image', async () => {
    const slim = { [LAYER_KEY_LABEL]: 'sha256:earlier' };
    for (const [before, removed] of [
      [{ labels: slim, tagsAfter: [] }, true],
      [{ labels: slim, tagsAfter: ['app.slim:v1'] }, false],
      [{ labels: { maintainer: 'someone' }, tagsAfter: [] }, false],
    ] as const) {
      await using source = await image();
      const { calls } = await write(source, { importing: 'keeps', loadsByName: true, before });
      expect(calls.includes('remove sha256:before'), JSON.stringify(before)).toBe(removed);
      expect(calls.indexOf('tag')).toBeLessThan(calls.length - (removed ? 1 : 0));
    }
  });

  it('sends only the config when the engine has an image with the same layer key', async () => {
    await using source = await image();
    const { result, calls } = await write(source, { importing: 'keeps', loadsByName: true, labelled: ['sha256:kept'] });
    expect(calls).toEqual(['load by name', 'tag']);
    expect(result.layerVia).toBe('already in the engine');
    expect(result.layer.diffId).toBe('sha256:from-earlier-build');
  });

  it('only tags the image when the engine has that very image (written ahead)', async () => {
    await using source = await image();
    const whole = await streamsOf(source).archive().done;
    const { result, calls } = await write(source, { importing: 'keeps', loadsByName: true, labelled: [whole.id], stored: { [whole.id]: [whole.layer.diffId] } });
    expect(calls).toEqual(['tag']);
    expect(result).toMatchObject({ id: whole.id, layerVia: 'already in the engine' });
  });

  it('a write stopped before its first byte ends, rather than waiting for a reader that is gone', async () => {
    await using source = await image();
    const { engine } = standInEngine({ importing: 'keeps', loadsByName: true });
    const stopped = AbortSignal.abort(new Error('stopped'));
    await expect(loadUntagged(streamsOf(source, stopped), { engine, signal: stopped })).rejects.toThrow(/stopped/);
  }, 5_000);

  it('a stream torn down before anyone reads it fails its done, and not the process', async () => {
    await using source = await image();
    const stop = new AbortController();
    const streams = streamsOf(source, stop.signal);
    const [archive, alone] = [streams.archive(), streams.layerAlone()!];
    stop.abort(new Error('stopped'));
    await expect(archive.done).rejects.toThrow(/stopped/);
    await expect(alone.done).rejects.toThrow(/stopped|reader stopped/);
  });

  it('puts an image in unnamed when asked to', async () => {
    await using source = await image();
    const { engine, calls } = standInEngine({ importing: 'keeps', loadsByName: true });
    const written = await loadUntagged(streamsOf(source), { engine });
    expect(calls).toEqual(['import', 'load by name', 'remove sha256:imported']);
    expect(written.id).toBe((await streamsOf(source).archive().done).id);
  });
});
