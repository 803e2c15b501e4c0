// Ruby: a gem directory is kept whole with its gemspec. Any directory with
// gems/ beside specifications/ is a gem home: RubyGems' /var/lib/gems/3.1.0,
// bundler's /usr/local/bundle, Debian's rubygems-integration.
import type { FileTree } from '../../image/tree.js';
import type { LanguageSupport, PackageDir } from './index.js';

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
};
