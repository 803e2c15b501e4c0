// Ruby: a gem directory is kept whole with its gemspec. Any directory with
// gems/ beside specifications/ is a gem home: RubyGems' /var/lib/gems/3.1.0,
// bundler's /usr/local/bundle, Debian's rubygems-integration. Kept Ruby code
// is scanned for what it requires on the load path. Gem specifications record
// what each gem installed (RubyGems' gems/NAME-VER layout, and Debian's
// rubygems-integration specs whose code is in vendor_ruby).
import type { FileTree } from '../../image/tree.js';
import { baseName, joinPath, parentOf, resolvePath, showPath } from '../../paths.js';
import type { Package } from '../pkgdb/index.js';
import { childPaths, dirsMatching, dirsNamed, existing, lineOf, readTextAt, type KeepRequest, type RuleContext } from '../rules/context.js';
import type { LanguageSupport, PackageDir } from './index.js';

/** Ruby's load path: site_ruby and vendor_ruby, the versioned library dirs, and every installed gem's lib/. */
const RUBY_LOAD_PATH = /\/ruby\/((site|vendor)_ruby(\/\d[\d.]*)?|\d+\.\d+\.\d+)(\/[^/]+-linux[^/]*)?$|\/gems\/[^/]+\/lib$/;

/** Ruby code and ERB templates. */
const CODE = /\.(rb|erb)$/;

/** Ruby library directories where Debian puts packaged gems' code (rubygems-integration specs say only their name). */
const vendorDirs = (tree: FileTree) => ['/usr/lib/ruby/vendor_ruby', ...tree.children('/usr/lib/ruby/vendor_ruby').filter((n) => /^\d/.test(n)).map((n) => `/usr/lib/ruby/vendor_ruby/${n}`)];

/** A gem specification: name, version and runtime dependencies; its files are the gem's directory or, for Debian's, its code in vendor_ruby. */
async function readGem(src: Pick<RuleContext, 'tree' | 'content'>, gemspec: string): Promise<Package | undefined> {
  const text = (await readTextAt(src, gemspec)) ?? '';
  const name = /\.name\s*=\s*["']([^"']+)/.exec(text)?.[1];
  const version = /\.version\s*=\s*["']([^"']+)/.exec(text)?.[1];
  if (!name) return undefined;
  const home = parentOf(parentOf(gemspec));
  const full = `${name}-${version}`;
  const files = [gemspec];
  const gemDir = joinPath(joinPath(home, 'gems'), full);
  if (src.tree.has(gemDir)) files.push(gemDir, ...src.tree.descendants(gemDir));
  else {
    // Debian: lib/ of the gem is installed straight into vendor_ruby, named by Ruby's convention (rack-protection → rack/protection).
    for (const dir of vendorDirs(src.tree)) {
      for (const base of new Set([name, name.replace(/-/g, '/')])) {
        for (const candidate of [joinPath(dir, `${base}.rb`), joinPath(dir, base)]) {
          if (!src.tree.has(candidate)) continue;
          files.push(candidate);
          if (src.tree.get(candidate)!.type === 'dir') files.push(...src.tree.descendants(candidate));
        }
      }
    }
  }
  // Generated specs repeat runtime dependencies as add_dependency for old RubyGems, development ones included.
  const call = text.includes('add_runtime_dependency') ? 'add_runtime_dependency' : 'add_dependency';
  const depends = [...text.matchAll(new RegExp(`${call}\\(?\\s*(?:%q<([^>]+)>|["']([^"']+)["'])`, 'g'))].map((m) => m[1] ?? m[2]!);
  return { manager: 'gem', name, version, files, depends: [...new Set(depends)], conffiles: [] };
}

export const ruby: LanguageSupport<'ruby'> = {
  name: 'ruby',

  code: CODE,
  programCalls: { files: CODE, calls: /(?<![.\w])(?:system|exec|spawn|IO\.popen|Open3\.\w+)\s*\(?\s*\[?\s*(["'])([^"'\n]+)\1|`([^`\n]+)`|%x[({]([^)}\n]+)[)}]/g },
  records: [{ files: /\/specifications\/[^/]+\.gemspec$/, read: readGem }],

  runtime: {
    name: 'ruby',
    recognise: /^(.*)\/(?:bin\/ruby[\d.]*|lib\/(?:[^/]+\/)?libruby[-\d.]*\.so(?:\.[\d.]+)?)$/,
    async loads(ctx, home) {
      // Gem homes: the prefix's own, the ones the environment names (GEM_HOME, GEM_PATH, BUNDLE_PATH), and
      // /var/lib/gems, where Debian's RubyGems installs by default.
      const named = ['GEM_HOME', 'GEM_PATH', 'BUNDLE_PATH'].flatMap((v) => (ctx.env.get(v) ?? '').split(':')).filter((p) => p.startsWith('/'));
      const roots = [joinPath(home, 'lib/ruby'), ...childPaths(ctx.tree, joinPath(home, 'lib')).flatMap((d) => [joinPath(d, 'ruby'), joinPath(d, 'rubygems-integration')]), joinPath(home, 'share/rubygems-integration'), ...named, '/var/lib/gems'];
      const out: Array<{ path: string; why: string }> = [];
      for (const root of roots) {
        for (const dir of dirsNamed(ctx.tree, root, /^enc$/)) if (/\/ruby\/\d[\d.]*(\/[^/]+)?\/enc$/.test(dir)) out.push({ path: dir, why: 'loads encodings by name from enc/' });
        // A gem home: RubyGems reads every specification, and warns about a gem whose extensions/ marker is missing.
        for (const dir of dirsNamed(ctx.tree, root, /^specifications$/)) {
          for (const part of [dir, joinPath(parentOf(dir), 'extensions')]) out.push({ path: part, why: 'RubyGems reads every gem specification and extension marker at start-up' });
        }
        if (ctx.tree.get(root)?.type === 'dir') for (const p of ctx.tree.descendants(root)) if (baseName(p) === 'rbconfig.rb') out.push({ path: p, why: 'requires rbconfig' });
      }
      return out;
    },
  },

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
