// Stripping debug sections, checked against the real toolchain: gcc builds
// programs with DWARF, readelf reads our output, and the programs still run.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { archiveSource } from '../src/image/content.js';
import { readImageFile } from '../src/image/read.js';
import { packedExecutable, stripDebugSections } from '../src/strip/elf-strip.js';
import { packedExecutables, stripKept } from '../src/strip/kept.js';
import { makeElf } from './elf-fixture.js';
import { imageArchiveFile, layerFile } from './fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'slim-test-strip-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const LIB = `#include <string.h>
int shout(char *s) { int n = 0; for (; s[n]; n++) if (s[n] >= 'a' && s[n] <= 'z') s[n] -= 32; return n; }`;
const MAIN = `#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv) {
  void *lib = dlopen(argv[1], RTLD_NOW);
  if (!lib) { fprintf(stderr, "%s\\n", dlerror()); return 2; }
  int (*shout)(char *) = (int (*)(char *))dlsym(lib, "shout");
  char word[] = "stripped and loaded";
  int n = shout(word);
  printf("%s %d\\n", word, n);
  return 0;
}`;

const sections = (file: string) => {
  const run = spawnSync('readelf', ['-S', '-W', file], { encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return run.stdout;
};

describe('stripping debug sections', () => {
  it('removes DWARF from a program and a library that dlopen still loads by symbol', () => {
    writeFileSync(join(dir, 'lib.c'), LIB);
    writeFileSync(join(dir, 'main.c'), MAIN);
    execFileSync('gcc', ['-g3', '-O0', '-shared', '-fPIC', '-o', join(dir, 'libshout.so'), join(dir, 'lib.c')]);
    execFileSync('gcc', ['-g3', '-O0', '-o', join(dir, 'main'), join(dir, 'main.c'), '-ldl']);
    const expected = execFileSync(join(dir, 'main'), [join(dir, 'libshout.so')], { encoding: 'utf8' });
    expect(expected).toBe('STRIPPED AND LOADED 19\n');

    for (const name of ['main', 'libshout.so']) {
      const file = join(dir, name);
      const before = readFileSync(file);
      expect(sections(file)).toMatch(/\.debug_info/);
      const result = stripDebugSections(before)!;
      expect(result.removed).toContain('.debug_info');
      expect(result.saved).toBeGreaterThan(1000);
      writeFileSync(`${file}.stripped`, result.data);
      chmodSync(`${file}.stripped`, 0o755);
      const after = sections(`${file}.stripped`);
      expect(after).not.toMatch(/\.debug_/);
      expect(after).toMatch(/\.symtab/);
      expect(after).toMatch(/\.dynsym/);
      // As small as binutils' own strip --strip-debug, but for the removed sections' names it also drops.
      execFileSync('strip', ['--strip-debug', '-o', `${file}.binutils`, file]);
      expect(result.data.length).toBeLessThanOrEqual(readFileSync(`${file}.binutils`).length + 512);
    }
    expect(execFileSync(join(dir, 'main.stripped'), [join(dir, 'libshout.so.stripped')], { encoding: 'utf8' })).toBe(expected);
    // A second strip finds nothing left to remove.
    expect(stripDebugSections(readFileSync(join(dir, 'main.stripped')))).toBeUndefined();
  });

  it('leaves files alone that it cannot rewrite safely', () => {
    expect(stripDebugSections(Buffer.from('#!/bin/sh\necho hi\n'))).toBeUndefined();
    expect(stripDebugSections(makeElf({ needed: ['libc.so.6'] }))).toBeUndefined(); // no section table
    const real = readFileSync(process.execPath);
    for (const cut of [10, 64, 4096, real.length - 100]) expect(() => stripDebugSections(real.subarray(0, cut))).not.toThrow();
    const garbage = Buffer.alloc(4096, 0xff);
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]).copy(garbage);
    expect(stripDebugSections(garbage)).toBeUndefined();
  });

  it('recognises UPX-packed executables', () => {
    const head = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(200), Buffer.from('UPX!'), Buffer.alloc(50)]);
    expect(packedExecutable(head)).toBe('UPX');
    expect(packedExecutable(makeElf({}))).toBeUndefined();
  });

  it('strips the kept ELF files of an image, once per hard-linked file, but not those --no-strip names', async () => {
    // Built by the first test: main and libshout.so with DWARF.
    const main = readFileSync(join(dir, 'main'));
    const lib = readFileSync(join(dir, 'libshout.so'));
    const packed = Buffer.concat([main.subarray(0, 64), Buffer.alloc(0x400 - 64), Buffer.from('UPX!'), Buffer.alloc(64)]);
    const layer = await layerFile(dir, 'strip-layer.tar', [
      { name: 'usr/local/bin/main', mode: 0o755, data: main },
      { name: 'usr/bin/main-again', type: 'hardlink', linkname: 'usr/local/bin/main' },
      { name: 'usr/lib/libshout.so', data: lib },
      { name: 'usr/lib/libkept.so', data: lib },
      { name: 'usr/share/data.bin', data: lib }, // ELF bytes, but neither executable nor a shared object's name
      { name: 'usr/local/bin/packed', mode: 0o755, data: packed },
    ]);
    await using source = await archiveSource(await readImageFile(await imageArchiveFile(dir, [layer])));
    const kept = [...source.tree.paths()];
    const result = await stripKept(source, source.tree, kept, ['/usr/lib/libkept*']);
    expect(result.files.map((f) => f.path).sort()).toEqual(['/usr/bin/main-again', '/usr/lib/libshout.so']);
    expect(result.replaced.size).toBe(2);
    expect(result.saved).toBe(result.files.reduce((n, f) => n + f.before - f.after, 0));
    expect(result.replaced.get(source.tree.get('/usr/local/bin/main')!.inode)).toEqual(stripDebugSections(main)!.data);
    const warnings = await packedExecutables(source, source.tree, kept);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^\/usr\/local\/bin\/packed is packed with UPX: it unpacks itself into anonymous memory at every start/);
  });
});
