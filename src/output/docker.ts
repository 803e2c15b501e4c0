// Output `docker`: the image is loaded into the engine, and tagged only once
// the load got through and the run was not interrupted.
import type { Readable } from 'node:stream';
import { SlimError } from '../errors.js';
import { splitTag } from '../image/read.js';
import type { Output, OutputContext } from './outputs.js';

export const engineOutput: Output = {
  name: 'docker',
  description: 'load into the engine under --tag (the default; verification needs it)',
  async write(archive: Readable, ctx: OutputContext): Promise<string> {
    // Both must succeed: the engine's load, and our writing of what it loads.
    const [loaded, written] = await Promise.all([ctx.engine.loadImage(archive), ctx.done]);
    if (loaded !== written.id) throw new SlimError(`the engine loaded ${loaded}, but the archive holds ${written.id}`);
    ctx.signal?.throwIfAborted();
    const { repo, tag } = splitTag(ctx.tag);
    await ctx.engine.tagImage(loaded, repo, tag);
    return `docker ${ctx.tag}`;
  },
};
