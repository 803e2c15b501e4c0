// The layer header cache: exact round trips of nasty headers, and every way an
// entry can be wrong is a miss that reads the layer again.
import { readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedLayerHeaders, clearLayerCache, layerCacheDir } from '../src/image/layer-cache.js';
import type { TarRecord } from '../src/image/tar.js';
import { tempDir } from './fixtures.js';

const DIFF_ID = `sha256:${'ab'.repeat(32)}`;
const header = (name: string, extra: Partial<TarRecord['header']> = {}): TarRecord['header'] => ({
  name, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0, uname: '', gname: '', xattrs: new Map(), ...extra,
});
const NASTY: TarRecord[] = [
  // A name that is not UTF-8 (a char per byte), a newline, a quote and a backslash in names.
  { header: header(Buffer.from([0x6e, 0xff, 0xfe, 0x22, 0x5c, 0x0a, 0x00]).toString('latin1'), { size: 3 }), dataOffset: 512 },
  { header: header('bin/ping', { mode: 0o4755, uid: 1000, gid: 1000, size: 2 ** 40, xattrs: new Map([['security.capability', Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0xff])]]) }), dataOffset: 1536 },
  { header: header('alias', { type: 'hardlink', linkname: 'bin/ping', uname: 'r\u00e9', gname: 'w' }), dataOffset: 2048 },
  { header: header('dev/null', { type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }), dataOffset: 2560 },
];

describe('layer header cache', () => {
  it('reads a layer once, then gives back the very same headers', async () => {
    const dir = join(await tempDir(), 'layers');
    let reads = 0;
    const read = async () => (reads++, NASTY);
    expect(await cachedLayerHeaders(dir, DIFF_ID, read)).toEqual(NASTY);
    const again = await cachedLayerHeaders(dir, DIFF_ID, read);
    expect(reads).toBe(1);
    expect(again).toEqual(NASTY);
    expect(Buffer.isBuffer(again[1]!.header.xattrs.get('security.capability'))).toBe(true);
    expect(readdirSync(dir)).toEqual([`${'ab'.repeat(32)}.json`]);
  });

  it('takes a corrupt entry, another format or another layer\'s entry for a miss, and writes it anew', async () => {
    const dir = join(await tempDir(), 'layers');
    const file = join(dir, `${'ab'.repeat(32)}.json`);
    let reads = 0;
    const read = async () => (reads++, NASTY);
    await cachedLayerHeaders(dir, DIFF_ID, read);
    const good = readFileSync(file, 'utf8');
    const cutAtLine = good.slice(0, good.lastIndexOf('\n'));
    for (const bad of [good.slice(0, 100), cutAtLine, good.replace('slim-layer-headers/2', 'slim-layer-headers/1'), good.replace(DIFF_ID, `sha256:${'cd'.repeat(32)}`), '{"format":"slim-layer-headers/2"}']) {
      writeFileSync(file, bad);
      expect(await cachedLayerHeaders(dir, DIFF_ID, read)).toEqual(NASTY);
      expect(readFileSync(file, 'utf8')).toBe(good);
    }
    expect(reads).toBe(6);
  });

  it('keeps nothing without a directory or for an ID that is not a digest; SLIM_CACHE_DIR empty turns it off', async () => {
    let reads = 0;
    const read = async () => (reads++, NASTY);
    await cachedLayerHeaders(undefined, DIFF_ID, read);
    const dir = join(await tempDir(), 'layers');
    await cachedLayerHeaders(dir, '../../etc/passwd', read);
    await cachedLayerHeaders(dir, '../../etc/passwd', read);
    expect(reads).toBe(3);
    expect(() => statSync(dir)).toThrow();
    expect(layerCacheDir({ SLIM_CACHE_DIR: '' })).toBeUndefined();
    expect(layerCacheDir({ SLIM_CACHE_DIR: '/c' })).toBe('/c/layers');
    expect(layerCacheDir({ XDG_CACHE_HOME: '/x', HOME: '/h' })).toBe('/x/slim/layers');
  });

  it('stays under its limit: the entries used longest ago go first', async () => {
    const dir = join(await tempDir(), 'layers');
    const ids = ['01', '02', '03'].map((b) => `sha256:${b.repeat(32)}`);
    const size = (id: string) => statSync(join(dir, `${id.slice(7)}.json`)).size;
    await cachedLayerHeaders(dir, ids[0]!, async () => NASTY);
    const limit = size(ids[0]!) * 2.5;
    for (const [i, id] of ids.entries()) {
      await cachedLayerHeaders(dir, id, async () => NASTY, limit);
      // Used in turn, the first one longest ago.
      const at = new Date(Date.now() - (ids.length - i) * 60_000);
      utimesSync(join(dir, `${id.slice(7)}.json`), at, at);
    }
    expect(readdirSync(dir).sort()).toEqual([`${'02'.repeat(32)}.json`, `${'03'.repeat(32)}.json`]);
    // A hit counts as a use: 02, read again, outlives 03.
    await cachedLayerHeaders(dir, ids[1]!, async () => NASTY, limit);
    await cachedLayerHeaders(dir, `sha256:${'04'.repeat(32)}`, async () => NASTY, limit);
    expect(readdirSync(dir).sort()).toEqual([`${'02'.repeat(32)}.json`, `${'04'.repeat(32)}.json`]);
  });

  it('is emptied on demand (slim prune --cache), and an absent one is nothing to empty', async () => {
    const dir = join(await tempDir(), 'layers');
    expect(clearLayerCache(dir)).toBe(0);
    expect(clearLayerCache(undefined)).toBe(0);
    for (const b of ['01', '02']) await cachedLayerHeaders(dir, `sha256:${b.repeat(32)}`, async () => NASTY);
    expect(clearLayerCache(dir)).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
    let reads = 0;
    await cachedLayerHeaders(dir, `sha256:${'01'.repeat(32)}`, async () => (reads++, NASTY));
    expect(reads).toBe(1);
  });
});
