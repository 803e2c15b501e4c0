// The shell's own logic without an engine: verdicts, quoting, tuning's
// allowlist, zstd layers, and the file outputs read back by our own reader.
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { compareResults } from '../src/compare.js';
import type { ProbeResult } from '../src/drivers/result.js';
import type { Engine } from '../src/engine.js';
import { flatten, readImageArchive } from '../src/image/archive.js';
import { archiveSource } from '../src/image/content.js';
import { readImageFile } from '../src/image/read.js';
import { parseOutput } from '../src/output/outputs.js';
import { escapeControl, shellQuote } from '../src/quote.js';
import { rebuild } from '../src/rebuild.js';
import { emptyTrace, addOp } from '../src/trace/trace.js';
import { addSuggestions, suggest, tuneAllowlist } from '../src/tune.js';
import { globToRegExp, isGlob, literalPath } from '../src/plan/glob.js';
import { imageArchiveFile, layerFile, tempDir, zstdFrame, type Spec } from './fixtures.js';

const http = (path: string, status: number, extra: Partial<ProbeResult> = {}): ProbeResult => ({
  kind: 'http', name: `GET ${path}`, status, size: 3, digest: 'sha256:abc', compare: 'full', ok: status > 0, excerpt: '',
  probe: { method: 'GET', path }, ...extra,
});

describe('verdicts', () => {
  it('nothing compared is not equivalent', () => {
    expect(compareResults([], [])).toMatchObject({ equivalent: false, total: 0 });
  });

  it('a probe the original did not answer is not "same", even when the slim image did not answer either', () => {
    const c = compareResults([http('/', 0, { error: 'connection refused' })], [http('/', 0)]);
    expect(c.rows[0]).toMatchObject({ verdict: 'unanswered' });
    expect(c.rows[0]!.why).toMatch(/no answer from the original \(connection refused\)/);
    expect(c.equivalent).toBe(false);
  });

  it('two probes with one display name stay two probes', () => {
    const get = http('/a', 200, { name: 'same name' });
    const post = http('/a', 200, { name: 'same name', probe: { method: 'POST', path: '/a', body: 'x' } });
    const c = compareResults([get, post], [{ ...post }, { ...get, status: 500 }]);
    expect(c.total).toBe(2);
    expect(c.rows.map((r) => r.verdict).sort()).toEqual(['different', 'same']);
  });

  it('repeats of one probe pair up in order, and a probe sent to one image only is missing', () => {
    const c = compareResults([http('/', 200), http('/', 200), http('/x', 200)], [http('/', 200), http('/', 404)]);
    expect(c.rows.map((r) => r.verdict).sort()).toEqual(['different', 'missing', 'same']);
  });

  it('a crawled page matches its re-sent probe whatever it is called', () => {
    const crawled = http('/about/', 200, { name: 'GET /about/ (crawl)', probe: { method: 'GET', path: '/about/', name: 'GET /about/ (crawl)' } });
    expect(compareResults([crawled], [{ ...crawled, name: 'other', probe: { method: 'GET', path: '/about/' } }]).equivalent).toBe(true);
  });
});

describe('quoting', () => {
  it.each([
    ['/usr/lib/x.so', '/usr/lib/x.so'],
    ["/srv/it's here", `'/srv/it'\\''s here'`],
    ['/a b/$(rm -rf ~)', "'/a b/$(rm -rf ~)'"],
    ['', "''"],
  ])('shell-quotes %j as one word', (word, quoted) => {
    expect(shellQuote(word)).toBe(quoted);
    // What sh makes of it is the word itself.
    expect(execFileSync('/bin/sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' })).toBe(word);
  });

  it('refuses control characters in a shell word, and escapes them in text', () => {
    expect(() => shellQuote('/x\nslim build evil')).toThrow(/control characters/);
    expect(escapeControl('/a\nb\x1b[2Jc\t')).toBe('/a\\nb\\x1b[2Jc\\t');
  });
});

describe('tuning allowlist', () => {
  const tree = async (specs: Spec[]) => {
    const dir = await tempDir();
    const image = await readImageFile(await imageArchiveFile(dir, [await layerFile(dir, 'l.tar', specs)]));
    try {
      return await flatten(image);
    } finally {
      await image[Symbol.asyncDispose]();
    }
  };

  it('a path holding a newline cannot add lines to the allowlist', async () => {
    const evil = '/srv/app/x\npack shell\n/';
    const original = await tree([{ name: 'srv/', type: 'dir' }, { name: 'srv/app/', type: 'dir' }, { name: evil.slice(1), data: 'x' }, { name: 'srv/app/ok.txt', data: 'ok' }]);
    const trace = emptyTrace('strace');
    addOp(trace, evil, 'missing');
    addOp(trace, '/srv/app/ok.txt', 'missing');
    const suggestions = suggest(original, trace, new Set(['/', '/srv']), new Set(), ['GET /\nevil']);
    expect(suggestions.map((s) => s.line)).toEqual(['/srv/app/ok.txt']);
    const { list, added } = addSuggestions(tuneAllowlist('slim.allow', ''), [...suggestions, { line: evil, comment: 'x' }, { line: '/y', comment: 'a\npack shell' }]);
    expect(added.map((a) => a.line)).toEqual(['/srv/app/ok.txt', '/y']);
    expect(list.packs).toEqual([]);
    expect(list.rules.map((r) => r.pattern)).toEqual(['/srv/app/ok.txt', '/y']);
    expect(list.text).toContain('# a\\npack shell\n/y\n');
  });

  it('a path with glob characters becomes a line that matches exactly it, once', async () => {
    const odd = ['/app/[id]/page.js', '/app/what?.txt', '/app/a*b'];
    const original = await tree([{ name: 'app/', type: 'dir' }, { name: 'app/[id]/', type: 'dir' }, { name: 'app/[id]/page.js', data: 'x' }, { name: 'app/i/', type: 'dir' }, { name: 'app/i/page.js', data: 'decoy' }, { name: 'app/what?.txt', data: 'x' }, { name: 'app/a*b', data: 'x' }]);
    const trace = emptyTrace('strace');
    for (const path of odd) addOp(trace, path, 'missing');
    const suggestions = suggest(original, trace, new Set(['/', '/app']), new Set(), []);
    expect(suggestions.map((s) => s.line).sort()).toEqual(['/app/\\[id]/page.js', '/app/a\\*b', '/app/what\\?.txt']);
    const { list, added } = addSuggestions(tuneAllowlist('slim.allow', ''), suggestions);
    expect(added).toHaveLength(3);
    // Read back, each line matches its own path and nothing else; a second round adds nothing.
    for (const [i, rule] of list.rules.entries()) {
      const re = globToRegExp(rule.pattern);
      expect(odd.filter((p) => re.test(p))).toHaveLength(1);
      expect(isGlob(rule.pattern), rule.pattern).toBe(false);
      expect(odd).toContain(literalPath(rule.pattern));
      expect(re.test('/app/i/page.js'), String(i)).toBe(false);
    }
    expect(addSuggestions(list, suggestions).added).toEqual([]);
  });

  it('starts from the existing text, parsed once, and adds each line once', () => {
    const start = tuneAllowlist('slim.allow', '# mine\n/srv/templates\npack zoneinfo\n');
    const { list, added } = addSuggestions(start, [
      { line: '/srv/templates/a.html', comment: 'covered by a directory' },
      { line: 'pack zoneinfo', comment: 'already on' },
      { line: '/etc/app.conf', comment: 'looked for /etc/app.conf' },
    ]);
    expect(added.map((a) => a.line)).toEqual(['/etc/app.conf']);
    expect(list.text).toBe('# mine\n/srv/templates\npack zoneinfo\n# looked for /etc/app.conf\n/etc/app.conf\n');
    expect(addSuggestions(list, added).added).toEqual([]);
  });
});

/** An engine that must not be asked: file outputs work without one. */
const noEngine = new Proxy({}, { get: (_t, name) => { throw new Error(`the engine was asked for ${String(name)}`); } }) as Engine;

async function tarDirectory(dir: string): Promise<Buffer> {
  const pack = tar.pack();
  const walk = (at: string) => {
    for (const name of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, name.name);
      if (name.isDirectory()) walk(path);
      else pack.entry({ name: relative(dir, path) }, readFileSync(path));
    }
  };
  walk(dir);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks);
}

describe('image files', () => {
  const specs: Spec[] = [
    { name: 'bin/', type: 'dir', mode: 0o755 },
    { name: 'bin/app', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
    { name: 'bin/same', type: 'hardlink', linkname: 'bin/app' },
    { name: 'etc/', type: 'dir' },
    { name: 'etc/big', data: Buffer.alloc(300_000, 7) },
  ];

  it('reads a zstd-compressed layer (generated, several blocks) on this Node.js', async () => {
    const dir = await tempDir();
    const file = await imageArchiveFile(dir, [await layerFile(dir, 'l.tar', specs)], { compress: zstdFrame });
    await using image = await readImageFile(file);
    const tree = await flatten(image);
    expect(tree.get('/etc/big')?.size).toBe(300_000);
    expect(tree.get('/bin/same')?.inode).toBe(tree.get('/bin/app')?.inode);
  });

  it('says so when a zstd layer is cut short', async () => {
    const dir = await tempDir();
    const file = await imageArchiveFile(dir, [await layerFile(dir, 'l.tar', specs)], { compress: (b) => zstdFrame(b).subarray(0, 200_000) });
    await expect(readImageFile(file)).rejects.toThrow(/zstd layer cannot be decompressed|config expects|truncated/);
  });

  it('writes an OCI layout and a docker save archive that read back as the same image, without an engine', async () => {
    const dir = await tempDir();
    await using image = await archiveSource(await readImageFile(await imageArchiveFile(dir, [await layerFile(dir, 'l.tar', specs)])));
    const keep = ['/bin', '/bin/app', '/bin/same', '/etc', '/etc/big'];
    const oci = join(dir, 'layout');
    const archive = join(dir, 'slim.tar');
    const result = await rebuild(noEngine, image, keep, 'slim-test/shell-out:1', [parseOutput(`oci:${oci}`), parseOutput(`archive:${archive}`)]);
    expect(result.written).toEqual([`oci:${oci}`, `archive:${archive}`]);
    expect(result.loaded).toBe(false);
    expect(readdirSync(dir).filter((n) => n.includes('partial'))).toEqual([]);
    expect(JSON.parse(readFileSync(join(oci, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(readFileSync(join(oci, 'index.json'), 'utf8'));
    expect(index.manifests[0].annotations['io.containerd.image.name']).toBe('slim-test/shell-out:1');

    const fromOci = await readImageArchive(Readable.from([await tarDirectory(oci)]), 'oci');
    const fromArchive = await readImageArchive(createReadStream(archive), 'archive');
    try {
      for (const read of [fromOci, fromArchive]) {
        expect(read.id).toBe(result.id);
        const back = await flatten(read);
        expect([...back.paths()].sort()).toEqual(['/', ...keep].sort());
        expect(back.get('/bin/same')?.inode).toBe(back.get('/bin/app')?.inode);
      }
      expect(fromArchive.repoTags).toEqual(['slim-test/shell-out:1']);
    } finally {
      await fromOci[Symbol.asyncDispose]();
      await fromArchive[Symbol.asyncDispose]();
    }
  });

  it('will not write over an existing directory', async () => {
    const dir = await tempDir();
    await using image = await archiveSource(await readImageFile(await imageArchiveFile(dir, [await layerFile(dir, 'l.tar', specs)])));
    await expect(rebuild(noEngine, image, ['/bin'], 'x:1', [parseOutput(`oci:${dir}`)])).rejects.toThrow(/already exists/);
    expect(existsSync(join(dir, 'index.json'))).toBe(false);
  });
});
