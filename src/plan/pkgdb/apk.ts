// Alpine's apk database, /lib/apk/db/installed: P: name, V: version, D:
// depends (names, so:/cmd: provides), p: provides, F: directory, R: file in it.
import { readTextAt, type RuleContext } from '../rules/context.js';
import type { Package } from './index.js';

export async function readApk(src: Pick<RuleContext, 'tree' | 'content'>): Promise<Package[]> {
  const text = await readTextAt(src, '/lib/apk/db/installed');
  if (!text) return [];
  const packages: Array<Package & { provides: string[]; rawDepends: string[] }> = [];
  for (const block of text.split(/\n\s*\n/)) {
    const pkg = { manager: 'apk' as const, name: '', version: undefined as string | undefined, files: [] as string[], depends: [] as string[], conffiles: [] as string[], record: '/lib/apk/db/installed', provides: [] as string[], rawDepends: [] as string[] };
    let dir = '';
    for (const line of block.split('\n')) {
      const key = line.slice(0, 2);
      const value = line.slice(2);
      if (key === 'P:') pkg.name = value;
      else if (key === 'V:') pkg.version = value;
      else if (key === 'D:') pkg.rawDepends.push(...value.split(/\s+/).filter((d) => d && !d.startsWith('!')));
      else if (key === 'p:') pkg.provides.push(...value.split(/\s+/).map((p) => p.split('=')[0]!).filter(Boolean));
      else if (key === 'F:') pkg.files.push((dir = `/${value}`));
      else if (key === 'R:') pkg.files.push(`${dir}/${value}`);
    }
    if (pkg.name) packages.push(pkg);
  }
  // Depends name provided virtuals ("so:libc.musl-x86_64.so.1"): map them to the package providing them.
  const provider = new Map<string, string>();
  for (const p of packages) for (const v of p.provides) provider.set(v, p.name);
  return packages.map(({ provides: _provides, rawDepends, ...p }) => ({
    ...p,
    depends: rawDepends.map((d) => d.split(/[<>=~]/)[0]!).map((d) => provider.get(d) ?? d),
  }));
}
