// 12.1: symbol-driven needs. A kept ELF file (a program, a library, or an
// interpreter's native module such as PHP's iconv.so) that imports iconv_open
// will load gconv modules later, whatever the probe exercised. The needs are
// named after the packs that satisfy them.
import { elfFiles, type ElfFile } from '../elf.js';
import { importedSymbols } from '../elf-symbols.js';
import type { RuleContext } from './context.js';
import { baseName, showPath } from '../../paths.js';

export type NeedName = 'gconv' | 'locales' | 'nss' | 'passwd' | 'certs';

export interface Need {
  /** The pack that satisfies it. */
  need: NeedName;
  reason: string;
}

/** Imported symbol → what the importer will need at run time. */
export const SYMBOL_NEEDS: Array<{ symbols: RegExp; need: NeedName }> = [
  { symbols: /^iconv_open$/, need: 'gconv' },
  { symbols: /^(setlocale|newlocale)$/, need: 'locales' },
  { symbols: /^(getaddrinfo|gethostbyname\w*|gethostbyaddr\w*)$/, need: 'nss' },
  { symbols: /^(getpw\w+|getgr\w+|initgroups)$/, need: 'passwd' },
  // TLS libraries' entry points: a TLS client or server checks peers against the trust store.
  { symbols: /^(SSL_CTX_new|gnutls_certificate_allocate_credentials|mbedtls_ssl_setup|wolfSSL_CTX_new|NSS_Init\w*)$/, need: 'certs' },
];

/**
 * The needs of the kept programs and of the modules loaded by path (PHP's iconv.so, Ruby's enc/),
 * one per need with the first importer as the reason. A library other kept files link
 * (DT_NEEDED) is left out: it imports for every feature it offers (libstdc++'s codecvt imports
 * iconv_open), and the programs linking it may use none of them; what they do use, they import.
 */
export async function symbolNeeds(ctx: RuleContext): Promise<Need[]> {
  const elves: Array<{ path: string; elf: ElfFile }> = [];
  const linked = new Set<string>();
  // A library is linked by its soname, a symlink to the file: every name a kept path gives it.
  const names = new Map<string, string[]>();
  const seenInodes = new Set<number>();
  const kept = [...ctx.kept].sort();
  const parsed = await elfFiles(ctx.tree, ctx.content, kept);
  for (const path of kept) {
    const entry = ctx.tree.get(path);
    const real = entry?.type === 'symlink' ? ctx.tree.resolve(path).path : path;
    if (real) {
      const known = names.get(real);
      if (known) known.push(baseName(path));
      else names.set(real, [baseName(path)]);
    }
    const elf = parsed.get(path);
    if (!elf || seenInodes.has(entry!.inode)) continue;
    seenInodes.add(entry!.inode);
    for (const name of elf.info.needed) linked.add(baseName(name));
    elves.push({ path, elf });
  }
  const found = new Map<NeedName, Need>();
  for (const { path, elf } of elves) {
    if (names.get(path)?.some((name) => linked.has(name))) continue;
    for (const symbol of await importedSymbols(elf)) {
      for (const { symbols, need } of SYMBOL_NEEDS) {
        if (found.has(need) || !symbols.test(symbol)) continue;
        found.set(need, { need, reason: `${showPath(path)} imports ${symbol}` });
      }
    }
    if (found.size === SYMBOL_NEEDS.length) break;
  }
  return [...found.values()].sort((a, b) => a.need.localeCompare(b.need));
}
