// Output `archive:FILE`: a `docker save`-compatible tar (docker load -i FILE)
// that names the slim image's tag, written beside FILE and renamed onto it only
// when complete.
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { withContext } from '../errors.js';
import { eachEntry, readBody } from '../image/entries.js';
import type { Output, OutputContext } from './outputs.js';

export const dockerSaveOutput: Output = {
  name: 'archive',
  path: 'file',
  description: 'write a docker save archive (docker load -i FILE)',
  async write(image, ctx: OutputContext, file: string | undefined) {
    const partial = `${file!}.partial-${process.pid}`;
    return withContext(`writing ${file}`, async () => {
      const archive = image.archive();
      const pack = tar.pack();
      try {
        const copy = eachEntry(archive.stream, async (header, body) => {
          if (header.name !== 'manifest.json') return void (await pipeline(body, pack.entry({ ...header })));
          // The stream loads untagged (the engine output tags after the load); a saved archive carries its tag.
          const manifest = JSON.parse((await readBody(body)).toString('utf8')) as Array<{ RepoTags: string[] | null }>;
          for (const image of manifest) image.RepoTags = [ctx.tag];
          pack.entry({ ...header, size: undefined }, JSON.stringify(manifest));
        }).then(() => pack.finalize(), (err: Error) => pack.destroy(err));
        const [, , written] = await Promise.all([pipeline(pack, createWriteStream(partial)), copy, archive.done]);
        ctx.signal?.throwIfAborted();
        await rename(partial, file!);
        return { ...written, where: `archive:${file}` };
      } finally {
        await rm(partial, { force: true });
      }
    });
  },
};
