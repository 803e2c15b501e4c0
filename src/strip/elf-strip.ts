// Strips DWARF debug sections from ELF files: nothing at run time reads them
// (the loader maps only segments; dlopen and dladdr use .dynsym; symbol-name
// backtraces use .symtab, which stays). What is removed is re-laid out like
// `strip --strip-debug`: the loadable part of the file is untouched byte for
// byte, the remaining non-allocated sections and the section table follow it.
import { ElfBytes, elfHeader, elfLayout, programHeader, sectionHeader, type SectionHeader } from '../plan/elf.js';

const SHF_ALLOC = 0x2;
const SHF_INFO_LINK = 0x40;
const SHT_NOBITS = 8;
const SHT_REL = 9;
const SHT_RELA = 4;

interface Section extends SectionHeader {
  index: number;
  /** The name itself (SectionHeader's `name` is its offset in the string table). */
  title: string;
  raw: Buffer;
}

export interface StripResult {
  data: Buffer;
  saved: number;
  removed: string[];
}

const isDebugSection = (name: string): boolean => /^\.(z?debug|gnu\.debuglto_)/.test(name);
const hasFlag = (s: SectionHeader, flag: number): boolean => (s.flags & flag) !== 0;

/**
 * The file without its debug sections, or undefined when it has none or its
 * layout is not one we can rewrite safely (debug data inside the loaded part).
 */
export function stripDebugSections(data: Buffer): StripResult | undefined {
  try {
    const bytes = ElfBytes.of(data);
    const header = elfHeader(bytes);
    if (!header) return undefined;
    const { is64, little, phnum, shoff, shnum, shentsize, shstrndx } = header;
    if (shoff === 0 || shnum === 0 || shstrndx >= shnum || shoff + shnum * shentsize > data.length) return undefined;

    const sections: Section[] = Array.from({ length: shnum }, (_, index) => {
      const o = shoff + index * shentsize;
      const s = sectionHeader(bytes, header, index);
      return { ...s, align: Math.max(1, s.align), index, title: '', raw: data.subarray(o, o + shentsize) };
    });
    const names = sections[shstrndx]!;
    for (const s of sections) s.title = bytes.cstr(names.offset + s.name);

    const removed = new Set(sections.filter((s) => s.index !== 0 && isDebugSection(s.title) && !hasFlag(s, SHF_ALLOC)).map((s) => s.index));
    // Relocations that apply to a removed section go with it.
    for (const s of sections) {
      if ((s.type === SHT_REL || s.type === SHT_RELA) && hasFlag(s, SHF_INFO_LINK) && removed.has(s.info)) removed.add(s.index);
    }
    if (removed.size === 0 || removed.has(shstrndx)) return undefined;

    // The loaded part: every segment and allocated section. Debug data inside it cannot be cut out.
    const layout = elfLayout(is64);
    let loadedEnd: number = layout.header.size;
    for (let i = 0; i < phnum; i++) {
      const p = programHeader(bytes, header, i);
      loadedEnd = Math.max(loadedEnd, header.phoff + phnum * header.phentsize, p.offset + p.filesz);
    }
    for (const s of sections) {
      if (s.index !== 0 && hasFlag(s, SHF_ALLOC) && s.type !== SHT_NOBITS) loadedEnd = Math.max(loadedEnd, s.offset + s.size);
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
      const offset = newOffset.get(s.index);
      if (offset !== undefined) writeWord(entry, layout.section.offset, offset, header);
      if (s.link !== 0) writeU32(entry, layout.section.link, newIndex.get(s.link) ?? 0, little);
      if (hasFlag(s, SHF_INFO_LINK) && s.info !== 0) writeU32(entry, layout.section.info, newIndex.get(s.info) ?? 0, little);
      entry.copy(table, i * shentsize);
    });
    parts.push(Buffer.alloc(tablePad), table);

    const out = Buffer.concat(parts);
    writeWord(out, layout.header.shoff, tableOffset, header);
    writeU16(out, layout.header.shnum, kept.length, little);
    writeU16(out, layout.header.shstrndx, newIndex.get(shstrndx)!, little);
    if (out.length >= data.length) return undefined;
    return { data: out, saved: data.length - out.length, removed: sections.filter((s) => removed.has(s.index)).map((s) => s.title) };
  } catch {
    return undefined;
  }
}

const writeU16 = (b: Buffer, o: number, v: number, little: boolean) => (little ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
const writeU32 = (b: Buffer, o: number, v: number, little: boolean) => (little ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
/** An address or offset: 8 bytes in ELF64, 4 in ELF32. */
const writeWord = (b: Buffer, o: number, v: number, { is64, little }: { is64: boolean; little: boolean }) => {
  if (!is64) writeU32(b, o, v, little);
  else if (little) b.writeBigUInt64LE(BigInt(v), o);
  else b.writeBigUInt64BE(BigInt(v), o);
};

/** UPX and similar packers: the file unpacks itself into memory at every start. */
export function packedExecutable(head: Buffer): string | undefined {
  const text = head.toString('latin1');
  if (text.includes('UPX!')) return 'UPX';
  return undefined;
}
