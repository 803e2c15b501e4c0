// Reading the entries of a tar stream one after another: the outputs re-pack an
// image archive with it, a run reads the trace its tracer left in the container.
import type { Readable } from 'node:stream';
import tar from 'tar-stream';

/** Calls `onEntry` for each entry of a tar stream, in order, with its body as a stream it must read to the end. */
export async function eachEntry(archive: Readable, onEntry: (header: tar.Header, body: Readable) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  const finished = new Promise<void>((resolve, reject) => {
    extract.on('finish', resolve);
    extract.on('error', reject);
    archive.on('error', reject);
  });
  extract.on('entry', (header, body, next) => {
    onEntry(header, body as unknown as Readable).then(() => next(), (err: Error) => next(err));
  });
  archive.pipe(extract);
  await finished;
}

export async function readBody(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
