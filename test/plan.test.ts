// The keep plan on generated trees: ELF closure, symlinks, packs, language packages, allowlists.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ContentSource } from '../src/image/content.js';
import { FileTree } from '../src/image/tree.js';
import { parseAllowlist, parseRule } from '../src/plan/allowlist.js';
import { elfFile, parseElf } from '../src/plan/elf.js';
import { importedSymbols } from '../src/plan/elf-symbols.js';
import { readPackageDatabase } from '../src/plan/packagedb.js';
import { planKeep, type PlanOptions } from '../src/plan/plan.js';
import { emptyTrace, addOp, type Op } from '../src/trace/trace.js';
import { makeElf } from './elf-fixture.js';
import { header, type Spec } from './fixtures.js';

/** A tree of one layer, or of several (`upper` are applied on top, in order). */
function build(specs: Spec[], ...upper: Spec[][]): { tree: FileTree; content: ContentSource } {
  const tree = new FileTree();
  const data = new Map<string, Buffer>();
  [specs, ...upper].forEach((layer, i) => tree.applyLayer(i, layer.map((s) => ({ header: header(s), dataOffset: 0 })), 'fixture'));
  for (const s of [specs, ...upper].flat()) if (s.data !== undefined) data.set('/' + s.name.replace(/\/$/, ''), Buffer.from(s.data));
  // Hard links share their target's bytes.
  const content: ContentSource = { read: async (entry, limit = Infinity, offset = 0) => (data.get(entry.path) ?? [...tree.values()].filter((e) => e.inode === entry.inode).map((e) => data.get(e.path)).find(Boolean) ?? Buffer.alloc(0)).subarray(offset, offset + limit) };
  return { tree, content };
}

const options = (over: Partial<PlanOptions> = {}): PlanOptions => ({
  entrypoint: ['/app/server'], env: ['PATH=/usr/bin:/bin'], workdir: '/app', user: '', volumes: [], rules: [],
  includePacks: [], excludePacks: [], languages: new Set(['python', 'node', 'ruby']), appDirs: true, ...over,
});

const traceOf = (entries: Array<[string, Op]>) => {
  const t = emptyTrace('fanotify');
  for (const [p, op] of entries) addOp(t, p, op);
  return t;
};

const LIBS: Spec[] = [
  { name: 'usr/', type: 'dir' },
  { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
  { name: 'lib64', type: 'symlink', linkname: 'usr/lib64' },
  { name: 'usr/lib64/ld-linux-x86-64.so.2', type: 'symlink', linkname: '../lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' },
  { name: 'usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2', mode: 0o755, data: makeElf({}) },
  { name: 'usr/lib/x86_64-linux-gnu/libc.so.6', mode: 0o755, data: makeElf({ interpreter: '/lib64/ld-linux-x86-64.so.2' }) },
  { name: 'usr/lib/x86_64-linux-gnu/libm.so.6', mode: 0o644, data: makeElf({ needed: ['libc.so.6'] }) },
  { name: 'usr/lib/x86_64-linux-gnu/libunused.so.1', mode: 0o644, data: makeElf({}) },
  { name: 'usr/lib/x86_64-linux-gnu/libnss_files.so.2', mode: 0o644, data: makeElf({ needed: ['libc.so.6'] }) },
  { name: 'usr/lib/x86_64-linux-gnu/libnss_ldap.so.2', mode: 0o644, data: makeElf({}) },
  { name: 'etc/ld.so.conf', data: 'include /etc/ld.so.conf.d/*.conf\n' },
  { name: 'etc/ld.so.conf.d/x86_64.conf', data: '# multiarch\n/usr/lib/x86_64-linux-gnu\n' },
  { name: 'etc/nsswitch.conf', data: 'passwd: files\nhosts: files dns\n' },
  { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\n' },
  { name: 'etc/group', data: 'root:x:0:\n' },
];

describe('keep plan', () => {
  it('closes over ELF dependencies through symlinks, $ORIGIN runpaths and ld.so.conf', async () => {
    const { tree, content } = build([
      ...LIBS,
      { name: 'app/server', mode: 0o755, data: makeElf({ interpreter: '/lib64/ld-linux-x86-64.so.2', needed: ['libm.so.6', 'libown.so', 'libmissing.so.9'], runpath: '$ORIGIN/../opt/lib' }) },
      { name: 'opt/lib/libown.so', mode: 0o644, data: makeElf({ needed: ['libc.so.6'] }) },
      { name: 'opt/lib/lib32.so', mode: 0o644, data: makeElf({ class32: true }) },
    ]);
    const plan = await planKeep(tree, traceOf([]), options(), content);
    const kept = (p: string) => plan.paths.has(p);
    expect(plan.paths.get('/app/server')).toContain('entrypoint');
    expect(kept('/lib64')).toBe(true);
    expect(kept('/usr/lib64/ld-linux-x86-64.so.2')).toBe(true);
    expect(kept('/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2')).toBe(true);
    expect(plan.paths.get('/usr/lib/x86_64-linux-gnu/libm.so.6')!.join()).toMatch(/ELF dependency of \/app\/server/);
    expect(kept('/usr/lib/x86_64-linux-gnu/libc.so.6')).toBe(true);
    expect(kept('/opt/lib/libown.so')).toBe(true);
    expect(kept('/usr/lib/x86_64-linux-gnu/libunused.so.1')).toBe(false);
    expect(plan.unresolved).toEqual([{ library: 'libmissing.so.9', neededBy: '/app/server' }]);
    // NSS: the modules nsswitch.conf names, not the others
    expect(kept('/usr/lib/x86_64-linux-gnu/libnss_files.so.2')).toBe(true);
    expect(kept('/usr/lib/x86_64-linux-gnu/libnss_ldap.so.2')).toBe(false);
    expect(kept('/etc/passwd') && kept('/etc/group') && kept('/etc/nsswitch.conf')).toBe(true);
    expect(plan.packs.map((p) => p.name)).toEqual(expect.arrayContaining(['nss', 'passwd']));
  });

  it('keeps script interpreters, through env, and the symlinks the app went through', async () => {
    const { tree, content } = build([
      ...LIBS,
      { name: 'usr/bin/python3.11', mode: 0o755, data: makeElf({ interpreter: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6'] }) },
      { name: 'usr/bin/python3', type: 'symlink', linkname: 'python3.11' },
      { name: 'usr/bin/env', mode: 0o755, data: makeElf({ needed: ['libc.so.6'] }) },
      { name: 'app/server', mode: 0o755, data: '#!/usr/bin/env -S python3 -u\nprint(1)\n' },
      { name: 'app/entry.sh', mode: 0o755, data: '#!/bin/sh\nexec /app/server\n' },
      { name: 'usr/bin/dash', mode: 0o755, data: makeElf({ needed: ['libc.so.6'] }) },
      { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
      { name: 'usr/bin/sh', type: 'symlink', linkname: 'dash' },
    ]);
    const plan = await planKeep(tree, traceOf([['/app/entry.sh', 'exec']]), options({ entrypoint: ['/app/entry.sh'] }), content);
    for (const p of ['/usr/bin/env', '/usr/bin/python3', '/usr/bin/python3.11', '/bin', '/usr/bin/sh', '/usr/bin/dash']) expect(plan.paths.has(p), p).toBe(true);
    expect(plan.paths.get('/usr/bin/python3')!.join()).toMatch(/interpreter of \/app\/server \(through env\)|symlink on the way/);
  });

  it('keeps whole packages, .py beside .pyc, app dirs, packs, runtime dirs and the allowlist', async () => {
    const sp = 'usr/lib/python3/dist-packages';
    const { tree, content } = build([
      ...LIBS,
      { name: `${sp}/django/__init__.py`, data: '' },
      { name: `${sp}/django/views/templates/technical_500.html`, data: 'x' },
      { name: `${sp}/django/__pycache__/__init__.cpython-311.pyc`, data: 'pyc' },
      { name: `${sp}/Django-3.2.dist-info/METADATA`, data: 'x' },
      { name: `${sp}/unused/__init__.py`, data: '' },
      { name: 'var/lib/dpkg/info/python3-django.list', data: `/.\n/usr\n/usr/lib\n/${sp}\n/${sp}/django/__init__.py\n/srv\n` },
      { name: 'var/lib/dpkg/info/tzdata.list', data: '/usr/share\n/usr/share/zoneinfo\n/usr/share/zoneinfo/Europe\n/usr/share/zoneinfo/Europe/Paris\n/usr/share/zoneinfo/right\n/usr/share/zoneinfo/right/Europe\n/usr/share/zoneinfo/right/Europe/Paris\n' },
      { name: 'var/lib/dpkg/info/extra-data.list', data: '/opt\n/opt/extra\n/opt/extra/data.bin\n/opt/extra/skip.log\n' },
      { name: 'srv/site/templates/404.html', data: 'nf' },
      { name: 'srv/site/app.py', data: 'import django' },
      { name: 'usr/share/zoneinfo/Europe/Paris', data: 'TZif' },
      { name: 'usr/share/zoneinfo/right/Europe/Paris', data: 'TZif' },
      { name: 'var/cache/app/', type: 'dir', mode: 0o770, uid: 33 },
      { name: 'tmp/', type: 'dir', mode: 0o1777 },
      { name: 'var/log/app/error.log', type: 'symlink', linkname: '/dev/stderr' },
      { name: 'opt/extra/data.bin', data: 'd' },
      { name: 'opt/extra/skip.log', data: 'l' },
      { name: 'app/server', mode: 0o755, data: makeElf({ needed: ['libc.so.6'] }) },
    ]);
    const trace = traceOf([[`/${sp}/django/__pycache__/__init__.cpython-311.pyc`, 'open'], ['/srv/site/app.py', 'open'], ['/usr/share/zoneinfo/Europe/Paris', 'open'], ['/nope', 'missing']]);
    const { rules } = parseAllowlist('# extra data\n/opt/extra\n!/opt/extra/*.log\n/nothing/*.x\n', 'slim.allow');
    const plan = await planKeep(tree, trace, options({ rules }), content);
    const kept = (p: string) => plan.paths.has(p);
    expect(kept(`/${sp}/django/views/templates/technical_500.html`)).toBe(true);
    expect(kept(`/${sp}/Django-3.2.dist-info/METADATA`)).toBe(true);
    expect(kept(`/${sp}/django/__init__.py`)).toBe(true);
    expect(kept(`/${sp}/unused/__init__.py`)).toBe(false);
    expect(plan.paths.get('/srv/site/templates/404.html')!.join()).toMatch(/app directory \/srv\/site/);
    expect(kept('/usr/share/zoneinfo/Europe/Paris')).toBe(true);
    expect(kept('/usr/share/zoneinfo/right/Europe/Paris')).toBe(false);
    expect(kept('/var/cache/app') && kept('/tmp')).toBe(true);
    expect(kept('/var/log/app/error.log')).toBe(true);
    expect(plan.paths.get('/opt/extra/data.bin')).toEqual(['allowlist slim.allow:2']);
    expect(kept('/opt/extra/skip.log')).toBe(false);
    expect(kept('/nope')).toBe(false);
    expect(plan.warnings).toEqual(["slim.allow:4: '/nothing/*.x' matches nothing in the image"]);
  });

  it('can turn packs and language rules off', async () => {
    const { tree, content } = build([...LIBS, { name: 'app/server', mode: 0o755, data: makeElf({ needed: ['libc.so.6'] }) }]);
    const plan = await planKeep(tree, traceOf([]), options({ excludePacks: ['nss', 'passwd'] }), content);
    expect(plan.paths.has('/etc/nsswitch.conf')).toBe(false);
    expect(plan.paths.has('/etc/passwd')).toBe(false);
  });
});

describe('allowlist files', () => {
  it('names the file and line of a bad entry', () => {
    expect(() => parseAllowlist('/ok\n\nrelative/path\n', 'my.allow')).toThrow(/my.allow:3: 'relative\/path' is not an absolute path/);
    expect(() => parseAllowlist('/ok/[abc\n', 'my.allow')).toThrow(/my.allow:1: .*unclosed/);
    expect(parseRule('/a/b/', '--include-path').pattern).toBe('/a/b');
  });
});

describe('ELF parser', () => {
  it('reads what readelf reads from a real binary', async () => {
    const binary = readFileSync('/usr/bin/strace');
    const info = (await parseElf(binary))!;
    const readelf = execFileSync('readelf', ['-d', '/usr/bin/strace'], { encoding: 'utf8' });
    const needed = [...readelf.matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]);
    expect(info.needed).toEqual(needed);
    expect(info.interpreter).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(await parseElf(Buffer.from('not an elf'))).toBeUndefined();
    expect(await parseElf(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]))).toBeUndefined();
  });

  it('reads only the parts the loader reads, once, and agrees with a parse of the whole file', async () => {
    const whole = readFileSync(process.execPath); // node: ~100 MB, a large dynamic symbol table
    const { tree, content: all } = build([{ name: 'usr/bin/node', mode: 0o755, data: whole }]);
    const reads: Array<[number, number]> = [];
    const content: ContentSource = { read: async (entry, limit, offset = 0) => { const data = await all.read(entry, limit, offset); reads.push([offset, data.length]); return data; } };
    const entry = tree.get('/usr/bin/node')!;
    const bytesRead = () => reads.reduce((sum, [, length]) => sum + length, 0);
    const elf = (await elfFile(content, entry))!;
    expect(elf.info).toEqual(await parseElf(whole));
    // Header, program headers, interpreter, dynamic segment, the needed names: a few small reads.
    expect(reads.length).toBeLessThanOrEqual(5);
    expect(bytesRead()).toBeLessThan(64 * 1024);
    // The symbols add the symbol table and its strings, not the code.
    expect(await importedSymbols(elf)).toEqual(await importedSymbols(whole));
    expect(bytesRead()).toBeLessThan(whole.length / 10);
    const count = reads.length;
    expect(await elfFile(content, { ...entry, path: '/usr/bin/nodejs' })).toBe(elf); // a hard link: the same inode, parsed once
    expect(reads.length).toBe(count);
  });
});

describe('keep rules for common layouts', () => {
  const reasonOf = (plan: { paths: Map<string, string[]> }, path: string) => (plan.paths.get(path) ?? []).join('; ');

  it('keeps files no package installed in app places, and nothing a package installed there', async () => {
    const { tree, content } = build([
      ...LIBS,
      { name: 'var/lib/dpkg/info/nginx-common.list', data: '/.\n/usr\n/usr/share\n/usr/share/nginx\n/usr/share/nginx/html\n/usr/share/nginx/html/index.html\n/lib/x86_64-linux-gnu/libc.so.6\n' },
      { name: 'var/lib/dpkg/info/tool:amd64.list', data: '/usr/local\n/usr/local/bin\n/usr/local/bin/packaged\n' },
      { name: 'usr/share/nginx/html/index.html', data: 'packaged page' },
      { name: 'usr/share/nginx/html/site.html', data: 'my page' },
      { name: 'usr/share/nginx/html/sub dir/page\nwith newline.html', data: 'nasty name' },
      { name: 'usr/share/other/data.txt', data: 'not near the app' },
      { name: 'usr/local/bin/packaged', mode: 0o755, data: 'x' },
      { name: 'usr/local/bin/mine', mode: 0o755, data: 'x' },
      { name: 'usr/local/include/mine.h', data: 'headers are for building' },
      { name: 'usr/local/lib/python3.11/site-packages/unused/__init__.py', data: '' },
      { name: 'var/lib/app/.cache/warm', data: 'home filled at build time' },
      { name: 'etc/passwd', data: 'root:x:0:0::/root:/bin/sh\napp:x:1001:1001::/var/lib/app:/bin/sh\n' },
      { name: 'work/job.sh', mode: 0o755, data: 'echo' },
      { name: 'app/server', mode: 0o755, data: makeElf({ needed: ['libc.so.6'] }) },
    ]);
    const trace = traceOf([['/usr/share/nginx/html/index.html', 'open'], ['/usr/share/nginx/html/site.html', 'open']]);
    const plan = await planKeep(tree, trace, options({ user: '1001', workdir: '/work' }), content);
    expect(reasonOf(plan, '/usr/share/nginx/html/sub dir/page\nwith newline.html')).toMatch(/app directory \/usr\/share\/nginx \(not from a package, says the dpkg database\)/);
    expect(plan.paths.has('/usr/share/other/data.txt')).toBe(false);
    expect(reasonOf(plan, '/usr/local/bin/mine')).toMatch(/not from a package/);
    expect(plan.paths.has('/usr/local/bin/packaged')).toBe(false);
    expect(plan.paths.has('/usr/local/include/mine.h')).toBe(false);
    // Packages of a language are the language rules' to keep: this one was never touched.
    expect(plan.paths.has('/usr/local/lib/python3.11/site-packages/unused/__init__.py')).toBe(false);
    expect(reasonOf(plan, '/var/lib/app/.cache/warm')).toMatch(/not from a package/);
    expect(reasonOf(plan, '/work/job.sh')).toMatch(/app directory \/work/);
    // dpkg lists /lib/... on merged-/usr images: the real path counts as installed too.
    expect(reasonOf(plan, '/usr/lib/x86_64-linux-gnu/libc.so.6')).not.toMatch(/not from a package/);
    const off = await planKeep(tree, trace, options({ user: '1001', workdir: '/work', appDirs: false }), content);
    expect(off.paths.has('/usr/local/bin/mine') || off.paths.has('/usr/share/nginx/html/sub dir')).toBe(false);
  });

  it("keeps an app's own node_modules with the app, and global packages only when required", async () => {
    const { tree, content } = build([
      ...LIBS,
      { name: 'var/lib/dpkg/info/base.list', data: '/usr\n/usr/local\n/usr/local/lib\n' },
      { name: 'app/server.js', data: "const engine = require(process.env.VIEWS);\nrequire('used');\n" },
      { name: 'app/node_modules/pug/index.js', data: '' },
      { name: 'usr/local/lib/node_modules/npm/index.js', data: '' },
      { name: 'usr/local/lib/node_modules/used/index.js', data: '' },
      { name: 'app/server', mode: 0o755, data: makeElf({ needed: ['libc.so.6'] }) },
    ]);
    const plan = await planKeep(tree, traceOf([['/app/server.js', 'open']]), options(), content);
    expect(reasonOf(plan, '/app/node_modules/pug/index.js')).toMatch(/app directory \/app \(not from a package/);
    expect(reasonOf(plan, '/usr/local/lib/node_modules/used/index.js')).toMatch(/node package used, required by \/app\/server\.js/);
    expect(plan.paths.has('/usr/local/lib/node_modules/npm/index.js')).toBe(false);
  });

  it('reads apk databases, names an unreadable RPM database, and falls back to the layers', async () => {
    const apk = build([
      { name: 'lib/apk/db/installed', data: 'P:musl\nF:lib\nR:ld-musl-x86_64.so.1\n\nP:busybox\nF:bin\nR:busybox\n' },
      { name: 'lib/ld-musl-x86_64.so.1', data: 'x' },
      { name: 'bin/busybox', data: 'x' },
      { name: 'bin/mine', data: 'x' },
    ]);
    const warnings: string[] = [];
    const db = await readPackageDatabase(apk.tree, apk.content, warnings);
    expect([db.source, db.installed('/bin/busybox'), db.installed('/lib/ld-musl-x86_64.so.1'), db.installed('/bin/mine')]).toEqual(['the apk database', true, true, false]);

    const base = [{ name: 'etc/os-release', data: 'ID=fedora\n' }, { name: 'var/lib/rpm/rpmdb.sqlite', data: 'SQLite format 3' }, { name: 'usr/bin/tool', data: 'x' }];
    const rpm = build(base, [{ name: 'opt/site/page.html', data: 'mine' }, { name: 'usr/bin/added', data: 'x' }]);
    const rpmDb = await readPackageDatabase(rpm.tree, rpm.content, warnings);
    expect(warnings).toEqual([expect.stringMatching(/RPM database .* deciding from the layers/)]);
    expect([rpmDb.installed('/usr/bin/tool'), rpmDb.installed('/opt/site/page.html'), rpmDb.installed('/usr/bin/added')]).toEqual([true, false, false]);
    const plan = await planKeep(rpm.tree, traceOf([]), options({ entrypoint: [], workdir: '' }), rpm.content);
    expect(reasonOf(plan, '/opt/site/page.html')).toMatch(/app directory \/opt\/site \(not from a package, says the layers above the base OS layer 0\)/);

    // A packaged file that a later layer replaced (a page COPY'd over index.html) is the user's.
    const replaced = build([{ name: 'var/lib/dpkg/info/web.list', data: '/srv\n/srv/index.html\n/srv/logo.png\n' }, { name: 'srv/index.html', data: 'packaged' }, { name: 'srv/logo.png', data: 'png' }], [{ name: 'srv/index.html', data: 'mine' }]);
    const replacedDb = await readPackageDatabase(replaced.tree, replaced.content, []);
    expect(['/srv', '/srv/index.html', '/srv/logo.png'].map(replacedDb.installed)).toEqual([true, false, true]);

    // FROM scratch: no base OS layer, every file is the user's.
    const scratch = build([{ name: 'app/bin/server', data: 'x' }]);
    expect((await readPackageDatabase(scratch.tree, scratch.content, [])).installed('/app/bin/server')).toBe(false);
  });

  it('keeps the Python standard library whole with its interpreter, without its test suite and IDE', async () => {
    const std = 'usr/lib/python3.11';
    const { tree, content } = build([
      ...LIBS,
      { name: 'usr/lib/x86_64-linux-gnu/liblzma.so.5', mode: 0o644, data: makeElf({ needed: ['libc.so.6'] }) },
      { name: 'usr/bin/python3.11', mode: 0o755, data: makeElf({ interpreter: '/lib64/ld-linux-x86-64.so.2', needed: ['libc.so.6'] }) },
      { name: `${std}/os.py`, data: '' },
      { name: `${std}/csv.py`, data: '' },
      { name: `${std}/__pycache__/csv.cpython-311.pyc`, data: '' },
      { name: `${std}/turtle.py`, data: '' },
      { name: `${std}/__pycache__/turtle.cpython-311.pyc`, data: '' },
      { name: `${std}/json/__init__.py`, data: '' },
      { name: `${std}/lib-dynload/_lzma.cpython-311-x86_64-linux-gnu.so`, mode: 0o644, data: makeElf({ needed: ['liblzma.so.5'] }) },
      { name: `${std}/test/test_os.py`, data: '' },
      { name: `${std}/idlelib/idle.py`, data: '' },
      { name: `${std}/site-packages/big/__init__.py`, data: '' },
      { name: 'app/server', mode: 0o755, data: '#!/usr/bin/python3.11\n' },
    ]);
    const plan = await planKeep(tree, traceOf([]), options(), content);
    for (const p of ['os.py', 'csv.py', '__pycache__/csv.cpython-311.pyc', 'json/__init__.py', 'lib-dynload/_lzma.cpython-311-x86_64-linux-gnu.so']) {
      expect(reasonOf(plan, `/${std}/${p}`), p).toMatch(/python standard library of \/usr\/bin\/python3\.11/);
    }
    expect(reasonOf(plan, '/usr/lib/x86_64-linux-gnu/liblzma.so.5')).toMatch(/ELF dependency of .*_lzma/);
    for (const p of ['test/test_os.py', 'idlelib/idle.py', 'turtle.py', '__pycache__/turtle.cpython-311.pyc', 'site-packages/big/__init__.py']) expect(plan.paths.has(`/${std}/${p}`), p).toBe(false);
    const python = plan.rules.find((r) => r.rule === 'python packages')!;
    expect(python.paths).toBeGreaterThanOrEqual(5);
    expect(plan.rules.reduce((sum, r) => sum + r.paths, 0)).toBe(plan.paths.size);
  });

  it('recognises gem homes (bundler, RubyGems) by gems/ beside specifications/', async () => {
    const { tree, content } = build([
      ...LIBS,
      { name: 'usr/local/bundle/specifications/rack-3.0.gemspec', data: 'spec' },
      { name: 'usr/local/bundle/gems/rack-3.0/lib/rack.rb', data: '' },
      { name: 'usr/local/bundle/gems/rack-3.0/lib/rack/mime.rb', data: '' },
      { name: 'usr/local/bundle/gems/sinatra-4/lib/sinatra.rb', data: '' },
      { name: 'srv/gems/notes.txt', data: 'a directory named gems is not a gem home' },
      { name: 'app/server', mode: 0o755, data: makeElf({ needed: ['libc.so.6'] }) },
    ]);
    const plan = await planKeep(tree, traceOf([['/usr/local/bundle/gems/rack-3.0/lib/rack.rb', 'open']]), options({ appDirs: false }), content);
    expect(reasonOf(plan, '/usr/local/bundle/gems/rack-3.0/lib/rack/mime.rb')).toMatch(/ruby package/);
    expect(reasonOf(plan, '/usr/local/bundle/specifications/rack-3.0.gemspec')).toMatch(/metadata of ruby package/);
    expect(plan.paths.has('/usr/local/bundle/gems/sinatra-4/lib/sinatra.rb')).toBe(false);
  });

  it('keeps gconv modules when the app converted, locales the environment names, VOLUME contents, and finds libc on any architecture', async () => {
    const lib = 'usr/lib/s390x-linux-gnu';
    const { tree, content } = build([
      { name: 'usr/', type: 'dir' },
      { name: `${lib}/ld64.so.1`, mode: 0o755, data: makeElf({}) },
      { name: `${lib}/libc.so.6`, mode: 0o755, data: makeElf({}) },
      { name: `${lib}/gconv/gconv-modules`, data: 'module' },
      { name: `${lib}/gconv/gconv-modules.cache`, data: 'cache' },
      { name: `${lib}/gconv/ISO8859-1.so`, data: makeElf({}) },
      { name: `${lib}/gconv/UTF-16.so`, data: makeElf({}) },
      { name: 'usr/lib/locale/de_DE.utf8/LC_CTYPE', data: 'de' },
      { name: 'usr/lib/locale/fr_FR.utf8/LC_CTYPE', data: 'fr' },
      { name: 'usr/lib/locale/locale-archive', data: 'archive' },
      { name: 'etc/nsswitch.conf', data: 'hosts: files\n' },
      { name: 'data/seed/rows.csv', data: '1,2' },
      { name: 'app/server', mode: 0o755, data: makeElf({ interpreter: `/${lib}/ld64.so.1`, needed: ['libc.so.6'] }) },
    ]);
    const env = ['PATH=/usr/bin', 'LANG=de_DE.UTF-8'];
    const converted = await planKeep(tree, traceOf([[`/${lib}/gconv/ISO8859-1.so`, 'open']]), options({ env, volumes: ['/data'] }), content);
    // A module loaded by path from a directory of siblings brings them (plugin rule), as the pack would.
    expect(reasonOf(converted, `/${lib}/gconv/UTF-16.so`)).toBe(`plugin beside /${lib}/gconv/ISO8859-1.so, which was loaded by path from /${lib}/gconv; pack gconv`);
    expect(reasonOf(converted, '/usr/lib/locale/de_DE.utf8/LC_CTYPE')).toBe('pack locales');
    expect(converted.packs.find((p) => p.name === 'locales')?.why).toMatch(/de_DE\.UTF-8/);
    expect(converted.paths.has('/usr/lib/locale/locale-archive')).toBe(true);
    expect(converted.paths.has('/usr/lib/locale/fr_FR.utf8/LC_CTYPE')).toBe(false);
    expect(converted.packs.map((p) => p.name)).toContain('nss');
    expect(reasonOf(converted, '/data/seed/rows.csv')).toMatch(/VOLUME \/data of the image/);
    const configOnly = await planKeep(tree, traceOf([[`/${lib}/gconv/gconv-modules.cache`, 'open']]), options(), content);
    expect(configOnly.paths.has(`/${lib}/gconv/gconv-modules.cache`)).toBe(true);
    expect(configOnly.paths.has(`/${lib}/gconv/UTF-16.so`)).toBe(false);
  });
});
