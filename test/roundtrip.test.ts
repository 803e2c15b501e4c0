// Write → load → save → read on the real engine: every kept path comes back
// with the same mode, owner, link target, xattrs and content.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { rm } from 'node:fs/promises';
import { archiveSource, type ImageSource } from '../src/image/content.js';
import { openImage, readImage, readImageFile } from '../src/image/read.js';
import { rebuild } from '../src/rebuild.js';
import { contentDigests, engine, removeImage, sessionContainers } from './engine-helpers.js';
import { imageArchiveFile, layerFile, tempDir } from './fixtures.js';

const CAPABILITY = Buffer.from('0100000200040000000000000000000000000000', 'hex');
const NON_UTF8 = Buffer.from([0x6e, 0xff, 0x2e, 0x62, 0x69, 0x6e]).toString('latin1');
const LONG = `opt/${'long-directory-name-'.repeat(6)}/${'file-'.repeat(25)}.dat`;

async function snapshot(source: ImageSource) {
  const out = new Map<string, object>();
  const digests = await contentDigests(source);
  for (const e of source.tree.values()) {
    const digest = digests.get(e.path) ?? '';
    out.set(e.path, {
      type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, link: e.linkTarget, dev: [e.devMajor, e.devMinor],
      xattrs: Object.fromEntries([...e.xattrs].map(([k, v]) => [k, v.toString('hex')])), digest,
    });
  }
  return out;
}

describe('image round trip on the engine', () => {
  const tags = ['slim-test/roundtrip:fixture', 'slim-test/roundtrip:fixture-again', 'slim-test/roundtrip:sample', 'slim-test/roundtrip:sample-from-layers'];
  const dirs: string[] = [];
  afterAll(async () => {
    tags.forEach(removeImage);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('keeps nasty entries exact, hard links as links, and writes the same image ID twice', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const layers = [
      await layerFile(dir, 'l0.tar', [
        { name: 'bin/', type: 'dir', mode: 0o755 },
        { name: 'bin/ping', mode: 0o4755, data: 'pretend ping', xattrs: new Map([['security.capability', CAPABILITY]]) },
        { name: 'bin/wall', mode: 0o2755, gid: 5, data: 'wall' },
        { name: 'data/', type: 'dir', mode: 0o1733, uid: 1234, gid: 4321 },
        { name: 'data/shared', mode: 0o640, uid: 1234, data: 'one inode' },
        { name: 'dev/', type: 'dir' },
        { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
        { name: 'dev/loop9', type: 'block', mode: 0o660, devmajor: 7, devminor: 9 },
        { name: 'dev/pipe', type: 'fifo', mode: 0o600 },
        { name: NON_UTF8, data: 'bytes' },
        { name: Buffer.from('opt/é/ünïcode ☕', 'utf8').toString('latin1'), data: 'utf' },
        { name: LONG, data: 'long' },
        { name: 'empty/', type: 'dir', mode: 0o700 },
        { name: 'to-ping', type: 'symlink', linkname: 'bin/ping' },
      ]),
      await layerFile(dir, 'l1.tar', [
        { name: 'data/hardlink', type: 'hardlink', linkname: 'data/shared' },
        { name: 'data/.wh.ghost' },
      ]),
    ];
    await using source = await archiveSource(await readImageFile(await imageArchiveFile(dir, layers)));
    const first = await rebuild(engine, source, source.tree.paths(), tags[0]!);
    const second = await rebuild(engine, source, source.tree.paths(), tags[1]!);
    expect(second.id).toBe(first.id);
    // The layer went in as it was written; the second time the engine had it, and got the config alone.
    expect([first.layerVia, second.layerVia]).toEqual(['imported while written', 'already in the engine']);
    // The whole archive (docker load) names the same image.
    const archive = `${dir}/slim.tar`;
    const third = await rebuild(engine, source, source.tree.paths(), tags[1]!, [{ kind: 'archive', path: archive }]);
    expect(third.id).toBe(first.id);
    execFileSync('docker', ['load', '-q', '-i', archive]);
    expect(execFileSync('docker', ['image', 'inspect', '-f', '{{.Id}}', tags[1]!], { encoding: 'utf8' }).trim()).toBe(first.id);
    expect(execFileSync('docker', ['images', '-q', '--filter', 'label=io.slim.tool=slim'], { encoding: 'utf8' }).trim()).toBe(''); // no import left

    // Read back both ways: through docker save and through the layer directories.
    for (const via of ['save', 'layers'] as const) {
      await using back = await openImage(engine, tags[0]!, { via });
      const [a, b] = [await snapshot(source), await snapshot(back)];
      for (const [path, meta] of a) if (path !== '/') expect(b.get(path), `${via}: ${path}`).toEqual(meta);
      expect(back.tree.get('/data/hardlink')!.inode).toBe(back.tree.get('/data/shared')!.inode);
    }
    // The hard-linked file's bytes are stored once in the slim layer, whatever its size.
    await using saved = await readImage(engine, tags[0]!);
    const layer = readFileSync(saved.layers[0]!.file);
    let copies = 0;
    for (let at = layer.indexOf('one inode'); at !== -1; at = layer.indexOf('one inode', at + 1)) copies++;
    expect(copies).toBe(1);
  });

  it('round-trips a real sample image path for path, read through docker save or the layer directories alike', async () => {
    await using source = await openImage(engine, 'slim-samples/node-api:latest', { via: 'save' });
    await using layers = await openImage(engine, 'slim-samples/node-api:latest', { via: 'layers' });
    const written = await rebuild(engine, source, source.tree.paths(), tags[2]!);
    const fromLayers = await rebuild(engine, layers, layers.tree.paths(), tags[3]!);
    expect(fromLayers.id).toBe(written.id); // the same bytes, whichever way the original was read
    await using back = await openImage(engine, tags[2]!, { via: 'layers' });
    const [a, b] = [await snapshot(source), await snapshot(back)];
    let compared = 0;
    for (const [path, meta] of a) {
      if (path === '/') continue;
      expect(b.get(path), path).toEqual(meta);
      compared++;
    }
    expect(compared).toBeGreaterThan(5000);
    const config = back.config.config!;
    expect(config.Entrypoint).toEqual(['node']);
    expect(config.Cmd).toEqual(['server.js']);
    expect(config.User).toBe('nobody');
    expect(config.WorkingDir).toBe('/srv/api');
    expect(config.Labels?.['io.slim.source']).toBe('slim-samples/node-api:latest');
  });

  it('leaves no container behind', () => {
    expect(sessionContainers()).toEqual([]);
  });
});
