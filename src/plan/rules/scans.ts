// 12.5: static scans per language. Code names the code it loads later
// (require, include, use, a jar's Class-Path, System.loadLibrary); each
// language's table entry (plan/languages/) says which kept files it reads and
// resolves the names the way that language's runtime would, on the search
// paths the image itself has. Files found are scanned in turn.
import { languageTableOf } from '../languages/index.js';
import { dedupe, readFileAt, type KeepRequest, type RuleContext } from './context.js';
import { codeInUse } from './packages.js';

/** The scanners of the languages the run keeps packages for (all of them, unless the context says). */
const scannersFor = (ctx: RuleContext) => languageTableOf(ctx).filter((l) => !ctx.languages || ctx.languages.has(l.name)).flatMap((l) => (l.scanner ? [l.scanner] : []));

/**
 * Runs every scanner on the kept files it reads, and on what they name, transitively: in waves,
 * each wave's files read and scanned together (one at a time, each read waited for its own round trip).
 */
export async function staticScans(ctx: RuleContext): Promise<KeepRequest[]> {
  const out: KeepRequest[] = [];
  const scanned = new Set<string>();
  const scanners = scannersFor(ctx);
  for (let wave = await codeInUse(ctx); wave.length > 0;) {
    const files = wave.flatMap((path) => {
      const scanner = scanners.find((s) => s.files.test(path));
      if (!scanner || scanned.has(path) || ctx.tree.get(path)?.type !== 'file') return [];
      scanned.add(path);
      return [{ path, scanner }];
    });
    const found = (await Promise.all(files.map(async ({ path, scanner }) => scanner.scan(ctx, path, (await readFileAt(ctx, path))!)))).flat();
    out.push(...found);
    wave = found.map((r) => r.path);
  }
  return dedupe(out);
}
