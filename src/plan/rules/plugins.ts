// 12.3: plugin directories. A kept shared object that nothing names in
// DT_NEEDED, in a directory the loader does not search, was dlopen()ed by path
// from a directory of plugins (gconv modules, ImageMagick coders, SASL, PAM,
// PHP and Perl XS extensions...). Its siblings are loaded the same way for
// other inputs, so they are kept too. Derived from the image, not from names.
import { elfFiles } from '../elf.js';
import { DEFAULT_LIBRARY_DIRS, readLdSoConf } from '../ldsoconf.js';
import { dedupe, type KeepRequest, type RuleContext } from './context.js';
import { baseName, joinPath, parentOf, showPath } from '../../paths.js';

const SHARED_OBJECT = /\.so(\.[0-9]+)*$/;
/** libtool's descriptors beside plugins: ltdl-based loaders (ImageMagick) open a plugin through its .la file. */
const PLUGIN_COMPANION = /\.la$/;

/** Directories ld.so searches: /etc/ld.so.conf (with includes), LD_LIBRARY_PATH and the defaults. */
export async function loaderDirs(ctx: Pick<RuleContext, 'tree' | 'content' | 'env'>): Promise<Set<string>> {
  const dirs = new Set<string>([...DEFAULT_LIBRARY_DIRS, ...(ctx.env.get('LD_LIBRARY_PATH') ?? '').split(':').filter(Boolean)]);
  for (const dir of await readLdSoConf(ctx.tree, ctx.content)) dirs.add(dir);
  return new Set([...dirs].map((d) => ctx.tree.resolve(d).path ?? d));
}

export async function pluginSiblings(ctx: RuleContext): Promise<KeepRequest[]> {
  const searched = await loaderDirs(ctx);
  // Sonames and file names every kept ELF file asks the loader for.
  const needed = new Set<string>();
  const keptObjects: string[] = [];
  for (const [path, elf] of await elfFiles(ctx.tree, ctx.content, ctx.kept)) {
    for (const name of elf.info.needed) needed.add(name);
    if (SHARED_OBJECT.test(path)) keptObjects.push(path);
  }
  const out: KeepRequest[] = [];
  const done = new Set<string>();
  for (const plugin of keptObjects) {
    const dir = parentOf(plugin);
    if (done.has(dir) || searched.has(dir) || needed.has(baseName(plugin))) continue;
    const siblings = ctx.tree.children(dir).filter((n) => SHARED_OBJECT.test(n) && ctx.tree.get(joinPath(dir, n))?.type !== 'dir');
    if (siblings.length < 2 || siblings.some((n) => needed.has(n))) continue;
    done.add(dir);
    const reason = `plugin beside ${showPath(plugin)}, which was loaded by path from ${showPath(dir)}`;
    for (const name of ctx.tree.children(dir)) {
      if (SHARED_OBJECT.test(name) || PLUGIN_COMPANION.test(name)) out.push({ path: joinPath(dir, name), reason });
    }
  }
  return dedupe(out);
}
