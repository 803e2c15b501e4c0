// PHP: code includes code by paths it builds from its own directory, and
// composer's generated autoload maps name the directories of every package.
// The runtime loads the extensions its ini files name.
import { joinPath, parentOf, resolvePath, showPath } from '../../paths.js';
import { childPaths, dirsNamed, existing, lineOf, readTextAt, type KeepRequest } from '../rules/context.js';
import type { LanguageSupport } from './index.js';

/** PHP sources and templates. */
const SOURCE = /\.(php|inc|phtml)$/;

export const php: LanguageSupport<'php'> = {
  name: 'php',

  // Templates (.phtml) are the app's pages, not a package's library code.
  code: /\.(php|inc)$/,
  programCalls: { files: SOURCE, calls: /(?<![>:$\w])(?:exec|shell_exec|system|passthru|popen|proc_open)\s*\(\s*\[?\s*(["'])([^"'\n]+)\1|`([^`\n]+)`/g },

  runtime: {
    name: 'php',
    recognise: /^(.*)\/(?:s?bin\/php(?:-fpm)?[\d.]*)$/,
    async loads(ctx, home) {
      // extension= lines of every SAPI's php.ini and conf.d/*.ini; bare names are looked up in the extension directories.
      const etc = home === '/usr' ? '/etc/php' : joinPath(home, 'etc');
      const inis = [...(ctx.tree.get(etc)?.type === 'dir' ? ctx.tree.descendants(etc) : [])].filter((p) => p.endsWith('.ini'));
      const extensionDirs = [joinPath(home, 'lib/php'), joinPath(home, 'local/lib/php')].flatMap((d) => dirsNamed(ctx.tree, d, /^(\d{8}|extensions|no-debug-non-zts-\d+)$/).concat(childPaths(ctx.tree, joinPath(d, 'extensions'))));
      const out: Array<{ path: string; why: string }> = [];
      for (const ini of inis) {
        out.push({ path: ini, why: 'reads its ini files at start-up' });
        for (const m of ((await readTextAt(ctx, ini)) ?? '').matchAll(/^\s*(?:zend_)?extension\s*=\s*"?([^"\s;]+)"?/gm)) {
          const name = m[1]!.endsWith('.so') ? m[1]! : `${m[1]}.so`;
          const candidates = name.startsWith('/') ? [name] : extensionDirs.map((d) => joinPath(d, name));
          const found = candidates.find((c) => ctx.tree.has(c));
          if (found) out.push({ path: found, why: `loads it: ${m[0].trim()} in ${showPath(ini)}` });
        }
      }
      return out;
    },
  },

  scanner: {
    files: SOURCE,
    async scan(ctx, path, data) {
      const text = data.toString('latin1');
      const out: KeepRequest[] = [];
      const here = parentOf(path);
      // A path built from the file's own directory: __DIR__ . '/lib/x.php', dirname(__FILE__) . '/pages/' . $name.
      for (const m of text.matchAll(/(?:__DIR__|dirname\(\s*__FILE__\s*\))\s*\.\s*(['"])([^'"$]+)\1(\s*\.)?/g)) {
        const target = resolvePath(here, m[2]!.replace(/^\/?/, ''));
        // With more concatenated after the literal, the literal is the directory the computed name is in.
        const dir = m[3] ? (m[2]!.endsWith('/') ? target : parentOf(target)) : undefined;
        const hit = dir ?? target;
        if (ctx.tree.has(hit)) out.push({ path: hit, reason: `${dir ? 'computed path under' : 'path'} ${showPath(hit)} named in ${showPath(path)}:${lineOf(text, m.index!)}` });
      }
      for (const m of text.matchAll(/\b(include|require)(_once)?\s*\(?\s*(['"])([^'"$]+)\3/g)) {
        const found = existing(ctx.tree, [resolvePath(here, m[4]!)]);
        if (found) out.push({ path: found, reason: `${m[1]}${m[2] ?? ''} in ${showPath(path)}:${lineOf(text, m.index!)}` });
      }
      // Composer's generated autoload maps: $vendorDir . '/pkg/src/X.php', $baseDir . '/app'.
      if (/\/composer\/autoload_\w+\.php$/.test(path)) {
        const vendor = parentOf(here);
        for (const m of text.matchAll(/\$(vendorDir|baseDir)\s*\.\s*'([^']+)'/g)) {
          const target = resolvePath(m[1] === 'vendorDir' ? vendor : parentOf(vendor), m[2]!.replace(/^\//, ''));
          if (ctx.tree.has(target)) out.push({ path: target, reason: `composer autoload map ${showPath(path)}:${lineOf(text, m.index!)}` });
        }
      }
      if (/\/vendor\/autoload\.php$/.test(path)) {
        const composer = joinPath(here, 'composer');
        for (const name of ctx.tree.children(composer)) if (/^autoload_\w+\.php$/.test(name)) out.push({ path: joinPath(composer, name), reason: `composer autoloader ${showPath(path)} loads it` });
      }
      return out;
    },
  },
};
