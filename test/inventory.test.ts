// Reading an image through its layer directories must give exactly what
// `docker save` gives: the same tree (names, modes, owners, mtimes, links,
// devices, xattrs, hard-link identity), the same bytes, and the same slim image.
import { spawnSync } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ImageSource } from '../src/image/content.js';
import { layerDirsUnavailable, layerSource } from '../src/image/inventory.js';
import { openImage } from '../src/image/read.js';
import { rebuild } from '../src/rebuild.js';
import { cli, contentDigests, engine, removeImage, sessionContainers } from './engine-helpers.js';
import { imageArchiveFile, layerFile, tempDir } from './fixtures.js';

const CAPABILITY = Buffer.from('0100000200200000000000000000000000000000', 'hex');
const NON_UTF8 = Buffer.from([0x6e, 0xff, 0xfe, 0x2e, 0x62, 0x69, 0x6e]).toString('latin1');
const UNICODE = Buffer.from('opt/café ☕/ünï', 'utf8').toString('latin1');
const NASTY = 'slim-test/speed-nasty:latest';
const SLIM = ['slim-test/speed-nasty-a:latest', 'slim-test/speed-nasty-b:latest'];
const BUILT = 'slim-test/speed-built:latest';

/** Everything the slim layer carries about each path, hard links as groups, and content digests. */
async function describeImage(source: ImageSource) {
  const out = new Map<string, object>();
  const inodes = new Map<number, string[]>();
  const digests = await contentDigests(source);
  for (const e of source.tree.values()) {
    if (e.path === '/') continue; // the root's metadata is not part of any layer the writer copies
    if (e.type === 'file') inodes.set(e.inode, [...(inodes.get(e.inode) ?? []), e.path]);
    const digest = digests.get(e.path) ?? '';
    out.set(e.path, {
      type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size, mtime: e.mtime, link: e.linkTarget, dev: [e.devMajor, e.devMinor],
      xattrs: Object.fromEntries([...e.xattrs].map(([k, v]) => [k, v.toString('hex')])), digest,
    });
  }
  const links = [...inodes.values()].filter((paths) => paths.length > 1).map((paths) => paths.sort().join(' = ')).sort();
  return { entries: out, links };
}

/** The image through its layer directories: read on this host (as root, which the tests run as), or through the helper. */
async function openLayers(ref: string, onHost: boolean): Promise<ImageSource> {
  const source = await layerSource(engine, (await engine.inspectImage(ref))!, ref, (await engine.info()).rootDir, { onHost });
  expect(source.via).toBe(onHost ? 'layer directories' : 'layer directories, through a helper container');
  return source;
}

/** Opens an image through the layer store, both ways, and through docker save, and checks they agree entry for entry. */
async function openBothWays(ref: string) {
  const layers = await openImage(engine, ref, { via: 'layers' });
  const saved = await openImage(engine, ref, { via: 'save' });
  expect(layers.via).toBe('layer directories');
  await using helped = await openLayers(ref, false);
  const [a, b, c] = [await describeImage(layers), await describeImage(saved), await describeImage(helped)];
  expect([...a.entries.keys()].sort()).toEqual([...b.entries.keys()].sort());
  for (const [path, meta] of b.entries) expect(a.entries.get(path), JSON.stringify(path)).toEqual(meta);
  expect(a.links).toEqual(b.links);
  expect(c).toEqual(a);
  return { layers, saved, described: a };
}

async function loadNasty(dir: string): Promise<void> {
  const layers = [
    await layerFile(dir, 'l0.tar', [
      { name: 'bin/', type: 'dir', mode: 0o755 },
      { name: 'bin/ping', mode: 0o4755, data: 'pretend ping', xattrs: new Map([['security.capability', CAPABILITY], ['user.note', Buffer.from([0, 0xff])]]) },
      { name: 'bin/wall', mode: 0o2755, gid: 5, data: 'wall' },
      { name: 'odd/', type: 'dir', mode: 0o2775, uid: 3_000_000, gid: 4_000_000 },
      { name: 'odd/new\nline', data: 'newline in the name' },
      { name: `odd/${NON_UTF8}`, data: 'bytes' },
      { name: UNICODE, data: 'utf' },
      { name: 'data/a/orig', mode: 0o640, uid: 1234, data: 'one inode, two directories' },
      { name: 'data/b/alias', type: 'hardlink', linkname: 'data/a/orig' },
      { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/loop9', type: 'block', mode: 0o660, devmajor: 7, devminor: 9 },
      { name: 'run/pipe', type: 'fifo', mode: 0o600 },
      { name: 'tmp/', type: 'dir', mode: 0o1777 },
      { name: 'opaque/old', data: 'hidden by an opaque dir' },
      { name: 'opaque/sub/old', data: 'also hidden' },
      { name: 'gone', data: 'deleted later' },
      { name: 'dir-gone/x', data: 'deleted with its dir' },
      { name: 'to-ping', type: 'symlink', linkname: 'bin/ping' },
    ]),
    await layerFile(dir, 'l1.tar', [
      { name: 'opaque/', type: 'dir', mode: 0o750, mtime: 1_700_000_100 },
      { name: 'opaque/.wh..wh..opq' },
      { name: 'opaque/new', data: 'after the opaque marker' },
      { name: '.wh.gone' },
      { name: '.wh.dir-gone' },
      { name: 'bin/ping', mode: 0o4750, data: 'ping, rewritten', xattrs: new Map([['security.capability', CAPABILITY]]) },
    ]),
    await layerFile(dir, 'l2.tar', [
      { name: 'gone/', type: 'dir', mode: 0o700 },
      { name: 'gone/back', data: 'a directory where a file was' },
    ]),
  ];
  const archive = await imageArchiveFile(dir, layers, { repoTags: [NASTY] });
  const load = spawnSync('docker', ['load', '-q', '-i', archive], { encoding: 'utf8' });
  expect(load.status, load.stderr).toBe(0);
}

describe('reading images through their layer directories', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const tag of [NASTY, ...SLIM, BUILT]) removeImage(tag);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('gives the same tree and bytes as docker save for a nasty image, and the same slim image', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    await loadNasty(dir);
    const both = await openBothWays(NASTY);
    await using layers = both.layers;
    await using saved = both.saved;
    const a = both.described;
    expect(a.links).toEqual(['/data/a/orig = /data/b/alias']);
    // the cases the comparison must have covered
    expect(a.entries.has('/odd/new\nline') && a.entries.has(`/odd/${NON_UTF8}`)).toBe(true);
    expect(a.entries.has('/opaque/old') || a.entries.has('/opaque/sub')).toBe(false);
    expect(a.entries.get('/gone')).toMatchObject({ type: 'dir', mode: 0o700 });
    expect(a.entries.get('/bin/ping')).toMatchObject({ mode: 0o4750, xattrs: { 'security.capability': CAPABILITY.toString('hex') } });
    expect(a.entries.get('/dev/loop9')).toMatchObject({ type: 'block', dev: [7, 9] });

    const fromLayers = await rebuild(engine, layers, layers.tree.paths(), SLIM[0]!);
    const fromSave = await rebuild(engine, saved, saved.tree.paths(), SLIM[1]!);
    expect(fromLayers.id).toBe(fromSave.id);
    await using back = await openImage(engine, SLIM[0]!, { via: 'layers' });
    const c = await describeImage(back);
    for (const [path, meta] of a.entries) expect(c.entries.get(path), JSON.stringify(path)).toEqual(meta);
    expect(c.links).toEqual(a.links);
  });

  it('gives the same tree and bytes as docker save for an image docker build made from overlay changes', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    // Each RUN is a layer the engine wrote from an overlay upper directory: real
    // whiteouts, an opaque directory, a copied-up hard link, an empty layer.
    await writeFile(join(dir, 'Dockerfile'), [
      'FROM slim-samples/debian:bookworm',
      'RUN mkdir -p /srv/a /srv/b /srv/opaque/sub && echo one > /srv/a/file && echo two > /srv/opaque/sub/old && echo x > /srv/gone && mkfifo /srv/fifo && chmod 4755 /srv/a/file',
      'RUN ln /srv/a/file /srv/b/link && rm /srv/gone && rm -rf /srv/opaque && mkdir -p /srv/opaque && echo new > /srv/opaque/new && touch -d @1700000000 /srv/opaque',
      'RUN true',
      'RUN rm -rf /usr/share/doc && echo changed >> /etc/os-release',
    ].join('\n'));
    const build = spawnSync('docker', ['build', '-q', '-t', BUILT, dir], { encoding: 'utf8' });
    expect(build.status, build.stderr).toBe(0);
    const both = await openBothWays(BUILT);
    await using _layers = both.layers;
    await using _saved = both.saved;
    const a = both.described;
    expect(a.links).toContain('/srv/a/file = /srv/b/link');
    expect(a.entries.has('/srv/gone') || a.entries.has('/srv/opaque/sub') || a.entries.has('/usr/share/doc')).toBe(false);
  });

  it('gives the same tree as docker save for a sample image', async () => {
    await using layers = await openImage(engine, 'slim-samples/django-site:latest', { via: 'layers' });
    await using saved = await openImage(engine, 'slim-samples/django-site:latest', { via: 'save' });
    let compared = 0;
    for (const e of saved.tree.values()) {
      if (e.path === '/') continue;
      const other = layers.tree.get(e.path);
      const strip = ({ layer: _l, inode: _i, content: _c, ...meta }: typeof e) => meta;
      expect(other && strip(other), e.path).toEqual(strip(e));
      compared++;
    }
    expect(layers.tree.size).toBe(saved.tree.size);
    expect(compared).toBeGreaterThan(10_000);
  });

  it.each([['on this host', true], ['through the helper', false]])('reads ranges of a file %s, many requests in flight at once, each answered with its own bytes', async (_, onHost) => {
    await using image = await openLayers('slim-samples/c-hello:latest', onHost);
    const libc = image.tree.get(image.tree.resolve('/lib/x86_64-linux-gnu/libc.so.6').path!)!;
    const passwd = image.tree.get('/etc/passwd')!;
    const whole = await image.read(libc);
    expect(whole.length).toBe(libc.size);
    // Offsets inside, at and past the end; lengths past the end; interleaved with another file.
    const ranges = [[0, 64], [libc.size - 10, 100], [libc.size, 5], [libc.size + 7, 5], [123_457, 1], [4096, 65_536], [1, 0]] as const;
    const answers = await Promise.all(ranges.flatMap(([offset, limit]) => [image.read(libc, limit, offset), image.read(passwd, 5, 1)]));
    ranges.forEach(([offset, limit], i) => {
      expect(answers[2 * i], `${offset}+${limit}`).toEqual(whole.subarray(offset, offset + limit));
      expect(answers[2 * i + 1]!.toString()).toBe('oot:x');
    });
  });

  it.each([['on this host', true], ['through the helper', false]])('reports a file it cannot read %s, and keeps answering the next ones', async (_, onHost) => {
    await using image = await openLayers('slim-samples/c-hello:latest', onHost);
    const passwd = image.tree.get('/etc/passwd')!;
    const ghost = { ...passwd, path: '/etc/no-such-file', size: 10 };
    const [missing, next] = await Promise.allSettled([image.read(ghost), image.read(passwd, 5)]);
    expect(missing.status === 'rejected' && String(missing.reason)).toMatch(onHost ? /cannot read '\/etc\/no-such-file' \(ENOENT\)/ : /cannot read '\/etc\/no-such-file' \(errno 2\)/);
    expect(next.status === 'fulfilled' && next.value.toString()).toBe('root:');
    const files = image.files([passwd, ghost])[Symbol.asyncIterator]();
    const first = await files.next();
    for await (const _ of first.value as AsyncIterable<Buffer>);
    await expect(files.next()).rejects.toThrow(/cannot read '\/etc\/no-such-file'/);
    // The helper's answers no longer match its requests after a stream left half-way; a read on this host has no session.
    if (onHost) expect((await image.read(passwd, 5)).toString()).toBe('root:');
    else await expect(image.read(passwd)).rejects.toThrow(/abandoned/);
  });

  it('says why it reads through docker save instead, and refuses a missing image', async () => {
    const summary = { id: 'sha256:x', repoTags: [], size: 0, config: {}, diffIds: ['sha256:a', 'sha256:b'] };
    expect(layerDirsUnavailable(summary, '/var/lib/docker')).toMatch(/not overlay2/);
    expect(layerDirsUnavailable({ ...summary, layerDirs: ['/a'] }, '/var/lib/docker')).toMatch(/do not match/);
    expect(layerDirsUnavailable({ ...summary, layerDirs: ['/a', '/b'] }, '')).toMatch(/data directory/);
    expect(layerDirsUnavailable({ ...summary, layerDirs: ['/a', '/b'] }, '/var/lib/docker')).toBeUndefined();
    await expect(openImage(engine, 'slim-test/speed-absent:latest')).rejects.toThrow(/no such image/);
  });

  it('slim build reads through either source on request and says how, with each stage\'s seconds', async () => {
    const dir = await tempDir();
    dirs.push(dir);
    const tag = 'slim-test/speed-cli:slim';
    try {
      const run = await cli(['build', 'slim-samples/c-hello:latest', '--tag', tag, '--no-verify', '--read-via', 'save', '--timings', '--report', join(dir, 'report.json')]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/timings: trace \d+\.\ds, read \d+\.\ds, plan \d+\.\ds, rebuild \d+\.\ds; image read through docker save/);
      const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
      expect(report.readVia).toBe('docker save');
      expect(Object.keys(report.seconds)).toEqual(['trace', 'read', 'plan', 'rebuild']);
      const bad = await cli(['build', 'slim-samples/c-hello:latest', '--read-via', 'tar']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/use auto, layers or save/);
    } finally {
      removeImage(tag);
    }
  });

  it('leaves no container behind', () => {
    expect(sessionContainers()).toEqual([]);
  });
});
