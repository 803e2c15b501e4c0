// Builds the in-container probes at install: slim-probe as a static binary,
// and a bundle of the host's strace with its shared libraries and loader, so
// that it runs inside any image (glibc, musl or scratch).
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const out = join(root, 'probes', 'bin');
mkdirSync(out, { recursive: true });

function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim();
  } catch {
    return '';
  }
}

// slim-probe traces the app; slim-fs reads layer directories for the build.
for (const name of ['slim-probe', 'slim-fs']) {
  const source = join(root, 'probes', `${name}.c`);
  const binary = join(out, name);
  if (existsSync(binary) && statSync(binary).mtimeMs >= statSync(source).mtimeMs) continue;
  const cc = process.env.CC || which('cc') || which('gcc');
  if (!cc) {
    console.error('build-probes: no C compiler found; install gcc and libc6-dev (apt-get install gcc libc6-dev), then npm run build');
    process.exit(1);
  }
  try {
    execFileSync(cc, ['-static', '-O2', '-Wall', '-Wextra', '-o', binary, source], { stdio: 'inherit' });
  } catch {
    console.error(`build-probes: compiling probes/${name}.c failed; a static build needs libc6-dev (apt-get install libc6-dev)`);
    process.exit(1);
  }
}

// The strace bundle: strace, the libraries ldd names, and the loader.
const bundle = join(out, 'strace');
const strace = which('strace');
rmSync(bundle, { recursive: true, force: true });
if (!strace) {
  console.warn('build-probes: strace is not installed; --probe strace will be unavailable (apt-get install strace, then npm run build)');
} else {
  mkdirSync(bundle, { recursive: true });
  copyFileSync(strace, join(bundle, 'strace'));
  let loader = '';
  for (const line of execFileSync('ldd', [strace], { encoding: 'utf8' }).split('\n')) {
    const lib = /=>\s*(\/\S+)/.exec(line)?.[1] ?? /^\s*(\/\S+)\s+\(/.exec(line)?.[1];
    if (!lib) continue;
    copyFileSync(lib, join(bundle, basename(lib)));
    if (/ld-linux|ld-musl/.test(basename(lib))) loader = basename(lib);
  }
  if (!loader) {
    console.error(`build-probes: could not find the dynamic loader of ${strace}`);
    process.exit(1);
  }
  writeFileSync(join(bundle, 'loader'), loader + '\n');
}
const version = readFileSync(join(root, 'package.json'), 'utf8');
writeFileSync(join(out, 'BUILT'), `${JSON.parse(version).version}\n`);
