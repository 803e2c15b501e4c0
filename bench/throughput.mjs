// Benchmark 1: slim's image read+flatten+write+load of a ~1 GB image against the
// engine's own docker save + docker load of the same image.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSamples, fmt, root, sh, timeCommand } from './lib.mjs';

export async function throughput() {
  ensureSamples();
  const image = 'slim-bench/big:1';
  sh('docker', ['build', '-q', '-t', image, join(root, 'bench', 'big-image')]);
  const size = Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', image]));

  // The engine: save to a file, drop the image, load it back (a full extract, like slim's load).
  const dir = mkdtempSync(join(tmpdir(), 'slim-bench-'));
  const file = join(dir, 'image.tar');
  const save = timeCommand('docker', ['save', '-o', file, image]);
  sh('docker', ['rmi', image]);
  const load = timeCommand('docker', ['load', '-q', '-i', file]);
  rmSync(dir, { recursive: true, force: true });

  const copy = 'slim-bench/big:copy';
  const ours = JSON.parse(sh(process.execPath, [join(root, 'bench', 'copy-image.mjs'), image, copy]));
  sh('docker', ['rmi', copy]);
  const engine = save + load;
  console.log(`image throughput on ${fmt(size / 1e9)} GB (${fmt(ours.bytes / 1e9)} GB layer written):`);
  console.log(`  docker save ${fmt(save, 1)}s + docker load ${fmt(load, 1)}s = ${fmt(engine, 1)}s (${fmt(size / 1e6 / engine, 0)} MB/s)`);
  console.log(`  slim read (${ours.via}) ${fmt(ours.read, 1)}s + write+load ${fmt(ours.writeAndLoad, 1)}s = ${fmt(ours.total, 1)}s (${fmt(size / 1e6 / ours.total, 0)} MB/s)`);
  console.log(`  ratio slim / engine: ${fmt(ours.total / engine)}x   peak RSS: ${fmt(ours.maxRssMB, 0)} MB`);
  return { ratio: ours.total / engine, maxRssMB: ours.maxRssMB };
}
