// Child process of the throughput benchmark: slim's read (the tree, through the
// layer store or docker save: BENCH_READ=layers|save) + write (every path) +
// load of one image, so that its peak RSS is measured alone.
import { dist } from './lib.mjs';

const [ref, tag] = process.argv.slice(2);
const { dockerEngine } = await dist('engine.js');
const { openImage } = await dist('image/read.js');
const { rebuild } = await dist('rebuild.js');
const engine = dockerEngine({ version: 'bench' });
const start = performance.now();
const image = await openImage(engine, ref, { via: process.env.BENCH_READ ?? 'auto' });
const read = (performance.now() - start) / 1000;
const result = await rebuild(engine, image, image.tree.paths(), tag);
const total = (performance.now() - start) / 1000;
await image[Symbol.asyncDispose]();
console.log(JSON.stringify({ read, via: image.via, writeAndLoad: total - read, total, bytes: result.layerBytes, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
