// Output `oci:DIR`: an OCI image layout directory (oci-layout, index.json,
// blobs/sha256/...), as skopeo, crane or `docker buildx` read it. It is built
// beside DIR and renamed onto it only when complete; DIR must not exist yet.
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SlimError, withContext } from '../errors.js';
import { splitTag } from '../image/read.js';
import { eachEntry, readBody } from '../image/entries.js';
import type { Output, OutputContext } from './outputs.js';

const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export const ociLayoutOutput: Output = {
  name: 'oci',
  path: 'directory',
  description: 'write an OCI image layout directory',
  async write(image, ctx: OutputContext, dir: string | undefined) {
    const target = dir!;
    if (existsSync(target)) throw new SlimError(`--output oci:${target}: ${target} already exists`, { kind: 'usage', hint: 'remove it, or name a new directory' });
    const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}`);
    return withContext(`writing OCI layout ${target}`, async () => {
      try {
        const blobs = join(partial, 'blobs', 'sha256');
        await mkdir(blobs, { recursive: true });
        const putBlob = async (data: Buffer, mediaType: string): Promise<Descriptor> => {
          const hex = createHash('sha256').update(data).digest('hex');
          await writeFile(join(blobs, hex), data);
          return { mediaType, digest: `sha256:${hex}`, size: data.length };
        };
        // In archive order, which is the order of the config's diff_ids (a fleet's shared base first).
        const layers: Descriptor[] = [];
        let config: Descriptor | undefined;
        const archive = image.archive();
        await eachEntry(archive.stream, async (header, body) => {
          if (header.name.endsWith('/layer.tar')) {
            // The layer's digest is known once it is written: hash it on the way to a temporary name.
            const hash = createHash('sha256');
            let size = 0;
            const spool = join(blobs, 'layer.partial');
            const hashing = new Transform({ transform(chunk: Buffer, _enc, done) { hash.update(chunk); size += chunk.length; done(null, chunk); } });
            await pipeline(body, hashing, createWriteStream(spool));
            const hex = hash.digest('hex');
            await rename(spool, join(blobs, hex));
            layers.push({ mediaType: MEDIA.layer, digest: `sha256:${hex}`, size });
          } else if (header.name.endsWith('.json') && header.name !== 'manifest.json') {
            config = await putBlob(await readBody(body), MEDIA.config);
          } else {
            await readBody(body);
          }
        });
        const written = await archive.done;
        const id = written.id;
        if (layers.length === 0 || !config || config.digest !== id) throw new SlimError(`the archive did not hold the layer and config of ${id}`);
        const manifest = await putBlob(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.manifest, config, layers })), MEDIA.manifest);
        manifest.annotations = { 'org.opencontainers.image.ref.name': splitTag(ctx.tag).tag, 'io.containerd.image.name': ctx.tag };
        await writeFile(join(partial, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests: [manifest] }));
        await writeFile(join(partial, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
        ctx.signal?.throwIfAborted();
        await rename(partial, target);
        return { ...written, where: `oci:${target}` };
      } finally {
        await rm(partial, { recursive: true, force: true });
      }
    });
  },
};
