// Tar codec, flatten and image archive reading on generated fixtures (no engine).
import { createHash } from 'node:crypto';
import { open, readFile, rm, writeFile, truncate } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { flatten, readImageArchive } from '../src/image/archive.js';
import { chainIds } from '../src/image/inventory.js';
import { tarSplitHeaders } from '../src/image/tar-split.js';
import { readImageFile } from '../src/image/read.js';
import { encodeHeader, fileSink, readTarHeaders, tarSize, TarWriter } from '../src/image/tar.js';
import { FileTree } from '../src/image/tree.js';
import { header, imageArchiveFile, layerFile, tempDir, type Spec } from './fixtures.js';
import { createReadStream } from 'node:fs';

const CAPABILITY = Buffer.from('0100000200200000000000000000000000000000', 'hex'); // cap_net_bind_service, with 0x80-free and 0x00 bytes
const BINARY_XATTR = Buffer.from([0x01, 0x80, 0xff, 0x00, 0xfe]);
const LONG_NAME = `deep/${'d'.repeat(120)}/${'f'.repeat(140)}.txt`;
const NON_UTF8 = Buffer.from([0x6e, 0x6f, 0x6e, 0xff, 0xfe, 0x2e, 0x74, 0x78, 0x74]).toString('latin1'); // "non\xff\xfe.txt"
const UNICODE = Buffer.from('données/café ☕.txt', 'utf8').toString('latin1');

async function roundTrip(specs: Spec[]) {
  const dir = await tempDir();
  const file = await layerFile(dir, 'layer.tar', specs);
  const handle = await open(file, 'r');
  const records = [];
  for await (const r of readTarHeaders(handle, 'fixture')) records.push(r);
  await handle.close();
  return { records, file };
}

async function treeOf(layers: Spec[][]): Promise<FileTree> {
  const dir = await tempDir();
  const files = await Promise.all(layers.map((l, i) => layerFile(dir, `l${i}.tar`, l)));
  const image = await readImageFile(await imageArchiveFile(dir, files));
  try {
    return await flatten(image);
  } finally {
    await image[Symbol.asyncDispose]();
  }
}

describe('tar codec', () => {
  it('keeps binary xattrs, long, non-ASCII and non-UTF-8 names byte for byte', async () => {
    const { records } = await roundTrip([
      { name: 'bin/ping', mode: 0o4755, data: 'ELF', xattrs: new Map([['security.capability', CAPABILITY], ['user.blob', BINARY_XATTR]]) },
      { name: LONG_NAME, data: 'long' },
      { name: NON_UTF8, data: 'x' },
      { name: UNICODE, data: 'y' },
      { name: 'link', type: 'symlink', linkname: `target/${'t'.repeat(150)}` },
      { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/sda', type: 'block', mode: 0o660, devmajor: 8, devminor: 0 },
      { name: 'run/fifo', type: 'fifo', mode: 0o600 },
      { name: 'tmp/', type: 'dir', mode: 0o1777 },
      { name: 'big-ids', uid: 3_000_000, gid: 4_000_000, data: 'z' },
    ]);
    const byName = new Map(records.map((r) => [r.header.name, r.header]));
    expect(byName.get('bin/ping')!.xattrs.get('security.capability')!.equals(CAPABILITY)).toBe(true);
    expect(byName.get('bin/ping')!.xattrs.get('user.blob')!.equals(BINARY_XATTR)).toBe(true);
    expect(byName.get('bin/ping')!.mode).toBe(0o4755);
    expect(byName.has(LONG_NAME)).toBe(true);
    expect(byName.has(NON_UTF8)).toBe(true);
    expect(byName.has(UNICODE)).toBe(true);
    expect(byName.get('link')!.linkname).toBe(`target/${'t'.repeat(150)}`);
    expect(byName.get('dev/null')).toMatchObject({ type: 'char', devmajor: 1, devminor: 3, mode: 0o666 });
    expect(byName.get('dev/sda')).toMatchObject({ type: 'block', devmajor: 8 });
    expect(byName.get('run/fifo')!.type).toBe('fifo');
    expect(byName.get('tmp/')!.mode).toBe(0o1777);
    expect(byName.get('big-ids')).toMatchObject({ uid: 3_000_000, gid: 4_000_000 });
  });

  it('knows the size of an archive before writing it', async () => {
    const specs: Spec[] = [{ name: LONG_NAME, data: 'x'.repeat(700) }, { name: 'bin/ping', data: 'p', xattrs: new Map([['security.capability', CAPABILITY]]) }, { name: 'd/', type: 'dir' }];
    const { file } = await roundTrip(specs);
    expect((await readFile(file)).length).toBe(tarSize(specs.map(header)));
  });

  it('writes the same bytes for the same entries', () => {
    const h = header({ name: UNICODE, data: 'abc', xattrs: new Map([['security.capability', CAPABILITY]]) });
    expect(encodeHeader(h).equals(encodeHeader({ ...h }))).toBe(true);
  });

  it('rejects a corrupted header checksum', async () => {
    const { file } = await roundTrip([{ name: 'a', data: 'hello' }]);
    const bytes = await readFile(file);
    bytes[10] ^= 0xff;
    await writeFile(file, bytes);
    const handle = await open(file, 'r');
    await expect((async () => { for await (const _ of readTarHeaders(handle, 'fixture')); })()).rejects.toThrow(/checksum/);
    await handle.close();
  });

  it('rejects a truncated archive', async () => {
    const { file } = await roundTrip([{ name: 'a', data: 'x'.repeat(5000) }]);
    await truncate(file, 1500);
    const handle = await open(file, 'r');
    await expect((async () => { for await (const _ of readTarHeaders(handle, 'fixture')); })()).rejects.toThrow(/truncated/);
    await handle.close();
  });

  it('refuses content of the wrong length', async () => {
    const dir = await tempDir();
    const handle = await open(join(dir, 'x.tar'), 'w');
    const writer = new TarWriter(fileSink(handle));
    await expect(writer.add(header({ name: 'a', data: 'abc' }), (async function* () { yield Buffer.from('ab'); })())).rejects.toThrow(/expected 3 bytes/);
    await handle.close();
  });
});

describe('flatten', () => {
  it('applies whiteouts, opaque directories, deletion and re-creation', async () => {
    const tree = await treeOf([
      [
        { name: 'etc/', type: 'dir' },
        { name: 'etc/keep', data: 'base' },
        { name: 'etc/gone', data: 'deleted later' },
        { name: 'data/', type: 'dir', mode: 0o700, uid: 1000 },
        { name: 'data/old-1', data: '1' },
        { name: 'data/old-2', data: '2' },
        { name: 'recreated', data: 'first' },
      ],
      [
        { name: 'etc/.wh.gone' },
        { name: 'data/.wh..wh..opq' },
        { name: 'data/new', data: 'new' },
        { name: '.wh.recreated' },
      ],
      [{ name: 'recreated', data: 'second!' }],
    ]);
    expect(tree.has('/etc/keep')).toBe(true);
    expect(tree.has('/etc/gone')).toBe(false);
    expect(tree.children('/data')).toEqual(['new']);
    expect(tree.get('/data')).toMatchObject({ mode: 0o700, uid: 1000 });
    expect(tree.get('/recreated')).toMatchObject({ size: 7, layer: 2 });
    expect(tree.waste.get(0)).toMatchObject({ files: 4 });
  });

  it('keeps a hard link made in a later layer as one inode with its target', async () => {
    const tree = await treeOf([
      [{ name: 'usr/bin/tool', mode: 0o755, data: 'v1' }],
      [{ name: 'usr/bin/alias', type: 'hardlink', linkname: 'usr/bin/tool' }],
    ]);
    expect(tree.get('/usr/bin/alias')!.inode).toBe(tree.get('/usr/bin/tool')!.inode);
  });

  it('splits the inode when a later layer replaces the target: the link keeps the old content', async () => {
    const tree = await treeOf([
      [{ name: 'usr/bin/tool', mode: 0o755, data: 'v1' }],
      [{ name: 'usr/bin/alias', type: 'hardlink', linkname: 'usr/bin/tool' }],
      [{ name: 'usr/bin/tool', mode: 0o755, data: 'version2' }],
    ]);
    const alias = tree.get('/usr/bin/alias')!;
    expect(alias).toMatchObject({ type: 'file', size: 2, mode: 0o755 });
    expect(tree.get('/usr/bin/tool')).toMatchObject({ size: 8 });
    expect(alias.inode).not.toBe(tree.get('/usr/bin/tool')!.inode);
  });

  it('rejects hard links to missing files and names that climb out of the root', async () => {
    await expect(treeOf([[{ name: 'a', type: 'hardlink', linkname: 'nowhere' }]])).rejects.toThrow(/hard link '\/a' points to '\/nowhere', which is not in the image/);
    await expect(treeOf([[{ name: '../escape', data: 'x' }]])).rejects.toThrow(/climbs out of the image root/);
  });

  it('resolves symlinks like the kernel, inside the image root', async () => {
    const tree = await treeOf([[
      { name: 'usr/lib/x86_64-linux-gnu/libc.so.6', data: 'libc' },
      { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
      { name: 'usr/bin/python3.11', data: 'py' },
      { name: 'usr/bin/python3', type: 'symlink', linkname: 'python3.11' },
      { name: 'usr/bin/python', type: 'symlink', linkname: '/usr/bin/python3' },
      { name: 'up', type: 'symlink', linkname: '../../../../usr' },
      { name: 'loop-a', type: 'symlink', linkname: 'loop-b' },
      { name: 'loop-b', type: 'symlink', linkname: 'loop-a' },
    ]]);
    expect(tree.resolve('/lib/x86_64-linux-gnu/libc.so.6')).toEqual({ path: '/usr/lib/x86_64-linux-gnu/libc.so.6', via: ['/lib'] });
    expect(tree.resolve('/usr/bin/python')).toEqual({ path: '/usr/bin/python3.11', via: ['/usr/bin/python', '/usr/bin/python3'] });
    expect(tree.resolve('/up/bin/python3', false).path).toBe('/usr/bin/python3');
    expect(tree.resolve('/loop-a').loop).toBe(true);
    expect(tree.resolve('/usr/bin/python3.11/x').missing).toBe('/usr/bin/python3.11/x');
  });
});

describe('image archives', () => {
  it('reads the legacy layout and checks layer digests', async () => {
    const dir = await tempDir();
    const layer = await layerFile(dir, 'l.tar', [{ name: 'bin/app', mode: 0o755, data: 'app' }]);
    const image = await readImageFile(await imageArchiveFile(dir, [layer]));
    expect(image.layers).toHaveLength(1);
    expect(image.config.config?.Cmd).toEqual(['/bin/app']);
    await image[Symbol.asyncDispose]();
    const corrupt = await imageArchiveFile(await tempDir(), [layer], { corruptDigest: true });
    await expect(readImageFile(corrupt)).rejects.toThrow(/has digest sha256:\w+ but the config expects/);
  });

  it('says what is wrong with a truncated archive or a file that is not one', async () => {
    const dir = await tempDir();
    const layer = await layerFile(dir, 'l.tar', [{ name: 'x', data: 'y'.repeat(100_000) }]);
    const file = await imageArchiveFile(dir, [layer]);
    await truncate(file, 50_000);
    await expect(readImageFile(file)).rejects.toThrow(/truncated|missing/);
    const junk = join(dir, 'junk.tar');
    await writeFile(junk, Buffer.alloc(2048));
    await expect(readImageArchive(createReadStream(junk), junk)).rejects.toThrow(/neither manifest.json nor index.json/);
    await expect(readImageFile(join(dir, 'absent.tar'))).rejects.toThrow(/no such file/);
  });
});

describe('layer store records', () => {
  it('reads tar-split lines of every shape alike: the engine\'s, re-ordered or spaced ones, names that spell the size key', async () => {
    const header = Buffer.from(Array.from({ length: 1024 }, (_, i) => (i * 7) % 256));
    const bytesOf = async (lines: string[]) => {
      const split = await tarSplitHeaders(gzipSync(lines.join('\n')), 'fixture');
      const { size } = await split.stat();
      const out = Buffer.alloc(size);
      await split.read(out, 0, size, 0);
      return out;
    };
    const [a, b] = [header.subarray(0, 512), header.subarray(512)];
    const expected = Buffer.concat([a, Buffer.alloc(700), b, Buffer.alloc(3)]);
    // Go's encoding/json: fields in struct order, no spaces, names escaped, payload null for a name's crc left out.
    const go = [
      `{"type":2,"payload":"${a.toString('base64')}","position":0}`,
      `{"type":1,"name":"x\\",\\"size\\":9,\\"y","size":700,"payload":"AAAAAAAAAAA=","position":1}`,
      `{"type":2,"payload":"${b.toString('base64')}","position":2}`,
      '{"type":1,"name":"./empty","payload":null,"position":3}',
      '{"type":1,"name":"./three","size":3,"payload":null,"position":4}',
      '',
    ];
    expect((await bytesOf(go)).equals(expected)).toBe(true);
    const other = [
      `{ "payload": "${a.toString('base64')}", "type": 2 }`,
      '{"type":1,"size":700,"name":"x"}',
      `{"position":2,"type":2,"payload":"${b.toString('base64')}"}`,
      '{"type":2,"payload":null,"position":3}',
      '{"type":1,"name":"three","size":3}',
    ];
    expect((await bytesOf(other)).equals(expected)).toBe(true);
    // Base64 without its padding is not Go's: it goes through JSON.parse and Buffer's lenient decoder, as before.
    expect((await bytesOf([`{"type":2,"payload":"${a.toString('base64').replace(/=+$/, '')}"}`])).equals(a)).toBe(true);
    await expect(bytesOf(['{"type":2,"payload":"AAAA"', ''])).rejects.toThrow(/not valid JSON/);
  });

  it('reads the exact headers from a tar-split record, file contents left out', async () => {
    const dir = await tempDir();
    try {
      const file = await layerFile(dir, 'l.tar', [
        { name: 'bin/ping', mode: 0o4755, data: 'x'.repeat(1500), xattrs: new Map([['security.capability', CAPABILITY]]) },
        { name: LONG_NAME, data: 'long' },
        { name: 'odd/new\nline', data: '' },
        { name: NON_UTF8, data: 'y'.repeat(511) },
        { name: 'alias', type: 'hardlink', linkname: 'bin/ping' },
        { name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      ]);
      const bytes = await readFile(file);
      const handle = await open(file, 'r');
      const records = [];
      for await (const r of readTarHeaders(handle, 'fixture')) records.push(r);
      await handle.close();
      // tar-split: raw segments between file contents, and the contents' sizes.
      const lines: string[] = [];
      let at = 0;
      for (const { header: h, dataOffset } of records) {
        if (h.type !== 'file' || h.size === 0) continue;
        lines.push(JSON.stringify({ type: 2, payload: bytes.subarray(at, dataOffset).toString('base64') }));
        lines.push(JSON.stringify({ type: 1, name: h.name, size: h.size, payload: 'crc' }));
        at = dataOffset + h.size;
      }
      lines.push(JSON.stringify({ type: 2, payload: bytes.subarray(at).toString('base64') }));
      const split = await tarSplitHeaders(gzipSync(lines.join('\n') + '\n'), 'fixture');
      const fromSplit = [];
      for await (const r of readTarHeaders(split, 'fixture')) fromSplit.push(r);
      expect(fromSplit).toEqual(records);
      await expect((async () => { for await (const _ of readTarHeaders(await tarSplitHeaders(gzipSync('{"type":2,"payload":"AAAA"}\nnot json\n'), 'x'), 'x')); })()).rejects.toThrow(/not valid JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('computes chain IDs the way the engine names layers', () => {
    const a = `sha256:${'a'.repeat(64)}`;
    const b = `sha256:${'b'.repeat(64)}`;
    expect(chainIds([a, b])).toEqual([a, `sha256:${createHash('sha256').update(`${a} ${b}`).digest('hex')}`]);
  });
});

describe('file tree walks', () => {
  it('lists descendants in name order and sees later changes', async () => {
    const tree = await treeOf([
      [{ name: 'a/b/c', data: '1' }, { name: 'a/b.d', data: '2' }, { name: 'a/z/', type: 'dir' }, { name: 'a/b/a', data: '3' }],
      [{ name: 'a/b/.wh.c' }, { name: 'a/y', data: '4' }],
    ]);
    expect([...tree.descendants('/a')]).toEqual(['/a/b', '/a/b/a', '/a/b.d', '/a/y', '/a/z']);
    expect(tree.children('/a')).toEqual(['b', 'b.d', 'y', 'z']);
    expect([...tree.descendants('/a/z')]).toEqual([]);
    expect([...tree.descendants('/missing')]).toEqual([]);
  });

  it('gives the same tree whether a layer is applied at once or in the event loop\'s turns', async () => {
    // Thousands of entries, so that the pauses fall among whiteouts, an opaque directory and hard links.
    const lower: Spec[] = Array.from({ length: 3000 }, (_, i) => ({ name: `d${i % 7}/f${i}`, data: String(i) }));
    const upper: Spec[] = [
      ...Array.from({ length: 1500 }, (_, i) => ({ name: `d${(i * 2) % 7}/.wh.f${i * 2}` })),
      { name: 'd6/.wh..wh..opq' },
      ...Array.from({ length: 200 }, (_, i) => ({ name: `d6/g${i}`, type: 'hardlink' as const, linkname: `d1/f${i * 14 + 1}` })),
    ];
    const layers = [lower, upper].map((specs) => specs.map((s) => ({ header: header(s), dataOffset: 0 })));
    const atOnce = new FileTree();
    layers.forEach((records, i) => atOnce.applyLayer(i, records, 'fixture'));
    const inTurns = new FileTree();
    for (const [i, records] of layers.entries()) await inTurns.applyLayerInTurns(i, records, 'fixture');
    expect([...inTurns.values()]).toEqual([...atOnce.values()]);
    expect(inTurns.has('/d0/f0')).toBe(false);
    expect(inTurns.children('/d6')).toHaveLength(200);
    expect(inTurns.get('/d6/g1')?.inode).toBe(inTurns.get('/d1/f15')?.inode);
  });
});
