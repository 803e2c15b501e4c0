// The layers of a fleet on generated images (no engine): the shared base is
// byte-identical whichever image it is written from, hard links stay one
// file, each image's own layer holds what the base does not, with whiteouts
// for what it did not keep, stripped bytes replace the source's, and the
// barrier waits for every image, joined or failed.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SharedBaseBarrier, shapeOnBase, writeSharedBase, type BaseMember } from '../src/fleet/base-layer.js';
import { fleetBytes } from '../src/fleet/fleet.js';
import type { Engine } from '../src/engine.js';
import { flatten, readImageArchive } from '../src/image/archive.js';
import { archiveSource, type ImageSource } from '../src/image/content.js';
import { parseOutput } from '../src/output/outputs.js';
import { rebuild } from '../src/rebuild.js';
import { readImageFile } from '../src/image/read.js';
import { readTarHeaders } from '../src/image/tar.js';
import { shapedEntries, whiteoutEntries } from '../src/image/write.js';
import { imageArchiveFile, layerFile, tempDir, type Spec } from './fixtures.js';

const dirs: string[] = [];
const sources: ImageSource[] = [];
afterAll(async () => {
  for (const s of sources) await s[Symbol.asyncDispose]();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function work(): Promise<string> {
  const dir = await tempDir();
  dirs.push(dir);
  return dir;
}

async function sourceOf(specs: Spec[]): Promise<ImageSource> {
  const dir = await work();
  const source = await archiveSource(await readImageFile(await imageArchiveFile(dir, [await layerFile(dir, 'l.tar', specs)])));
  sources.push(source);
  return source;
}

const dirSpec = (name: string, mtime = 1_700_000_000): Spec => ({ name, type: 'dir', mode: 0o755, mtime });
const LIBC = 'x'.repeat(3000);

async function names(file: string): Promise<Array<[string, string]>> {
  const handle = await open(file, 'r');
  const out: Array<[string, string]> = [];
  for await (const r of readTarHeaders(handle, 'base')) out.push([r.header.name, r.header.type === 'hardlink' ? `-> ${r.header.linkname}` : r.header.type]);
  await handle.close();
  return out;
}

const member = (source: ImageSource): BaseMember => ({ source, kept: new Set([...source.tree.paths()].filter((p) => p !== '/')) });

describe('the shared base layer', async () => {
  // a and b share libc (hard-linked in both), /etc/os (identical) and /usr; b's /etc/passwd differs; c is the odd one.
  const common: Spec[] = [dirSpec('usr/'), dirSpec('usr/lib/'), { name: 'usr/lib/libc.so.6', data: LIBC }, { name: 'usr/lib/libc-hard.so', type: 'hardlink', linkname: 'usr/lib/libc.so.6' }, dirSpec('etc/'), { name: 'etc/os', data: 'debian' }];
  const a = await sourceOf([...common, { name: 'etc/passwd', data: 'root:a' }, { name: 'app/a', data: 'A' }]);
  const b = await sourceOf([...common, { name: 'etc/passwd', data: 'root:b' }, { name: 'app/b', data: 'B' }]);
  const c = await sourceOf([dirSpec('usr/', 1), { name: 'tool', data: 'C' }]);

  it('holds what both images have identically, hard links as one file, and is the same bytes whichever image writes it', async () => {
    const dir = await work();
    const ab = (await writeSharedBase([member(a), member(b)], join(dir, 'ab.tar'), 2))!;
    const ba = (await writeSharedBase([member(b), member(a)], join(dir, 'ba.tar'), 2))!;
    // /app is implied by app/a and app/b (no entry of its own), so it is the same in both.
    expect(ab.paths).toEqual(['/app', '/etc', '/etc/os', '/usr', '/usr/lib', '/usr/lib/libc-hard.so', '/usr/lib/libc.so.6']);
    expect(await names(ab.layer.path)).toEqual([
      ['app/', 'dir'], ['etc/', 'dir'], ['etc/os', 'file'], ['usr/', 'dir'], ['usr/lib/', 'dir'], ['usr/lib/libc-hard.so', 'file'], ['usr/lib/libc.so.6', '-> usr/lib/libc-hard.so'],
    ]);
    const digest = async (f: string) => `sha256:${createHash('sha256').update(await readFile(f)).digest('hex')}`;
    expect(await digest(ab.layer.path)).toBe(ab.layer.diffId);
    expect(ba.layer.diffId).toBe(ab.layer.diffId);
    expect(ab.bytes).toBe(LIBC.length + 'debian'.length); // two names, one file
  });

  it('shares stripped bytes (--strip) where both images stripped a file the same, and nothing where only one did', async () => {
    const dir = await work();
    const strippedLibc = (m: BaseMember) => ({ ...m, replaced: new Map([[m.source.tree.get('/usr/lib/libc.so.6')!.inode, Buffer.from('stripped libc')]]) });
    const both = (await writeSharedBase([strippedLibc(member(a)), strippedLibc(member(b))], join(dir, 'both.tar'), 2))!;
    expect(both.paths).toContain('/usr/lib/libc.so.6');
    const handle = await open(both.layer.path, 'r');
    let carried = '';
    for await (const r of readTarHeaders(handle, 'base')) if (r.header.type === 'file' && r.header.size > 0 && r.header.name.startsWith('usr/lib/')) carried = `${r.header.name} ${r.header.size}`;
    await handle.close();
    expect(carried).toBe(`usr/lib/libc-hard.so ${'stripped libc'.length}`);
    const one = (await writeSharedBase([strippedLibc(member(a)), member(b)], join(dir, 'one.tar'), 2))!;
    expect(one.paths).not.toContain('/usr/lib/libc.so.6');
  });

  it("an image's own layer: what the base does not hold, whiteouts for base paths it did not keep, stripped bytes", async () => {
    const dir = await work();
    const base = (await writeSharedBase([member(a), member(b), member(c)], join(dir, 'abc.tar'), 2))!;
    expect(base.held[2]).toEqual(new Set());
    // c keeps /usr with another mtime, and nothing else of the base: /app and /etc are hidden whole, /usr/lib too.
    const cShape = shapeOnBase(base, 2, member(c).kept);
    expect(cShape.whiteouts).toEqual(['/app', '/etc', '/usr/lib']);
    const cEntries = shapedEntries(c.tree, member(c).kept, cShape);
    expect(cEntries.map((e) => e.header.name)).toEqual(['.wh.app', '.wh.etc', 'tool', 'usr/', 'usr/.wh.lib']);
    const aKept = member(a).kept;
    const libc = a.tree.get('/usr/lib/libc.so.6')!;
    const aEntries = shapedEntries(a.tree, aKept, { ...shapeOnBase(base, 0, aKept), replaced: new Map([[libc.inode, Buffer.from('stripped')]]) });
    expect(aEntries.map((e) => e.header.name)).toEqual(['app/a', 'etc/passwd']);
    // Without a base, a stripped file carries its new bytes and size, and its hard link still points at it.
    const alone = shapedEntries(a.tree, aKept, { replaced: new Map([[libc.inode, Buffer.from('stripped')]]) });
    const carrier = alone.find((e) => e.data)!;
    expect([carrier.header.name, carrier.header.size, carrier.data!.toString()]).toEqual(['usr/lib/libc-hard.so', 8, 'stripped']);
    expect(alone.find((e) => e.header.name === 'usr/lib/libc.so.6')!.header).toMatchObject({ type: 'hardlink', linkname: 'usr/lib/libc-hard.so' });
  });

  it('images written on the base read back, layers applied, as exactly what each kept', async () => {
    const dir = await work();
    const noEngine = new Proxy({}, { get: (_t, name) => { throw new Error(`the engine was asked for ${String(name)}`); } }) as Engine;
    const members = [member(a), member(c)];
    members[1]!.kept.delete('/tool'); // c keeps only /usr: the base's /usr/lib must be hidden
    const base = (await writeSharedBase([member(a), member(b), ...members.slice(1)], join(dir, 'base.tar'), 2))!;
    const read: string[][] = [];
    const firstLayers = new Set<string>();
    for (const [i, m] of [[0, members[0]!], [2, members[1]!]] as const) {
      const file = join(dir, `slim-${i}.tar`);
      const oci = join(dir, `oci-${i}`);
      const result = await rebuild(noEngine, m.source, m.kept, `slim-test/fleet-unit-${i}:1`, [parseOutput(`archive:${file}`), parseOutput(`oci:${oci}`)], undefined, undefined, shapeOnBase(base, i, m.kept));
      const index = JSON.parse(await readFile(join(oci, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      const manifest = JSON.parse(await readFile(join(oci, 'blobs', 'sha256', index.manifests[0]!.digest.slice(7)), 'utf8')) as { layers: Array<{ digest: string }> };
      expect(manifest.layers.map((l) => l.digest)[0]).toBe(base.layer.diffId);
      expect(manifest.layers).toHaveLength(2);
      const back = await readImageArchive(createReadStream(file), file);
      try {
        expect(back.id).toBe(result.id);
        expect(back.layers).toHaveLength(2);
        firstLayers.add(back.config.rootfs.diff_ids[0]!);
        const tree = await flatten(back);
        read.push([...tree.paths()].sort());
        // Metadata comes through the layers: c's /usr keeps its own mtime over the base's.
        if (i === 2) expect(tree.get('/usr')!.mtime).toBe(1);
      } finally {
        await back[Symbol.asyncDispose]();
      }
    }
    expect(firstLayers).toEqual(new Set([base.layer.diffId]));
    expect(read).toEqual([['/', ...members[0]!.kept].sort(), ['/', '/usr']]);
  });

  it('whiteout names sit in the parent directory, the root included', () => {
    expect(whiteoutEntries(['/etc', '/usr/share/doc', `/caf\xc3\xa9`]).map((e) => [e.header.name, e.header.size])).toEqual([['.wh.etc', 0], ['usr/share/.wh.doc', 0], ['.wh.caf\xc3\xa9', 0]]);
  });

  it('the barrier waits for every image, and one that failed does not hold the others', async () => {
    const dir = await work();
    const barrier = new SharedBaseBarrier(3, join(dir, 'barrier.tar'), 2);
    let settled = false;
    const first = barrier.join(0, member(a)).then((r) => ((settled = true), r));
    const second = barrier.join(1, member(b));
    await new Promise((r) => setTimeout(r, 50));
    expect(settled).toBe(false);
    barrier.leave(2);
    barrier.leave(2);
    const [x, y] = await Promise.all([first, second]);
    expect(x).toBe(y);
    expect(x!.paths).toContain('/usr/lib/libc.so.6');
  });

  it('no base when fewer than two images are left', async () => {
    const dir = await work();
    const barrier = new SharedBaseBarrier(2, join(dir, 'none.tar'), 2);
    barrier.leave(1);
    expect(await barrier.join(0, member(a))).toBeUndefined();
  });
});

describe('fleet bytes', () => {
  it('counts the base once in unique bytes, in every image in the sum, and not at all without it', () => {
    const images = [
      { image: 'a', engine: 'default', result: {} as never, ownBytes: 10, aloneBytes: 110 },
      { image: 'b', engine: 'default', result: {} as never, ownBytes: 20, aloneBytes: 120 },
      { image: 'c', engine: 'default', error: new Error('broken') as never },
    ];
    expect(fleetBytes(images, { size: 100 })).toEqual({ sumOfSizes: 230, uniqueBytes: 130, withoutSharedBase: { sumOfSizes: 230, uniqueBytes: 230 }, sharedBaseBytes: 100 });
    expect(fleetBytes(images.map((i) => ({ ...i, aloneBytes: undefined })))).toEqual({ sumOfSizes: 30, uniqueBytes: 30, withoutSharedBase: { sumOfSizes: 30, uniqueBytes: 30 }, sharedBaseBytes: 0 });
  });
});
