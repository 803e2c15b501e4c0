// Ruby: a gem directory is kept whole with its gemspec. Any directory with
// gems/ beside specifications/ is a gem home: RubyGems' /var/lib/gems/3.1.0,
// bundler's /usr/local/bundle, Debian's rubygems-integration. Kept Ruby code
// is scanned for what it requires on the load path.
import type { FileTree } from '../../image/tree.js';
import { joinPath, parentOf, showPath } from '../../paths.js';
import { dirsMatching, existing, lineOf, resolvePath, type KeepRequest } from '../rules/context.js';
import type { LanguageSupport, PackageDir } from './index.js';

/** Ruby's load path: site_ruby and vendor_ruby, the versioned library dirs, and every installed gem's lib/. */
const RUBY_LOAD_PATH = /\/ruby\/((site|vendor)_ruby(\/\d[\d.]*)?|\d+\.\d+\.\d+)(\/[^/]+-linux[^/]*)?$|\/gems\/[^/]+\/lib$/;

export const ruby: LanguageSupport<'ruby'> = {
  name: 'ruby',

  packageOf(path: string, tree: FileTree): PackageDir | undefined {
    // The outermost gem home wins: a gem may have a gems/ directory of its own.
    for (let at = path.indexOf('/gems/'); at !== -1; at = path.indexOf('/gems/', at + 1)) {
      const home = path.slice(0, at + 1);
      const name = path.slice(at + 6).split('/')[0]!;
      const dir = `${home}gems/${name}`;
      if (name && tree.get(`${home}specifications`)?.type === 'dir' && tree.get(dir)?.type === 'dir') {
        return { language: 'ruby', dir, extras: [`${home}specifications/${name}.gemspec`] };
      }
    }
    return undefined;
  },

  scanner: {
    files: /\.(rb|ru|erb)$/,
    async scan(ctx, path, data) {
      const text = data.toString('latin1');
      const out: KeepRequest[] = [];
      const loadPath = [...(ctx.env.get('RUBYLIB') ?? '').split(':').filter(Boolean), ...dirsMatching(ctx.tree, RUBY_LOAD_PATH)];
      for (const m of text.matchAll(/^\s*(require_relative|require|load)\s*\(?\s*['"]([^'"#]+)['"]/gm)) {
        const [, how, name] = m as unknown as [string, string, string];
        const withExt = (base: string) => (/\.(rb|so)$/.test(base) ? [base] : [`${base}.rb`, `${base}.so`]);
        const found = how === 'require_relative'
          ? existing(ctx.tree, withExt(resolvePath(parentOf(path), name)))
          : name.startsWith('/') ? existing(ctx.tree, withExt(name)) : existing(ctx.tree, loadPath.flatMap((d) => withExt(joinPath(d, name))));
        if (found) out.push({ path: found, reason: `${how} '${name}' in ${showPath(path)}:${lineOf(text, m.index!)}` });
      }
      return out;
    },
  },
};
