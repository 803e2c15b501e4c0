// 15.3: runtimes that load by name. A language runtime loads parts of itself
// later by convention, never through DT_NEEDED or a path the probe touched:
// each language's table entry (plan/languages/) may name its runtime, which
// says how to recognise it among the kept files and what it loads lazily.
import { type FileTree } from '../../image/tree.js';
import { languageTableOf } from '../languages/index.js';
import { dedupe, type KeepRequest, type RuleContext } from './context.js';
import { showPath } from '../../paths.js';

/** Adds the real paths of symlinks under the requested paths: a runtime's conf/ often links into /etc. */
function withLinkTargets(tree: FileTree, requests: KeepRequest[]): KeepRequest[] {
  const out = [...requests];
  for (const { path, reason } of requests) {
    const under = tree.get(path)?.type === 'dir' ? [...tree.descendants(path)] : [path];
    for (const p of under) {
      if (tree.get(p)?.type !== 'symlink') continue;
      const real = tree.resolve(p).path;
      if (real) out.push({ path: real, reason: `target of ${showPath(p)}: ${reason}` });
    }
  }
  return out;
}

export async function runtimeLoadsByName(ctx: RuleContext): Promise<KeepRequest[]> {
  const runtimes = languageTableOf(ctx).flatMap((l) => (l.runtime ? [l.runtime] : []));
  const out: KeepRequest[] = [];
  const homes = new Set<string>();
  for (const path of ctx.kept) {
    if (ctx.tree.get(path)?.type !== 'file') continue;
    for (const runtime of runtimes) {
      const home = runtime.recognise.exec(path)?.[1];
      if (home === undefined || homes.has(`${runtime.name}:${home}`)) continue;
      homes.add(`${runtime.name}:${home}`);
      for (const { path: loaded, why } of await runtime.loads(ctx, home || '/')) {
        if (ctx.tree.has(loaded)) out.push({ path: loaded, reason: `${runtime.name} runtime ${showPath(home || '/')} ${why}` });
      }
    }
  }
  return dedupe(withLinkTargets(ctx.tree, out));
}
