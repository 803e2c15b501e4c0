// Bad input, each answered with a message that names the problem and what to do.
// These need no engine: they exercise the parsers and the CLI's checks.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHttpProbeFlag, readHttpProbeFile } from '../src/drivers/http.js';
import { flatten } from '../src/image/archive.js';
import { checkImageRef, readImageFile } from '../src/image/read.js';
import { FileTree } from '../src/image/tree.js';
import { parseAllowlist, parseRule, readAllowlist } from '../src/plan/allowlist.js';
import { header, imageArchiveFile, layerFile, tempDir, type Spec } from './fixtures.js';
import tar from 'tar-stream';

// No engine: DOCKER_HOST points nowhere, so a check that asks the engine first would fail here.
const cliSync = (args: string[], env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }) =>
  spawnSync(process.execPath, [new URL('../dist/cli.js', import.meta.url).pathname, ...args], { encoding: 'utf8', env, timeout: 30_000 });

async function probeFile(content: string): Promise<string> {
  const file = join(await tempDir(), 'probes.json');
  writeFileSync(file, content);
  return file;
}

const treeWith = (specs: Spec[]): FileTree => {
  const tree = new FileTree();
  tree.applyLayer(0, specs.map((s) => ({ header: header(s), dataOffset: 0 })), 'layer 0');
  return tree;
};

async function archiveOf(entries: Array<{ name: string; data: string | Buffer }>): Promise<string> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name }, e.data);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack as unknown as AsyncIterable<Buffer>) chunks.push(c);
  const file = join(await tempDir(), 'image.tar');
  writeFileSync(file, Buffer.concat(chunks));
  return file;
}

describe('image references', () => {
  it.each(['Bad Ref!!', 'app:', 'app//x', '-leading', 'with space:1', ''])('rejects %j with an example of a good one', (ref) => {
    expect(() => checkImageRef(ref)).toThrow(/not a valid image reference/);
  });
});

describe('probe flags and probe files', () => {
  it('rejects a probe flag that is neither PATH nor METHOD PATH', () => {
    expect(() => parseHttpProbeFlag('GET')).toThrow(/expected PATH or 'METHOD PATH'/);
    expect(() => parseHttpProbeFlag('GET / extra')).toThrow(/expected PATH/);
    expect(parseHttpProbeFlag('post /items')).toEqual({ method: 'POST', path: '/items' });
  });

  it('names the line of a JSON syntax error', async () => {
    const file = await probeFile('[\n  {"path": "/"},\n  {"path": }\n]');
    await expect(readHttpProbeFile(file)).rejects.toThrow(new RegExp(`${file}:3: not valid JSON`));
  });

  it.each([
    ['{"path": "/"}', /expected a JSON list of probes/],
    ['[{"path": "/", "methd": "GET"}]', /probe 1: unknown field 'methd'/],
    ['[{"path": "relative"}]', /probe 1: 'path' must be a string starting with \//],
    ['[{"path": "/"}, {"path": "/", "compare": "fuzzy"}]', /probe 2: 'compare' is 'full' or 'status'/],
    ['[{"path": "/", "mask": ["(unclosed"]}]', /probe 1: mask '\(unclosed' is not a valid regular expression/],
    ['[42]', /probe 1: expected an object/],
    ['[{"path": "/", "port": "8080"}]', /probe 1: 'port' must be a whole number from 1 to 65535/],
    ['[{"path": "/", "port": 70000}]', /probe 1: 'port' must be a whole number from 1 to 65535/],
    ['[{"path": "/", "port": 80.5}]', /probe 1: 'port' must be a whole number/],
    ['[{"path": "/", "headers": ["accept: text/html"]}]', /probe 1: 'headers' must be an object of string values/],
    ['[{"path": "/", "headers": {"x-n": 1}}]', /probe 1: 'headers' must be an object of string values/],
    ['[{"path": "/", "method": 7}]', /probe 1: 'method' must be an HTTP method/],
    ['[{"path": "/", "method": "GET /x"}]', /probe 1: 'method' must be an HTTP method/],
    ['[{"path": "/", "expectStatus": "404"}]', /probe 1: 'expectStatus' must be an HTTP status/],
    ['[{"path": "/", "expectStatus": 1000}]', /probe 1: 'expectStatus' must be an HTTP status/],
    ['[{"path": "/", "mask": "\\\\d+"}]', /probe 1: 'mask' must be a list of regular expressions/],
    ['[{"path": "/", "form": {"n": 1}}]', /probe 1: 'form' must be an object of string values/],
  ])('rejects %s', async (content, message) => {
    await expect(readHttpProbeFile(await probeFile(content))).rejects.toThrow(message);
  });

  it('says so when the probe file does not exist', async () => {
    await expect(readHttpProbeFile('/nonexistent/probes.json')).rejects.toThrow(/cannot read the file/);
  });
});

describe('allowlists', () => {
  it.each([
    ['/ok\nrelative/path\n', /a.allow:2: 'relative\/path' is not an absolute path/],
    ['# fine\n/etc/[abc\n', /a.allow:2: .*unclosed '\['/],
    ['/ok\n!not/absolute\n', /a.allow:2: 'not\/absolute' is not an absolute path/],
  ])('names file and line for %j', (text, message) => {
    expect(() => parseAllowlist(text, 'a.allow')).toThrow(message);
  });

  it('reads pack lines, comments and exclusions', () => {
    expect(parseAllowlist('# c\npack zoneinfo\n/a # trailing\n!/a/b\n', 'a.allow')).toEqual({
      packs: ['zoneinfo'],
      rules: [{ pattern: '/a', exclude: false, source: 'a.allow:3' }, { pattern: '/a/b', exclude: true, source: 'a.allow:4' }],
    });
  });

  it('says so when the allowlist file does not exist, or an --exclude-path is relative', async () => {
    await expect(readAllowlist('/nonexistent/slim.allow')).rejects.toThrow(/cannot read the file/);
    expect(() => parseRule('tmp/*', '--exclude-path', true)).toThrow(/--exclude-path: 'tmp\/\*' is not an absolute path/);
  });
});

describe('layers and archives', () => {
  it('warns of duplicate entries, absolute names and whiteouts of missing files', () => {
    const tree = treeWith([{ name: 'a', data: 'one' }, { name: 'a', data: 'two' }, { name: '/abs', data: 'x' }, { name: '.wh.ghost' }]);
    expect(tree.get('/a')!.size).toBe(3);
    expect(tree.warnings.join('\n')).toMatch(/'\/a' appears more than once; the last one wins/);
    expect(tree.warnings.join('\n')).toMatch(/entry '\/abs' has an absolute name; read as '\/abs'/);
    expect(tree.warnings.join('\n')).toMatch(/whiteout of '\/ghost', which no lower layer has/);
  });

  it('rejects entries that climb out of the root and hard links to nothing', () => {
    expect(() => treeWith([{ name: 'a/../../etc/passwd', data: 'x' }])).toThrow(/climbs out of the image root/);
    expect(() => treeWith([{ name: 'link', type: 'hardlink', linkname: 'missing' }])).toThrow(/points to '\/missing', which is not in the image/);
    expect(() => treeWith([{ name: 'd/', type: 'dir' }, { name: 'link', type: 'hardlink', linkname: 'd' }])).toThrow(/which is a directory/);
  });

  it('reads non-UTF-8 names without loss and stops at symlink loops', () => {
    const name = Buffer.from([0x66, 0xff, 0xfe]).toString('latin1');
    const tree = treeWith([{ name, data: 'x' }, { name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }]);
    expect(tree.has(`/${name}`)).toBe(true);
    expect(tree.resolve('/a/x')).toMatchObject({ loop: true });
  });

  it.each([
    [[{ name: 'manifest.json', data: '[]' }], /manifest.json lists no image/],
    [[{ name: 'manifest.json', data: '[{"Config":"c.json","Layers":[]},{"Config":"d.json","Layers":[]}]' }], /holds 2 images; slim reads one/],
    [[{ name: 'manifest.json', data: '{not json' }], /'manifest.json' is not valid JSON/],
    [[{ name: 'manifest.json', data: '[{"Config":"c.json","Layers":["l/layer.tar"]}]' }, { name: 'c.json', data: '{"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}' }], /layer 'l\/layer.tar' named in the manifest is missing/],
    [[{ name: 'manifest.json', data: '[{"Config":"c.json","Layers":[]}]' }, { name: 'c.json', data: '{"rootfs":{"type":"layers","diff_ids":["sha256:00"]}}' }], /config lists 1 layers but the manifest has 0/],
    [[{ name: 'manifest.json', data: '[{"Config":"missing.json","Layers":[]}]' }], /'missing.json' is missing from the archive/],
    [[{ name: 'index.json', data: '{"manifests":[]}' }], /index.json names no manifest/],
  ])('explains a broken archive (%#)', async (entries, message) => {
    await expect(readImageFile(await archiveOf(entries))).rejects.toThrow(message);
  });

  it('rejects a layer that is not a tar file', async () => {
    const dir = await tempDir();
    const junk = join(dir, 'junk.tar');
    writeFileSync(junk, Buffer.alloc(1024, 0x41));
    const image = await readImageFile(await imageArchiveFile(dir, [junk]));
    await expect(flatten(image)).rejects.toThrow(/bad header checksum at byte 0: not a tar file/);
    await image[Symbol.asyncDispose]();
  });

  it('reads an archive whose layers are gzip-compressed (OCI layout)', async () => {
    const dir = await tempDir();
    const layer = await layerFile(dir, 'l.tar', [{ name: 'hello', data: 'world' }]);
    const { readFileSync } = await import('node:fs');
    const { gzipSync, } = await import('node:zlib');
    const { createHash } = await import('node:crypto');
    const raw = readFileSync(layer);
    const gz = gzipSync(raw);
    const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
    const config = JSON.stringify({ rootfs: { type: 'layers', diff_ids: [`sha256:${sha(raw)}`] }, config: { Cmd: ['/hello'] } });
    const manifest = JSON.stringify({ config: { digest: `sha256:${sha(config)}` }, layers: [{ digest: `sha256:${sha(gz)}` }] });
    const file = await archiveOf([
      { name: 'index.json', data: JSON.stringify({ manifests: [{ digest: `sha256:${sha(manifest)}` }] }) },
      { name: `blobs/sha256/${sha(manifest)}`, data: manifest },
      { name: `blobs/sha256/${sha(config)}`, data: config },
      { name: `blobs/sha256/${sha(gz)}`, data: gz },
    ]);
    const image = await readImageFile(file);
    expect((await flatten(image)).get('/hello')!.size).toBe(5);
    await image[Symbol.asyncDispose]();
  });
});

describe('the command line', () => {
  it.each([
    [['build'], /build needs an IMAGE or --images-file FILE/],
    [['build', 'x', '--probe', 'ebpf'], /argument 'ebpf' is invalid. Allowed choices are fanotify, strace, auto/],
    [['build', 'x', '--continue-after', 'later'], /use probe, exec, exit, signal or timeout:SECONDS/],
    [['build', 'x', '--ready-timeout', '-1'], /--ready-timeout takes a positive number/],
    [['build', 'x', '--tune', '0'], /--tune takes a whole number above 0/],
    [['build', 'x', '--tune', '1.5'], /--tune takes a whole number above 0/],
    [['build', 'x', '--http-crawl-pages', '2.5'], /--http-crawl-pages takes a whole number above 0/],
    [['build', 'x', '--http-probe-port', '70000'], /a port is a whole number from 1 to 65535/],
    [['compare', 'a', 'b', '--http-probe-port', '80.5'], /a port is a whole number from 1 to 65535/],
    [['build', 'x', '--output', 'tarball:x.tar'], /unknown output 'tarball'/],
    [['build', 'x', '--output', 'oci'], /oci needs a directory, as in oci:DIR/],
    [['build', 'x', '--output', 'docker:x'], /docker takes no path/],
    [['build', 'x:1', '--output', 'oci:/tmp/x'], /no --output loads it there/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['xray'], /xray needs an IMAGE or --archive FILE/],
    [['build', 'x:1', '--http-probe', 'GET'], /expected PATH or 'METHOD PATH'/],
    [['build', 'x:1', '--exclude-path', 'relative'], /'relative' is not an absolute path/],
    [['build', 'x:1', '--skip-lang', 'cobol'], /unknown language 'cobol'/],
    [['build', 'x:1', '--no-include-pack', 'nope'], /unknown pack 'nope'/],
  ])('%j is a usage error (exit 2)', (args, message) => {
    const run = cliSync(args);
    expect(run.stderr).toMatch(message);
    expect(run.status).toBe(2);
  });

  it('xray of a missing archive says which file', () => {
    const run = cliSync(['xray', '--archive', '/nonexistent/image.tar']);
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/image archive \/nonexistent\/image.tar: no such file/);
  });
});
