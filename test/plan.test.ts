// The keep plan on generated trees: ELF closure, symlinks, packs, language packages, allowlists.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ContentSource } from '../src/image/content.js';
import { FileTree } from '../src/image/tree.js';
import { parseAllowlist, parseRule } from '../src/plan/allowlist.js';
import { parseElf } from '../src/plan/elf.js';
import { planKeep, type PlanOptions } from '../src/plan/plan.js';
import { emptyTrace, addOp, type Op } from '../src/trace/trace.js';
import { makeElf } from './elf-fixture.js';
import { header, type Spec } from './fixtures.js';

function build(specs: Spec[]): { tree: FileTree; content: ContentSource } {
  const tree = new FileTree();
  const data = new Map<string, Buffer>();
  tree.applyLayer(0, specs.map((s) => ({ header: header(s), dataOffset: 0 })), 'fixture');
  for (const s of specs) if (s.data !== undefined) data.set('/' + s.name.replace(/\/$/, ''), Buffer.from(s.data));
  // Hard links share their target's bytes.
  const content: ContentSource = { read: async (entry, limit = Infinity) => (data.get(entry.path) ?? [...tree.values()].filter((e) => e.inode === entry.inode).map((e) => data.get(e.path)).find(Boolean) ?? Buffer.alloc(0)).subarray(0, limit) };
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
  it('reads what readelf reads from a real binary', () => {
    const binary = readFileSync('/usr/bin/strace');
    const info = parseElf(binary)!;
    const readelf = execFileSync('readelf', ['-d', '/usr/bin/strace'], { encoding: 'utf8' });
    const needed = [...readelf.matchAll(/\(NEEDED\).*\[(.+)\]/g)].map((m) => m[1]);
    expect(info.needed).toEqual(needed);
    expect(info.interpreter).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(parseElf(Buffer.from('not an elf'))).toBeUndefined();
    expect(parseElf(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]))).toBeUndefined();
  });
});
