// The dynamic symbols an ELF file imports (undefined entries of .dynsym): what
// it will call in other libraries, so what it will need later (iconv_open →
// gconv modules). Read through the dynamic segment as the loader does, with
// the section headers as a fallback; malformed input yields an empty list.
import { ElfBytes, fileOffset, readElf, sectionHeader, type ElfFile } from './elf.js';

const DT_HASH = 4;
const DT_STRTAB = 5;
const DT_SYMTAB = 6;
const DT_STRSZ = 10;
const DT_GNU_HASH = 0x6ffffef5;
const SHT_DYNSYM = 11;
const SHN_UNDEF = 0;
/** More symbols than any real library has: a corrupt count must not make us loop for minutes. */
const MAX_SYMBOLS = 1_000_000;
/** Bytes of hash chains fetched at a time while looking for the end of the last one. */
const CHAIN_WINDOW = 4096;

interface SymbolTable {
  symtab: number;
  strtab: number;
  strsz: number;
  count: number;
}

/** Names of the undefined (imported) dynamic symbols, sorted and unique; reads the symbol table and its strings. */
export async function importedSymbols(input: Buffer | ElfFile): Promise<string[]> {
  try {
    const file = Buffer.isBuffer(input) ? await readElf(ElfBytes.of(input)) : input;
    if (!file) return [];
    const { bytes } = file;
    const table = (await fromDynamic(file)) ?? (await fromSections(file));
    if (!table) return [];
    const entrySize = bytes.is64 ? 24 : 16;
    await bytes.load(table.symtab, table.count * entrySize);
    await bytes.load(table.strtab, table.strsz);
    const names = new Set<string>();
    for (let i = 1; i < table.count; i++) {
      const o = table.symtab + i * entrySize;
      if (o + entrySize > bytes.size) break;
      const shndx = bytes.u16(o + (bytes.is64 ? 6 : 14));
      const name = bytes.u32(o);
      if (shndx !== SHN_UNDEF || name === 0 || name >= table.strsz) continue;
      if (table.strtab + name < bytes.size) names.add(bytes.cstr(table.strtab + name));
    }
    return [...names].sort();
  } catch {
    return [];
  }
}

async function fromDynamic(file: ElfFile): Promise<SymbolTable | undefined> {
  const { bytes, tags } = file;
  const symtab = fileOffset(file, tags.get(DT_SYMTAB));
  const strtab = fileOffset(file, tags.get(DT_STRTAB));
  if (symtab === undefined || strtab === undefined) return undefined;
  const strsz = Math.min(tags.get(DT_STRSZ) ?? bytes.size - strtab, bytes.size - strtab);
  const hash = fileOffset(file, tags.get(DT_HASH));
  const gnuHash = fileOffset(file, tags.get(DT_GNU_HASH));
  let count: number | undefined;
  if (hash !== undefined) {
    await bytes.load(hash, 8);
    count = bytes.u32(hash + 4);
  } else if (gnuHash !== undefined) count = await gnuHashCount(bytes, gnuHash);
  if (count === undefined) return undefined;
  return { symtab, strtab, strsz, count: Math.min(count, MAX_SYMBOLS) };
}

/** DT_GNU_HASH has no symbol count: the highest bucket's chain ends at the last symbol. */
async function gnuHashCount(bytes: ElfBytes, at: number): Promise<number> {
  await bytes.load(at, 16);
  const nbuckets = bytes.u32(at);
  const symoffset = bytes.u32(at + 4);
  const bloomSize = bytes.u32(at + 8);
  if (nbuckets > MAX_SYMBOLS || bloomSize > MAX_SYMBOLS) return 0;
  const buckets = at + 16 + bloomSize * (bytes.is64 ? 8 : 4);
  await bytes.load(buckets, nbuckets * 4);
  let last = 0;
  for (let i = 0; i < nbuckets; i++) last = Math.max(last, bytes.u32(buckets + i * 4));
  if (last < symoffset) return symoffset;
  const chains = buckets + nbuckets * 4;
  for (; last < MAX_SYMBOLS; last++) {
    const o = chains + (last - symoffset) * 4;
    await bytes.load(o, CHAIN_WINDOW);
    if ((bytes.u32(o) & 1) !== 0) break;
  }
  return last + 1;
}

async function fromSections(file: ElfFile): Promise<SymbolTable | undefined> {
  const { bytes, header } = file;
  const { shoff, shentsize, shnum } = header;
  if (shoff === 0 || shoff >= bytes.size) return undefined;
  await bytes.load(shoff, shnum * shentsize);
  for (let i = 0; i < shnum; i++) {
    const s = sectionHeader(bytes, header, i);
    if (s.type !== SHT_DYNSYM || s.link >= shnum) continue;
    const strings = sectionHeader(bytes, header, s.link);
    return { symtab: s.offset, strtab: strings.offset, strsz: strings.size, count: Math.min(Math.floor(s.size / (s.entsize || (header.is64 ? 24 : 16))), MAX_SYMBOLS) };
  }
  return undefined;
}
