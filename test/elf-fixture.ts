// Builds minimal ELF64 little-endian shared objects in code: an interpreter,
// DT_NEEDED entries and an rpath/runpath, which is all the loader follows.
export function makeElf(opts: { interpreter?: string; needed?: string[]; runpath?: string; rpath?: string; class32?: boolean }): Buffer {
  if (opts.class32) {
    const b = Buffer.alloc(64);
    Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1]).copy(b);
    b.writeUInt16LE(3, 0x12); // EM_386
    return b;
  }
  const strings: string[] = ['', ...(opts.needed ?? []), ...(opts.runpath ? [opts.runpath] : []), ...(opts.rpath ? [opts.rpath] : [])];
  const strtab = Buffer.from(strings.join('\0') + '\0', 'latin1');
  const offsetOf = (s: string) => strings.slice(0, strings.indexOf(s)).reduce((n, x) => n + x.length + 1, 0);
  const dyn: Array<[number, number]> = [];
  for (const n of opts.needed ?? []) dyn.push([1, offsetOf(n)]);
  if (opts.runpath) dyn.push([29, offsetOf(opts.runpath)]);
  if (opts.rpath) dyn.push([15, offsetOf(opts.rpath)]);
  const interp = opts.interpreter ? Buffer.from(opts.interpreter + '\0', 'latin1') : Buffer.alloc(0);
  const phnum = 3;
  const phoff = 64;
  const interpOff = phoff + phnum * 56;
  const strtabOff = interpOff + interp.length;
  const dynOff = strtabOff + strtab.length + 8 - ((strtabOff + strtab.length) % 8);
  dyn.push([5, 0x400000 + strtabOff], [0, 0]);
  const size = dynOff + dyn.length * 16;
  const b = Buffer.alloc(size);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(b);
  b.writeUInt16LE(3, 0x10); // ET_DYN
  b.writeUInt16LE(62, 0x12); // EM_X86_64
  b.writeBigUInt64LE(BigInt(phoff), 0x20);
  b.writeUInt16LE(56, 0x36);
  b.writeUInt16LE(phnum, 0x38);
  const ph = (i: number, type: number, offset: number, vaddr: number, filesz: number) => {
    const o = phoff + i * 56;
    b.writeUInt32LE(type, o);
    b.writeBigUInt64LE(BigInt(offset), o + 8);
    b.writeBigUInt64LE(BigInt(vaddr), o + 16);
    b.writeBigUInt64LE(BigInt(filesz), o + 32);
  };
  ph(0, 1, 0, 0x400000, size); // PT_LOAD maps the whole file
  ph(1, opts.interpreter ? 3 : 6, interpOff, 0x400000 + interpOff, interp.length); // PT_INTERP (or PT_PHDR)
  ph(2, 2, dynOff, 0x400000 + dynOff, dyn.length * 16); // PT_DYNAMIC
  interp.copy(b, interpOff);
  strtab.copy(b, strtabOff);
  dyn.forEach(([tag, value], i) => {
    b.writeBigUInt64LE(BigInt(tag), dynOff + i * 16);
    b.writeBigUInt64LE(BigInt(value), dynOff + i * 16 + 8);
  });
  return b;
}
