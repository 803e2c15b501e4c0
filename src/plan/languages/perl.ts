// Perl: modules named by use/require are found on @INC, with an XS module's
// shared object under auto/ beside them.
import { joinPath, showPath } from '../../paths.js';
import { dirsMatching, fileAt, lineOf, type KeepRequest } from '../rules/context.js';
import type { LanguageSupport } from './index.js';

/** Perl's @INC: perl5, perl/VERSION and perl-base directories. */
const PERL_INC = /^\/(etc\/perl|usr\/(local\/)?(lib|share)\/([^/]+\/)?(perl5?(\/\d[\d.]*)?|perl-base))$/;
/** Perl programs, modules and CGI scripts. */
const SOURCE = /\.(pl|pm|cgi)$/;

export const perl: LanguageSupport<'perl'> = {
  name: 'perl',

  // A CGI script is the app's own, not a package's library code.
  code: /\.(pm|pl)$/,
  programCalls: { files: SOURCE, calls: /(?<![>:$\w])(?:system|exec)\s*\(?\s*(["'])([^"'\n]+)\1|`([^`\n]+)`|qx[({]([^)}\n]+)[)}]/g },

  scanner: {
    files: SOURCE,
    async scan(ctx, path, data) {
      // POD is documentation; code inside subs (indented) loads conditionally, so only top-level statements count.
      const text = data.toString('latin1').replace(/^=[a-z][\s\S]*?(^=cut\b.*$|(?![\s\S]))/gm, (pod) => pod.replace(/[^\n]/g, ''));
      const inc = [...(ctx.env.get('PERL5LIB') ?? '').split(':').filter(Boolean), ...dirsMatching(ctx.tree, PERL_INC)];
      const out: KeepRequest[] = [];
      for (const m of text.matchAll(/^(use|require|use\s+parent|use\s+base)\s+([A-Z][\w]*(?:::\w+)*)/gm)) {
        const relative = `${m[2]!.replace(/::/g, '/')}.pm`;
        const leaf = m[2]!.split('::').pop()!;
        for (const dir of inc) {
          const module = joinPath(dir, relative);
          if (!fileAt(ctx.tree, module)) continue;
          const reason = `${m[1]} ${m[2]} in ${showPath(path)}:${lineOf(text, m.index!)}`;
          out.push({ path: module, reason });
          // An XS module's shared object lives under auto/ in the same @INC directory.
          const xs = joinPath(dir, `auto/${m[2]!.replace(/::/g, '/')}/${leaf}.so`);
          if (fileAt(ctx.tree, xs)) out.push({ path: xs, reason });
          break;
        }
      }
      return out;
    },
  },
};
