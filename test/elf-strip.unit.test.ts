// Stripping debug sections, checked against the real toolchain: gcc builds
// programs with DWARF, readelf reads our output, and the programs still run.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packedExecutable, stripDebugSections } from '../src/strip/elf-strip.js';
import { makeElf } from './elf-fixture.js';

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
});
