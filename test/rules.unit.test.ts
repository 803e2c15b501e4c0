// The keep rules of issues 12 and 15 on real files from the sample images
// (fixtures/rules/, made by fixtures/rules/fetch.sh) and on generated nasty inputs.
import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { importedSymbols } from '../src/plan/elf-symbols.js';
import { packageIndexOf, readPackageIndex } from '../src/plan/pkgdb/index.js';
import { configurationOfKeptPackages, installTimeFiles, packageOfKeptCode } from '../src/plan/rules/packages.js';
import { pluginSiblings } from '../src/plan/rules/plugins.js';
import { runtimeLoadsByName } from '../src/plan/rules/runtimes.js';
import { staticScans } from '../src/plan/rules/scans.js';
import { commandsCalledBy, commandsOf, isShellScript, programsCalledByScripts } from '../src/plan/rules/shell.js';
import { appState, runtimeUser } from '../src/plan/rules/state.js';
import { localesNamed } from '../src/plan/packs.js';
import { symbolNeeds } from '../src/plan/rules/symbols.js';
import type { KeepRequest, RuleContext } from '../src/plan/rules/context.js';
import { jarManifest, zipEntries } from '../src/plan/zip.js';
import { makeElf } from './elf-fixture.js';
import { sampleContext, treeOf } from './image-fixture.js';
import type { Spec } from './fixtures.js';

const fixture = (path: string) => readFileSync(new URL(`../fixtures/rules/${path}`, import.meta.url));
const paths = (requests: KeepRequest[]) => requests.map((r) => r.path);
const reasonFor = (requests: KeepRequest[], path: string) => requests.find((r) => r.path === path)?.reason;
const generated = (specs: Spec[], over: Partial<RuleContext> = {}): RuleContext => ({ ...treeOf(specs), env: new Map([['PATH', '/usr/bin:/bin']]), user: '', kept: new Set(), ...over });

describe('ELF symbol imports', () => {
  const text = fixture('c-text/files/usr/local/bin/text');
  const iconvSo = fixture('php-site/files/usr/lib/php/20220829/iconv.so');

  it('reads the undefined dynamic symbols of a GNU_HASH-only program and a PHP extension', async () => {
    const imports = await importedSymbols(text);
    expect(imports).toEqual(expect.arrayContaining(['iconv_open', 'setlocale', 'socket', 'strftime']));
    // Symbols the program defines itself are not imports.
    expect(imports).not.toContain('main');
    expect(await importedSymbols(iconvSo)).toContain('iconv_open');
  });

  it('falls back to the section headers when the dynamic segment is gone', async () => {
    const damaged = Buffer.from(text);
    // Turn PT_DYNAMIC into PT_NULL in every program header.
    const phoff = Number(damaged.readBigUInt64LE(0x20));
    for (let i = 0; i < damaged.readUInt16LE(0x38); i++) if (damaged.readUInt32LE(phoff + i * 56) === 2) damaged.writeUInt32LE(0, phoff + i * 56);
    expect(await importedSymbols(damaged)).toEqual(await importedSymbols(text));
  });

  it('survives malformed input: truncation at every size, garbage, a generated ELF without symbols', async () => {
    for (let size = 0; size < 4096; size += 97) expect(Array.isArray(await importedSymbols(text.subarray(0, size)))).toBe(true);
    const garbage = Buffer.from(text);
    for (let o = 64; o < garbage.length; o += 7) garbage[o] = (o * 131) & 0xff;
    expect(Array.isArray(await importedSymbols(garbage))).toBe(true);
    expect(await importedSymbols(Buffer.from('not an elf at all'))).toEqual([]);
    expect(await importedSymbols(makeElf({ needed: ['libc.so.6'] }))).toEqual([]);
  });
});

describe('parsers on random bytes', () => {
  it('ELF symbols, zip entries and jar manifests never throw', async () => {
    let seed = 12345;
    const random = (n: number) => Buffer.from(Array.from({ length: n }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 24)));
    const jar = fixture('java-svc/files/opt/service/service.jar');
    for (let i = 0; i < 200; i++) {
      const noise = random(16 + (i % 50) * 40);
      // Random bytes behind real magic numbers reach deeper than random bytes alone.
      const elf = Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 1 + (i % 2), 1 + ((i >> 1) % 2)]), noise]);
      const zipTail = Buffer.concat([noise, jar.subarray(jar.length - 22 - (i % 22))]);
      expect(() => [zipEntries(zipTail), jarManifest(zipTail), jarManifest(noise)]).not.toThrow();
      for (const bytes of [noise, elf]) expect(Array.isArray(await importedSymbols(bytes))).toBe(true);
    }
  });
});

describe('symbol-driven needs', () => {
  it('names gconv and locales for a C program that imports iconv_open and setlocale', async () => {
    const ctx = sampleContext('c-text', { kept: ['/usr/local/bin/text'], env: { LANG: 'de_DE.UTF-8', LC_TIME: 'fr_FR.UTF-8' } });
    const needs = await symbolNeeds(ctx);
    expect(needs.map((n) => n.need)).toEqual(['gconv', 'locales']);
    expect(needs[0]!.reason).toBe('/usr/local/bin/text imports iconv_open');
    expect(needs[1]!.reason).toBe('/usr/local/bin/text imports setlocale');
  });

  it('follows the native module of an interpreter: PHP iconv.so needs gconv', async () => {
    const needs = await symbolNeeds(sampleContext('php-site', { kept: ['/usr/lib/php/20220829/iconv.so'] }));
    expect(needs).toEqual([{ need: 'gconv', reason: '/usr/lib/php/20220829/iconv.so imports iconv_open' }]);
    expect(await symbolNeeds(sampleContext('php-site', { kept: [] }))).toEqual([]);
  });

  it('leaves out a library other kept files link: it imports for features its programs may not use', async () => {
    const iconvSo = fixture('php-site/files/usr/lib/php/20220829/iconv.so');
    const specs: Spec[] = [
      { name: 'usr/lib/libconv.so.1.0', data: iconvSo },
      { name: 'usr/lib/libconv.so.1', type: 'symlink', linkname: 'libconv.so.1.0' },
      { name: 'usr/bin/app', mode: 0o755, data: makeElf({ needed: ['libconv.so.1'] }) },
    ];
    // Linked by its soname (a symlink to the file): the program decides, and it imports nothing that needs gconv.
    expect(await symbolNeeds(generated(specs, { kept: new Set(['/usr/bin/app', '/usr/lib/libconv.so.1', '/usr/lib/libconv.so.1.0']) }))).toEqual([]);
    // Loaded by path (nothing links it), the same object is a module whose imports count.
    expect(await symbolNeeds(generated(specs, { kept: new Set(['/usr/lib/libconv.so.1.0']) }))).toEqual([{ need: 'gconv', reason: '/usr/lib/libconv.so.1.0 imports iconv_open' }]);
  });

  it('name the locales LANG and LC_* name, also as glibc spells their directories; not LANGUAGE, C, POSIX or paths', () => {
    const env = new Map([['LANGUAGE', 'pt_BR:pt'], ['LC_ALL', 'C'], ['LANG', 'de_DE.UTF-8'], ['LC_TIME', 'de_DE.UTF-8'], ['LC_CTYPE', 'sr_RS.ISO-8859-5@latin'], ['LC_NUMERIC', 'POSIX'], ['LC_MESSAGES', '../../etc/x'], ['LC_PAPER', '']]);
    expect(localesNamed(env)).toEqual(['de_DE.UTF-8', 'de_DE.utf8', 'sr_RS.ISO-8859-5@latin', 'sr_RS.iso88595@latin']);
  });
});

describe('package databases', () => {
  it('indexes dpkg status and lists, with merged-/usr paths and conffiles', async () => {
    const ctx = sampleContext('magick');
    const index = await packageIndexOf(ctx);
    const core = index.find('dpkg', 'libmagickcore-6.q16-6')!;
    expect(core.depends).toEqual(expect.arrayContaining(['imagemagick-6-common', 'libfontconfig1', 'libc6']));
    expect(index.ownerOf('/etc/ImageMagick-6/delegates.xml').map((p) => p.name)).toEqual(['imagemagick-6-common']);
    expect(index.conffilesOf(index.find('dpkg', 'imagemagick-6-common')!)).toContain('/etc/ImageMagick-6/policy.xml');
    expect(index.filesOf(core)).toContain('/usr/lib/x86_64-linux-gnu/ImageMagick-6.9.11/modules-Q16/coders/png.so');
  });

  it("reads Debian's gem layouts and leaves docs out of a package's library files", async () => {
    const ctx = sampleContext('ruby-gems');
    const index = await packageIndexOf(ctx);
    const rack = index.find('dpkg', 'ruby-rack')!;
    const library = index.libraryFiles(rack);
    expect(library).toContain('/usr/share/rubygems-integration/all/gems/rack-2.2.22/lib/rack/mime.rb');
    expect(library.some((p) => p.startsWith('/usr/share/doc/'))).toBe(false);
    const sinatra = index.find('gem', 'sinatra')!;
    expect(sinatra.depends).toEqual(['mustermann', 'rack', 'rack-protection', 'tilt']);
    expect(index.filesOf(sinatra)).toContain('/usr/share/rubygems-integration/all/gems/sinatra-3.0.5/lib/sinatra/base.rb');
    // A spec of RubyGems' own layout, whose gem directory this fixture does not carry, still names the gem.
    expect(index.find('gem', 'debug')?.version).toBe('1.6.3');
  });

  it('library files leave out directories and the merged-/usr symlinks a package lists as directories', async () => {
    const index = await readPackageIndex(treeOf([
      { name: 'usr/lib/php/x.so', data: 'x' }, { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
      { name: 'usr/lib/libx.so.1', type: 'symlink', linkname: 'php/x.so' }, { name: 'usr/lib/libdir', type: 'symlink', linkname: 'php' },
      { name: 'var/lib/dpkg/status', data: 'Package: php-common\nStatus: install ok installed\n' },
      { name: 'var/lib/dpkg/info/php-common.list', data: '/.\n/lib\n/lib/php\n/lib/php/x.so\n/usr/lib/libx.so.1\n/usr/lib/libdir\n' },
    ]));
    expect(index.libraryFiles(index.find('dpkg', 'php-common')!)).toEqual(['/usr/lib/php/x.so', '/usr/lib/libx.so.1']);
  });

  it('reads apk, pip RECORD, npm package.json and distroless status.d; tolerates broken records', async () => {
    const index = await readPackageIndex(treeOf([
      { name: 'lib/apk/db/installed', data: 'C:Q1abc=\nP:musl\nV:1.2.4-r2\np:so:libc.musl-x86_64.so.1=1\nF:lib\nR:ld-musl-x86_64.so.1\nR:libc.musl-x86_64.so.1\n\nP:busybox\nV:1.36\nD:so:libc.musl-x86_64.so.1\nF:bin\nR:busybox\nF:etc\nR:securetty\n' },
      { name: 'lib/ld-musl-x86_64.so.1', data: 'x' }, { name: 'lib/libc.musl-x86_64.so.1', data: 'x' }, { name: 'bin/busybox', data: 'x' }, { name: 'etc/securetty', data: 'x' },
      { name: 'usr/lib/python3/site-packages/requests-2.31.0.dist-info/METADATA', data: 'Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nRequires-Dist: urllib3 (<3,>=1.21.1)\nRequires-Dist: PySocks!=1.5.7 ; extra == "socks"\n' },
      { name: 'usr/lib/python3/site-packages/requests-2.31.0.dist-info/RECORD', data: 'requests/__init__.py,sha256=x,4\n"requests/odd, name.py",,\n../../../bin/req,,\nrequests-2.31.0.dist-info/RECORD,,\n' },
      { name: 'usr/lib/python3/site-packages/requests/__init__.py', data: '' }, { name: 'usr/lib/python3/site-packages/requests/odd, name.py', data: '' }, { name: 'usr/bin/req', data: '' },
      { name: 'app/node_modules/express/package.json', data: '{"name":"express","version":"4.18.2","dependencies":{"accepts":"~1.3.8"}}' },
      { name: 'app/node_modules/express/lib/express.js', data: '' },
      { name: 'app/node_modules/express/node_modules/debug/package.json', data: '{"name":"debug"}' },
      { name: 'app/node_modules/broken/package.json', data: '{not json' },
      { name: 'var/lib/dpkg/status.d/base', data: 'Package: base-files\nVersion: 12.4\nArchitecture: amd64\n' },
      { name: 'var/lib/dpkg/status.d/base.md5sums', data: 'd41d8cd98f00b204e9800998ecf8427e  etc/os-release\n' },
      { name: 'etc/os-release', data: 'x' },
    ]));
    expect(index.ownerOf('/bin/busybox').map((p) => p.name)).toEqual(['busybox']);
    expect(index.find('apk', 'busybox')!.depends).toEqual(['musl']);
    const requests = index.find('pip', 'requests')!;
    expect(requests.depends).toEqual(['urllib3']);
    expect(index.ownerOf('/usr/lib/python3/site-packages/requests/odd, name.py')).toEqual([requests]);
    expect(index.ownerOf('/usr/bin/req')).toEqual([requests]);
    const express = index.find('npm', 'express')!;
    expect(express.depends).toEqual(['accepts']);
    expect(index.filesOf(express)).toContain('/app/node_modules/express/lib/express.js');
    expect(index.filesOf(express).some((p) => p.includes('/debug'))).toBe(false);
    expect(index.find('npm', 'debug')).toBeDefined();
    expect(index.ownerOf('/etc/os-release').map((p) => `${p.manager}:${p.name}`)).toEqual(['dpkg:base-files']);
  });
});

describe('package rules', () => {
  it('12.2: a traced file of a packaged gem keeps the whole package, without its docs', async () => {
    const mime = '/usr/share/rubygems-integration/all/gems/rack-2.2.22/lib/rack/mime.rb';
    const out = await packageOfKeptCode(sampleContext('ruby-gems', { kept: ['/usr/share/rubygems-integration/all/gems/rack-2.2.22/lib/rack.rb'] }));
    expect(paths(out)).toContain(mime);
    expect(reasonFor(out, mime)).toMatch(/^package (ruby-rack \(dpkg\)|rack \(gem\)) owns traced \/usr\/share\/rubygems-integration\/all\/gems\/rack-2\.2\.22\/lib\/rack\.rb$/);
    expect(paths(out).some((p) => p.startsWith('/usr/share/doc/'))).toBe(false);
    // A kept ELF or data file is not interpreted code: no package is pulled in whole for it.
    expect(await packageOfKeptCode(sampleContext('ruby-gems', { kept: ['/usr/share/doc/ruby-rack/copyright'] }))).toEqual([]);
  });

  it('15.2: files a maintainer script made beside a kept package (trust store, locale archive)', async () => {
    const java = await installTimeFiles(sampleContext('java-svc', { kept: ['/usr/share/ca-certificates-java/ca-certificates-java.jar'] }));
    expect(reasonFor(java, '/etc/ssl/certs/java/cacerts')).toBe('made at install time in /etc/ssl/certs/java, which kept package ca-certificates-java (dpkg) owns');
    const glibc = await installTimeFiles(sampleContext('c-text', { kept: ['/usr/lib/x86_64-linux-gnu/libc.so.6', '/usr/bin/locale'] }));
    // Debian lists gconv-modules.cache; locale-gen writes locale-archive into libc-bin's /usr/lib/locale.
    // Top-level and shared directories (/usr/local, /var/lib) bring nothing.
    expect(glibc).toEqual([{ path: '/usr/lib/locale/locale-archive', reason: 'made at install time in /usr/lib/locale, which kept package libc-bin (dpkg) owns' }]);
    expect(await installTimeFiles(sampleContext('c-text', { kept: [] }))).toEqual([]);
    // update-alternatives' links are made at install time; those to man pages are for people.
    const alternatives = await installTimeFiles(generated([
      { name: 'var/lib/dpkg/status', data: 'Package: mawk\nStatus: install ok installed\n' },
      { name: 'var/lib/dpkg/info/mawk.list', data: '/etc/alternatives\n/usr/bin/mawk\n/usr/share/man/man1/mawk.1.gz\n' },
      { name: 'usr/bin/mawk', data: 'x' }, { name: 'usr/share/man/man1/mawk.1.gz', data: 'x' },
      { name: 'etc/alternatives/awk', type: 'symlink', linkname: '/usr/bin/mawk' },
      { name: 'etc/alternatives/awk.1.gz', type: 'symlink', linkname: '/usr/share/man/man1/mawk.1.gz' },
    ], { kept: new Set(['/usr/bin/mawk']) }));
    expect(paths(alternatives)).toEqual(['/etc/alternatives/awk']);
  });

  it('15.4: conffiles, data packages through -common/-config to fonts, and programs configuration names', async () => {
    const out = await configurationOfKeptPackages(sampleContext('magick', {
      kept: ['/usr/lib/x86_64-linux-gnu/libMagickCore-6.Q16.so.6.0.0', '/usr/lib/x86_64-linux-gnu/libfontconfig.so.1.12.0'],
      extra: [{ name: 'usr/bin/gs', mode: 0o755, data: '' }],
    }));
    expect(reasonFor(out, '/etc/ImageMagick-6/policy.xml')).toBe('data package imagemagick-6-common (dpkg) that kept package libmagickcore-6.q16-6 (dpkg) depends on');
    expect(paths(out)).toContain('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf');
    expect(reasonFor(out, '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')).toMatch(/^data package fonts-dejavu-core \(dpkg\) that fontconfig-config \(dpkg\), a dependency of kept package libfontconfig1 \(dpkg\) depends on$/);
    // delegates.xml runs "gs" for PostScript: the image has it here, so it is kept.
    expect(reasonFor(out, '/usr/bin/gs')).toBe('program named in /etc/ImageMagick-6/delegates.xml');
    expect(paths(out).some((p) => p.startsWith('/usr/share/doc/'))).toBe(false);
  });
});

describe('plugin directories', () => {
  const coders = '/usr/lib/x86_64-linux-gnu/ImageMagick-6.9.11/modules-Q16/coders';
  const elf = (path: string, needed: string[] = []): Spec => ({ name: path.slice(1), data: makeElf({ needed }) });

  it('keeps the sibling coders (and their .la) of a coder loaded by path, found from the layout alone', async () => {
    const ctx = sampleContext('magick', {
      kept: [`${coders}/png.so`, '/usr/bin/convert-im6.q16'],
      extra: [elf(`${coders}/png.so`, ['libpng16.so.16']), elf('/usr/bin/convert-im6.q16', ['libMagickCore-6.Q16.so.6'])],
    });
    const out = await pluginSiblings(ctx);
    expect(paths(out)).toEqual(expect.arrayContaining([`${coders}/jpeg.so`, `${coders}/jpeg.la`, `${coders}/gif.so`]));
    expect(reasonFor(out, `${coders}/jpeg.so`)).toBe(`plugin beside ${coders}/png.so, which was loaded by path from ${coders}`);
    expect(paths(out).every((p) => p.startsWith(`${coders}/`))).toBe(true);
  });

  it('gconv modules are plugins; libraries in a loader directory or named by DT_NEEDED are not', async () => {
    const gconv = await pluginSiblings(sampleContext('c-text', { kept: ['/usr/lib/x86_64-linux-gnu/gconv/UTF-16.so'] }));
    expect(paths(gconv)).toContain('/usr/lib/x86_64-linux-gnu/gconv/UTF-32.so');
    const generatedTree = (needed: string[]) => generated([
      elf('/opt/app/lib/liba.so'), elf('/opt/app/lib/libb.so'), elf('/opt/app/bin/app', needed),
      elf('/usr/lib/x86_64-linux-gnu/libx.so.1'), elf('/usr/lib/x86_64-linux-gnu/liby.so.1'),
      { name: 'etc/ld.so.conf', data: 'include /etc/ld.so.conf.d/*.conf\n' }, { name: 'etc/ld.so.conf.d/x.conf', data: '/usr/lib/x86_64-linux-gnu\n' },
    ], { kept: new Set(['/opt/app/lib/liba.so', '/opt/app/bin/app', '/usr/lib/x86_64-linux-gnu/libx.so.1']) });
    expect(paths(await pluginSiblings(generatedTree(['liba.so'])))).toEqual([]);
    expect(paths(await pluginSiblings(generatedTree([])))).toEqual(['/opt/app/lib/liba.so', '/opt/app/lib/libb.so']);
  });
});

describe('scripts call programs', () => {
  it('finds the programs of the shell CGI sample and what gunzip (a script itself) calls', async () => {
    const out = await programsCalledByScripts(sampleContext('shell-cgi', { kept: ['/usr/local/bin/start.sh', '/srv/www/cgi-bin/count', '/srv/www/cgi-bin/pack', '/srv/www/cgi-bin/shout'] }));
    expect(paths(out)).toEqual(expect.arrayContaining(['/usr/bin/sort', '/usr/bin/uniq', '/usr/bin/awk', '/usr/bin/gzip', '/usr/bin/base64', '/usr/bin/gunzip', '/usr/bin/head', '/usr/bin/tr', '/usr/bin/sed', '/usr/bin/date', '/usr/bin/wc', '/usr/bin/busybox']));
    expect(reasonFor(out, '/usr/bin/wc')).toBe('called by /usr/local/bin/start.sh:6');
    expect(reasonFor(out, '/usr/bin/busybox')).toBe('called by /usr/local/bin/start.sh:7');
    expect(reasonFor(out, '/usr/bin/awk')).toBe('called by /srv/www/cgi-bin/count:4');
    // Builtins run no program.
    expect(paths(out)).not.toContain('/usr/bin/printf');
    expect(paths(out)).not.toContain('/usr/bin/echo');
  });

  it('programs that Python, Ruby, PHP, Perl and JavaScript code runs by a literal name', async () => {
    const out = await programsCalledByScripts(sampleContext('magick', { kept: ['/srv/convert/convert_service.py'] }));
    expect(out).toEqual([
      { path: '/usr/bin/convert', reason: 'called by /srv/convert/convert_service.py:9' },
      { path: '/usr/bin/identify', reason: 'called by /srv/convert/convert_service.py:32' },
    ]);
    expect(commandsCalledBy('/a.rb', 'x = `uname -a | tr a b`\nsystem("gzip", "-d")\nfoo.system("no")\n%x(hostname)').map((c) => c.command)).toEqual(['uname', 'tr', 'gzip', 'hostname']);
    expect(commandsCalledBy('/a.php', '<?php $db->exec("SELECT 1"); shell_exec("sort -u f"); curl_exec($h);').map((c) => c.command)).toEqual(['sort']);
    expect(commandsCalledBy('/a.pl', 'my $v = qx(date); system "rm", "-f"; system("tar xf $f");').map((c) => c.command)).toEqual(['date', 'rm', 'tar']);
    expect(commandsCalledBy('/a.js', "execFileSync('git', ['log']); spawn(cmd)").map((c) => c.command)).toEqual(['git']);
    expect(commandsCalledBy('/a.txt', 'system("x")')).toEqual([]);
  });

  it('parses the nasty parts: substitutions, wrappers, functions, heredocs, quotes, redirections, case', () => {
    const script = [
      '#!/bin/sh',
      'greet() { echo hi; }',
      'greet',
      'x=$(id -u) y=`hostname`',
      'exec env -i FOO=1 nice -n 5 python3 app.py "$@"',
      'cat <<EOF | grep -v secret > /tmp/out',
      'rm -rf /',
      'EOF',
      "echo 'not | a command' && ls -l 2>&1 >/dev/null || \\",
      '  true; $CMD arg; "${TOOL}" run',
      'case "$1" in start|stop) daemon "$1" ;; esac',
      'find . -name x | xargs -0 -r stat # comment: curl',
      'if [ -f x ]; then touch x; fi',
    ].join('\n');
    const uses = commandsOf(script);
    expect(uses.map((u) => u.command).sort()).toEqual(['cat', 'daemon', 'find', 'grep', 'hostname', 'id', 'ls', 'python3', 'stat', 'touch']);
    expect(uses.find((u) => u.command === 'ls')!.line).toBe(9);
    expect(isShellScript('/x', Buffer.from('#!/usr/bin/env bash\n'))).toBe(true);
    expect(isShellScript('/x', Buffer.from('#!/bin/busybox sh\n'))).toBe(true);
    expect(isShellScript('/x.sh', Buffer.from('echo hi\n'))).toBe(true);
    expect(isShellScript('/x', Buffer.from('#!/usr/bin/python3\n'))).toBe(false);
  });
});

describe('static scans', () => {
  it('Ruby: require on the load path (stdlib, packaged gems) and require_relative', async () => {
    const out = await staticScans(sampleContext('ruby-gems', { kept: ['/srv/app/app.rb'], extra: [{ name: 'srv/app/lib/helper.rb', data: "require_relative '../app'\nrequire 'missing/nowhere'\n" }, { name: 'srv/app/boot.rb', data: "require_relative 'lib/helper'\n" }] }));
    expect(reasonFor(out, '/usr/lib/ruby/3.1.0/csv.rb')).toBe("require 'csv' in /srv/app/app.rb:19");
    expect(paths(out)).toContain('/usr/share/rubygems-integration/all/gems/sinatra-3.0.5/lib/sinatra/base.rb');
    const relative = await staticScans(sampleContext('ruby-gems', { kept: ['/srv/app/boot.rb'], extra: [{ name: 'srv/app/lib/helper.rb', data: "require_relative '../app'\n" }, { name: 'srv/app/boot.rb', data: "require_relative 'lib/helper'\n" }] }));
    expect(paths(relative)).toEqual(expect.arrayContaining(['/srv/app/lib/helper.rb', '/srv/app/app.rb', '/usr/lib/ruby/3.1.0/json.rb']));
  });

  it('PHP: paths built from __DIR__, computed includes keep their directory, composer autoload maps', async () => {
    const out = await staticScans(sampleContext('php-site', { kept: ['/var/www/app/router.php'] }));
    expect(reasonFor(out, '/var/www/app/pages')).toBe('computed path under /var/www/app/pages named in /var/www/app/router.php:7');
    expect(reasonFor(out, '/var/www/app/lib')).toBe('computed path under /var/www/app/lib named in /var/www/app/router.php:4');
    const composer = await staticScans(generated([
      { name: 'app/index.php', data: "<?php\nrequire __DIR__ . '/vendor/autoload.php';\ninclude 'tpl/head.php';\n" },
      { name: 'app/tpl/head.php', data: '<?php' },
      { name: 'app/vendor/autoload.php', data: '<?php' },
      { name: 'app/vendor/composer/autoload_psr4.php', data: "<?php\n$vendorDir = dirname(__DIR__);\n$baseDir = dirname($vendorDir);\nreturn array('Acme\\\\' => array($vendorDir . '/acme/lib/src'), 'App\\\\' => array($baseDir . '/src'));\n" },
      { name: 'app/vendor/acme/lib/src/Thing.php', data: '<?php' },
      { name: 'app/src/Model.php', data: '<?php' },
    ], { kept: new Set(['/app/index.php']) }));
    expect(paths(composer)).toEqual(['/app/src', '/app/tpl/head.php', '/app/vendor/acme/lib/src', '/app/vendor/autoload.php', '/app/vendor/composer/autoload_psr4.php']);
  });

  it('Perl: top-level use and require on @INC (not POD, not inside subs), with the XS object under auto/', async () => {
    const out = await staticScans(generated([
      { name: 'usr/bin/tool.pl', data: '#!/usr/bin/perl\nuse strict;\nuse JSON::PP;\nrequire List::Util;\nsub later {\n    require Carp::Heavy;\n}\n=head1 SYNOPSIS\n\nuse Pod::Only;\n\n=cut\n' },
      { name: 'usr/share/perl/5.36/Carp/Heavy.pm', data: '' }, { name: 'usr/share/perl/5.36/Pod/Only.pm', data: '' },
      { name: 'usr/share/perl/5.36/JSON/PP.pm', data: 'use Carp;\n' },
      { name: 'usr/share/perl/5.36/Carp.pm', data: '' },
      { name: 'usr/lib/x86_64-linux-gnu/perl/5.36/List/Util.pm', data: '' },
      { name: 'usr/lib/x86_64-linux-gnu/perl/5.36/auto/List/Util/Util.so', data: '' },
    ], { kept: new Set(['/usr/bin/tool.pl']) }));
    expect(paths(out)).toEqual(['/usr/lib/x86_64-linux-gnu/perl/5.36/List/Util.pm', '/usr/lib/x86_64-linux-gnu/perl/5.36/auto/List/Util/Util.so', '/usr/share/perl/5.36/Carp.pm', '/usr/share/perl/5.36/JSON/PP.pm']);
    expect(reasonFor(out, '/usr/share/perl/5.36/JSON/PP.pm')).toBe('use JSON::PP in /usr/bin/tool.pl:3');
  });

  it('Java: the real jar manifest, Class-Path of a deflated manifest, System.loadLibrary names', async () => {
    expect(jarManifest(fixture('java-svc/files/opt/service/service.jar')).get('Main-Class')).toBe('Service');
    const out = await staticScans(generated([
      { name: 'opt/app/app.jar', data: zip({ 'META-INF/MANIFEST.MF': 'Manifest-Version: 1.0\r\nClass-Path: lib/dep.jar lib/long\r\n -name.jar\r\n\r\nName: x\r\nClass-Path: ignored.jar\r\n', 'Native.class': 'xx loadLibrary yy\u0001\u0000\u0006zstdjn' }) },
      { name: 'opt/app/lib/dep.jar', data: zip({ 'META-INF/MANIFEST.MF': 'Class-Path: ../extra.jar\n' }) },
      { name: 'opt/app/lib/long-name.jar', data: 'not a zip' },
      { name: 'opt/app/extra.jar', data: 'not a zip' },
      { name: 'opt/app/libzstdjn.so', data: '' },
    ], { kept: new Set(['/opt/app/app.jar']) }));
    expect(paths(out)).toEqual(['/opt/app/extra.jar', '/opt/app/lib/dep.jar', '/opt/app/lib/long-name.jar', '/opt/app/libzstdjn.so']);
    expect(reasonFor(out, '/opt/app/libzstdjn.so')).toBe('System.loadLibrary("zstdjn") in /opt/app/app.jar!Native.class');
    expect(zipEntries(Buffer.from('PK\u0005\u0006 truncated'))).toEqual([]);
  });
  it('Java: loadLibrary finds the JNI library in the JVM a kept java binary belongs to, wherever it is installed', async () => {
    const out = await staticScans(generated([
      { name: 'srv/app.jar', data: zip({ 'Native.class': 'xx loadLibrary yy\u0001\u0000\u0003awt' }) },
      { name: 'opt/java/openjdk/bin/java', data: '' },
      { name: 'opt/java/openjdk/lib/modules', data: '' },
      { name: 'opt/java/openjdk/lib/libawt.so', data: '' },
      { name: 'opt/other/lib/libawt.so', data: '' },
    ], { kept: new Set(['/srv/app.jar', '/opt/java/openjdk/bin/java']) }));
    expect(paths(out)).toEqual(['/opt/java/openjdk/lib/libawt.so']);
  });
});

describe('code in use', () => {
  it('follows what the app touched and its own files, not package files kept for other reasons', async () => {
    // /usr/lib/ssl/misc/CA.pl is kept by the certs pack but never run: its Perl modules stay out.
    const specs: Spec[] = [
      { name: 'var/lib/dpkg/status', data: 'Package: openssl\nStatus: install ok installed\nVersion: 3\n' },
      { name: 'var/lib/dpkg/info/openssl.list', data: '/usr/lib/ssl/misc/CA.pl\n' },
      { name: 'usr/lib/ssl/misc/CA.pl', data: 'use Used::ByCA;\n' },
      { name: 'usr/share/perl5/Used/ByCA.pm', data: '' },
      { name: 'srv/app/run.pl', data: 'use Used::ByApp;\n' },
      { name: 'usr/share/perl5/Used/ByApp.pm', data: '' },
    ];
    const kept = new Set(['/usr/lib/ssl/misc/CA.pl', '/srv/app/run.pl']);
    expect(paths(await staticScans(generated(specs, { kept, traced: new Set() })))).toEqual(['/usr/share/perl5/Used/ByApp.pm']);
    expect(paths(await staticScans(generated(specs, { kept, traced: new Set(['/usr/lib/ssl/misc/CA.pl']) })))).toEqual(['/usr/share/perl5/Used/ByApp.pm', '/usr/share/perl5/Used/ByCA.pm']);
    // Without a trace every kept file counts.
    expect(paths(await staticScans(generated(specs, { kept })))).toHaveLength(2);
  });
});

describe('runtimes that load by name', () => {
  it('JVM: conf/ and lib/security/ with the /etc files they link to, JNI libraries, tzdb.dat, the trust store', async () => {
    const home = '/usr/lib/jvm/java-17-openjdk-amd64';
    const out = await runtimeLoadsByName(sampleContext('java-svc', { kept: [`${home}/bin/java`, '/usr/bin/java'] }));
    for (const p of [`${home}/conf`, `${home}/lib/security`, `${home}/lib/libawt.so`, `${home}/lib/libjavajpeg.so`, `${home}/lib/tzdb.dat`, '/etc/java-17-openjdk/security/java.security', '/etc/ssl/certs/java/cacerts']) expect(paths(out)).toContain(p);
    expect(reasonFor(out, `${home}/lib/libawt.so`)).toBe(`jvm runtime ${home} loads JNI libraries by name (System.loadLibrary)`);
    expect(paths(out)).not.toContain(`${home}/lib/ct.sym`);
    // A java that is not in a JAVA_HOME (a launcher in /usr/bin) does not make /usr/lib a runtime's lib/.
    expect(await runtimeLoadsByName(generated([{ name: 'usr/bin/java', mode: 0o755, data: '#!/bin/sh\n' }, { name: 'usr/lib/libfoo.so', data: '' }], { kept: new Set(['/usr/bin/java']) }))).toEqual([]);
  });

  it('PHP: extension= lines of its ini files; Ruby: enc/, rbconfig and gem specifications', async () => {
    const php = await runtimeLoadsByName(sampleContext('php-site', { kept: ['/usr/bin/php8.2'] }));
    expect(reasonFor(php, '/usr/lib/php/20220829/iconv.so')).toBe('php runtime /usr loads it: extension=iconv.so in /etc/php/8.2/cli/conf.d/20-iconv.ini');
    const ruby = await runtimeLoadsByName(sampleContext('ruby-gems', { kept: ['/usr/bin/ruby3.1'] }));
    expect(paths(ruby)).toEqual(expect.arrayContaining(['/usr/lib/x86_64-linux-gnu/ruby/3.1.0/enc', '/usr/lib/x86_64-linux-gnu/ruby/3.1.0/rbconfig.rb', '/usr/share/rubygems-integration/all/specifications', '/usr/lib/ruby/gems/3.1.0/extensions']));
    expect(await runtimeLoadsByName(sampleContext('ruby-gems', { kept: ['/srv/app/app.rb'] }))).toEqual([]);
  });

  it('Python: lib-dynload and encodings', async () => {
    const out = await runtimeLoadsByName(sampleContext('data-app', { kept: ['/usr/bin/python3.11'] }));
    expect(paths(out)).toEqual(['/usr/lib/python3.11/encodings', '/usr/lib/python3.11/lib-dynload']);
  });
});

describe("the app's state", () => {
  it('keeps what the non-root runtime user owns (name through /etc/passwd) and VOLUME dirs', async () => {
    const out = await appState(sampleContext('data-app', { user: 'journal', volumes: ['/srv/data/archive', '/not/there'] }));
    expect(out).toEqual([
      { path: '/srv/data', reason: 'owned by the runtime user journal' },
      { path: '/srv/data/archive', reason: 'VOLUME /srv/data/archive of the image' },
    ]);
    expect(await appState(sampleContext('data-app', { user: '1002:1002' }))).toHaveLength(1);
    for (const user of ['', 'root', '0', 'nosuchuser']) expect(await appState(sampleContext('data-app', { user }))).toEqual([]);
  });

  it('reads who the USER is from /etc/passwd: uid and home, by name or uid, a number even without a line', async () => {
    const ctx = sampleContext('data-app');
    for (const user of ['journal', 'journal:staff', '1002', ' 1002:1002']) expect(await runtimeUser(ctx, user)).toEqual({ uid: 1002, home: '/srv/data' });
    expect(await runtimeUser(ctx, 'root')).toEqual({ uid: 0, home: '/root' });
    expect(await runtimeUser(ctx, '4242')).toEqual({ uid: 4242 });
    for (const user of ['', ':0', 'nosuchuser', 'journa']) expect(await runtimeUser(ctx, user)).toEqual({});
    // A home of "/" is no home.
    expect(await runtimeUser(generated([{ name: 'etc/passwd', data: 'svc:x:7:7::/:/bin/false\n' }]), 'svc')).toEqual({ uid: 7 });
  });
});

/** A zip archive with deflated entries, for generated jars. */
function zip(files: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, text] of Object.entries(files)) {
    const data = deflateRawSync(Buffer.from(text, 'latin1'));
    const nameBytes = Buffer.from(name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(text.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(text.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(Object.keys(files).length, 8);
  end.writeUInt16LE(Object.keys(files).length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
