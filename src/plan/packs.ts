// Packs: files loaded at run time that probes easily miss (glibc's NSS
// modules, CA bundles, zoneinfo...). Each is detected from the trace and the
// kept set, and can be forced on or off by name.
import type { FileTree } from '../image/tree.js';
import type { Trace } from '../trace/trace.js';
import type { Keeper } from './keeper.js';

export interface PackContext {
  tree: FileTree;
  trace: Trace;
  /** Paths kept so far. */
  kept: (path: string) => boolean;
  keptPaths: () => string[];
  /** Image environment (TZ, SSL_CERT_FILE...). */
  env: Map<string, string>;
  /** Pack name → why a kept ELF file's imported symbols need it ("/usr/bin/x imports iconv_open"). */
  needs: Map<string, string>;
  /** Sources named in the image's /etc/nsswitch.conf. */
  nssSources: string[];
  imageUser: string;
  /** Where the dynamic loader looks for libraries (ld.so.conf, the multiarch directories, the defaults). */
  libraryDirs: string[];
}

export interface Pack {
  name: string;
  description: string;
  /**
   * The paths the pack keeps (as its patterns do): an app that touched one needs the pack,
   * and a slim image that misses one is mended by turning the pack on.
   */
  files?: RegExp;
  /** Why the pack applies, or undefined when it does not. */
  detect(ctx: PackContext): string | undefined;
  /** Paths and globs (absolute); directories are kept whole; '!' excludes a path and what is under it. */
  patterns(ctx: PackContext): string[];
}

const touched = (ctx: PackContext, test: RegExp | undefined): string | undefined => {
  if (test) for (const path of ctx.trace.paths.keys()) if (test.test(path)) return path;
  return undefined;
};

const keptLibc = (ctx: PackContext): boolean => ctx.libraryDirs.some((dir) => ctx.kept(`${dir}/libc.so.6`));

/**
 * The locales the environment names (LANG, LC_*; not LANGUAGE, which picks message catalogs), also as glibc
 * names their directories (en_US.UTF-8 -> en_US.utf8). C and POSIX are built in; a name with '/' is no locale name.
 */
export const localesNamed = (env: Map<string, string>): string[] => [...new Set(
  [...env].filter(([name, value]) => (name === 'LANG' || name.startsWith('LC_')) && value && !/^(C|POSIX)$/.test(value))
    .flatMap(([, value]) => [value, value.replace(/\.([^@]+)/, (_, codeset: string) => `.${codeset.toLowerCase().replace(/-/g, '')}`)])
    .filter((name) => !name.includes('/')),
)];

export const PACKS: Pack[] = [
  {
    name: 'nss',
    description: "glibc's name service: nsswitch.conf, the libnss_* modules it names, libresolv, host.conf, gai.conf",
    files: /^\/etc\/nsswitch\.conf$|\/libnss_[^/]+\.so/,
    detect(ctx) {
      return keptLibc(ctx) ? 'the app uses glibc, which loads NSS modules at run time' : touched(ctx, this.files) && 'the app read NSS files';
    },
    patterns: (ctx) => [
      '/etc/nsswitch.conf', '/etc/host.conf', '/etc/gai.conf', '/etc/hosts', '/etc/services', '/etc/protocols',
      ...ctx.nssSources.map((s) => `/**/libnss_${s}.so*`),
      '/**/libresolv.so*',
    ],
  },
  {
    name: 'passwd',
    description: 'user and group databases: /etc/passwd, /etc/group',
    files: /^\/etc\/(passwd|group)$/,
    detect(ctx) {
      return touched(ctx, this.files) ? 'the app read them' : ctx.imageUser ? `the image runs as USER ${ctx.imageUser}` : keptLibc(ctx) ? 'glibc user lookups read them' : undefined;
    },
    patterns: () => ['/etc/passwd', '/etc/group'],
  },
  {
    name: 'certs',
    description: 'CA certificates: /etc/ssl, ca-certificates, language bundles such as certifi',
    files: /^\/etc\/(ssl|pki)(\/|$)|^\/usr\/share\/ca-certificates(\/|$)|^\/usr\/lib\/ssl(\/|$)|^\/etc\/ca-certificates\.conf$|\/certifi\/cacert\.pem$/,
    detect(ctx) {
      const tls = /libssl\.so|\/_ssl\.|\.pem$|libgnutls|libnss3/;
      const hit = touched(ctx, this.files) ?? touched(ctx, tls) ?? ctx.keptPaths().find((p) => tls.test(p));
      return hit ? `the app uses TLS (${hit})` : ctx.env.has('SSL_CERT_FILE') ? 'SSL_CERT_FILE is set' : undefined;
    },
    patterns: () => ['/etc/ssl', '/usr/share/ca-certificates', '/usr/lib/ssl', '/etc/ca-certificates.conf', '/etc/pki', '/**/certifi/cacert.pem'],
  },
  {
    name: 'zoneinfo',
    description: 'time zones: /usr/share/zoneinfo, /etc/localtime, /etc/timezone',
    files: /^\/usr\/share\/zoneinfo(\/(?!right(\/|$))|$)|^\/etc\/(localtime|timezone)$/,
    detect(ctx) {
      const hit = touched(ctx, this.files) ?? touched(ctx, /\/zoneinfo\/|\/pytz\/|\/tzdata\//);
      if (hit) return `the app read ${hit}`;
      if (ctx.env.has('TZ')) return 'TZ is set';
      // An image that ships tzdata means local time matters, even if no probe asked for it.
      return ctx.tree.get('/usr/share/zoneinfo')?.type === 'dir' && keptLibc(ctx) ? 'the image ships tzdata and the app uses glibc' : undefined;
    },
    // right/ holds leap-second variants of every zone: nothing reads them unless TZ names them.
    patterns: () => ['/usr/share/zoneinfo', '!/usr/share/zoneinfo/right', '/etc/localtime', '/etc/timezone'],
  },
  {
    name: 'gconv',
    description: "glibc's iconv: gconv-modules with its cache, and the conversion modules when the app converted",
    files: /\/gconv(\/|$)/,
    detect(ctx) {
      return touched(ctx, /\/gconv\//) && 'the app used iconv';
    },
    // setlocale() reads only the configuration. An app that loaded a module, or imports iconv_open, converts to
    // charsets chosen at run time (iconv_open() loads the module of whichever it is asked for): one probe's charset
    // says nothing about the next.
    patterns: (ctx) => (touched(ctx, /\/gconv\/[^/]+\.so$/) || ctx.needs.has('gconv') ? ['/**/gconv'] : ['/**/gconv/gconv-modules', '/**/gconv/gconv-modules.d', '/**/gconv/gconv-modules.cache']),
  },
  {
    name: 'locales',
    description: 'the C.utf8 locale, the locales LANG and LC_* name, the locale archive and locale aliases',
    files: /^\/usr\/lib\/locale\/|^\/usr\/share\/locale\/locale\.alias$/,
    detect(ctx) {
      if (touched(ctx, this.files)) return 'the app loaded a locale';
      const named = localesNamed(ctx.env)[0];
      return named && keptLibc(ctx) ? `the environment names the locale ${named} and the app uses glibc` : undefined;
    },
    patterns: (ctx) => [
      '/usr/lib/locale/C.utf8', '/usr/lib/locale/C.UTF-8', '/usr/lib/locale/locale-archive', '/usr/share/locale/locale.alias',
      ...localesNamed(ctx.env).map((name) => `/usr/lib/locale/${name}`),
    ],
  },
  {
    name: 'shell',
    description: 'a shell and a few tools for debugging (off unless asked)',
    detect: () => undefined,
    patterns: () => ['/bin/sh', '/usr/bin/sh', '/bin/bash', '/usr/bin/env', '/bin/ls', '/usr/bin/ls', '/bin/cat', '/usr/bin/cat', '/bin/ps', '/usr/bin/ps'],
  },
];

export const PACK_NAMES = PACKS.map((p) => p.name);

/** Turns on the packs that apply (or were asked for) and keeps what they name. */
export function applyPacks(keeper: Keeper, ctx: PackContext, include: string[], exclude: string[]): Array<{ name: string; why: string }> {
  const applied: Array<{ name: string; why: string }> = [];
  for (const pack of PACKS) {
    if (exclude.includes(pack.name)) continue;
    const why = include.includes(pack.name) ? 'asked for with --include-pack' : (pack.detect(ctx) ?? ctx.needs.get(pack.name));
    if (!why) continue;
    applied.push({ name: pack.name, why });
    const patterns = pack.patterns(ctx);
    const excluded = patterns.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    const skip = (path: string) => excluded.some((x) => path === x || path.startsWith(`${x}/`));
    keeper.rule = `pack ${pack.name}`;
    for (const pattern of patterns.filter((p) => !p.startsWith('!'))) keeper.keepMatching(pattern, `pack ${pack.name}`, skip);
  }
  return applied;
}
