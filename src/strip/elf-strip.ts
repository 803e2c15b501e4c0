// Strips DWARF debug sections from ELF files: nothing at run time reads them
// (the loader maps only segments; dlopen and dladdr use .dynsym; symbol-name
// backtraces use .symtab, which stays). What is removed is re-laid out like
// `strip --strip-debug`: the loadable part of the file is untouched byte for
// byte, the remaining non-allocated sections and the section table follow it.

const SHF_ALLOC = 0x2;
const SHF_INFO_LINK = 0x40;
const SHT_NOBITS = 8;
const SHT_REL = 9;
const SHT_RELA = 4;

interface Section {
  index: number;
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  link: number;
  info: number;
  align: number;
  raw: Buffer;
}

export interface StripResult {
  data: Buffer;
  saved: number;
  removed: string[];
}

const isDebugSection = (name: string): boolean => /^\.(z?debug|gnu\.debuglto_)/.test(name);

/**
 * The file without its debug sections, or undefined when it has none or its
 * layout is not one we can rewrite safely (debug data inside the loaded part).
 */
export function stripDebugSections(data: Buffer): StripResult | undefined {
  if (data.length < 52 || data.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = data[4] === 2;
  const little = data[5] === 1;
  const u16 = (o: number) => (little ? data.readUInt16LE(o) : data.readUInt16BE(o));
  const u32 = (o: number) => (little ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const word = (o: number) => (is64 ? Number(little ? data.readBigUInt64LE(o) : data.readBigUInt64BE(o)) : u32(o));
  const flagsAt = (o: number) => (is64 ? (little ? data.readBigUInt64LE(o) : data.readBigUInt64BE(o)) : BigInt(u32(o)));
  try {
    const phoff = word(is64 ? 0x20 : 0x1c);
    const shoff = word(is64 ? 0x28 : 0x20);
    const phentsize = u16(is64 ? 0x36 : 0x2a);
    const phnum = u16(is64 ? 0x38 : 0x2c);
    const shentsize = u16(is64 ? 0x3a : 0x2e);
    const shnum = u16(is64 ? 0x3c : 0x30);
    const shstrndx = u16(is64 ? 0x3e : 0x32);
    if (shoff === 0 || shnum === 0 || shstrndx >= shnum || shoff + shnum * shentsize > data.length) return undefined;

    const sections: Section[] = [];
    for (let i = 0; i < shnum; i++) {
      const o = shoff + i * shentsize;
      sections.push({
        index: i,
        name: '',
        type: u32(o + 4),
        flags: flagsAt(o + 8),
        offset: word(is64 ? o + 0x18 : o + 0x10),
        size: word(is64 ? o + 0x20 : o + 0x14),
        link: u32(is64 ? o + 0x28 : o + 0x18),
        info: u32(is64 ? o + 0x2c : o + 0x1c),
        align: Math.max(1, word(is64 ? o + 0x30 : o + 0x20)),
        raw: data.subarray(o, o + shentsize),
      });
    }
    const names = sections[shstrndx]!;
    for (const s of sections) {
      const start = names.offset + u32(shoff + s.index * shentsize);
      const end = data.indexOf(0, start);
      s.name = data.toString('latin1', start, end === -1 ? start : end);
    }

    const removed = new Set(sections.filter((s) => s.index !== 0 && isDebugSection(s.name) && (s.flags & BigInt(SHF_ALLOC)) === 0n).map((s) => s.index));
    // Relocations that apply to a removed section go with it.
    for (const s of sections) {
      if ((s.type === SHT_REL || s.type === SHT_RELA) && (s.flags & BigInt(SHF_INFO_LINK)) !== 0n && removed.has(s.info)) removed.add(s.index);
    }
    if (removed.size === 0 || removed.has(shstrndx)) return undefined;

    // The loaded part: every segment and allocated section. Debug data inside it cannot be cut out.
    let loadedEnd = is64 ? 64 : 52;
    for (let i = 0; i < phnum; i++) {
      const o = phoff + i * phentsize;
      loadedEnd = Math.max(loadedEnd, phoff + phnum * phentsize, word(is64 ? o + 8 : o + 4) + word(is64 ? o + 32 : o + 16));
    }
    for (const s of sections) {
      if (s.index !== 0 && (s.flags & BigInt(SHF_ALLOC)) !== 0n && s.type !== SHT_NOBITS) loadedEnd = Math.max(loadedEnd, s.offset + s.size);
    }
    if (sections.some((s) => removed.has(s.index) && s.offset < loadedEnd && s.size > 0)) return undefined;

    const kept = sections.filter((s) => !removed.has(s.index));
    const newIndex = new Map(kept.map((s, i) => [s.index, i]));
    const parts: Buffer[] = [data.subarray(0, loadedEnd)];
    let size = loadedEnd;
    const newOffset = new Map<number, number>();
    const trailing = kept.filter((s) => s.index !== 0 && s.offset >= loadedEnd && s.type !== SHT_NOBITS).sort((a, b) => a.offset - b.offset);
    for (const s of trailing) {
      const pad = (s.align - (size % s.align)) % s.align;
      parts.push(Buffer.alloc(pad), data.subarray(s.offset, s.offset + s.size));
      newOffset.set(s.index, size + pad);
      size += pad + s.size;
    }
    const tableAlign = is64 ? 8 : 4;
    const tablePad = (tableAlign - (size % tableAlign)) % tableAlign;
    const tableOffset = size + tablePad;
    const table = Buffer.alloc(kept.length * shentsize);
    kept.forEach((s, i) => {
      const entry = Buffer.from(s.raw);
      const w32 = (o: number, v: number) => (little ? entry.writeUInt32LE(v, o) : entry.writeUInt32BE(v, o));
      const wWord = (o: number, v: number) => (is64 ? (little ? entry.writeBigUInt64LE(BigInt(v), o) : entry.writeBigUInt64BE(BigInt(v), o)) : w32(o, v));
      const offset = newOffset.get(s.index);
      if (offset !== undefined) wWord(is64 ? 0x18 : 0x10, offset);
      if (s.link !== 0) w32(is64 ? 0x28 : 0x18, newIndex.get(s.link) ?? 0);
      if ((s.flags & BigInt(SHF_INFO_LINK)) !== 0n && s.info !== 0) w32(is64 ? 0x2c : 0x1c, newIndex.get(s.info) ?? 0);
      entry.copy(table, i * shentsize);
    });
    parts.push(Buffer.alloc(tablePad), table);

    const out = Buffer.concat(parts);
    const w16 = (o: number, v: number) => (little ? out.writeUInt16LE(v, o) : out.writeUInt16BE(v, o));
    if (is64) little ? out.writeBigUInt64LE(BigInt(tableOffset), 0x28) : out.writeBigUInt64BE(BigInt(tableOffset), 0x28);
    else little ? out.writeUInt32LE(tableOffset, 0x20) : out.writeUInt32BE(tableOffset, 0x20);
    w16(is64 ? 0x3c : 0x30, kept.length);
    w16(is64 ? 0x3e : 0x32, newIndex.get(shstrndx)!);
    if (out.length >= data.length) return undefined;
    return { data: out, saved: data.length - out.length, removed: sections.filter((s) => removed.has(s.index)).map((s) => s.name) };
  } catch {
    return undefined;
  }
}

/** UPX and similar packers: the file unpacks itself into memory at every start. */
export function packedExecutable(head: Buffer): string | undefined {
  const text = head.toString('latin1');
  if (text.includes('UPX!')) return 'UPX';
  return undefined;
}
