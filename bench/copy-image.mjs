// Child process of the throughput benchmark: slim's read + flatten + write (every
// path) + load of one image, so that its peak RSS is measured alone.
import { dist } from './lib.mjs';

const [ref, tag] = process.argv.slice(2);
const { dockerEngine } = await dist('engine.js');
const { readImage } = await dist('image/read.js');
const { flatten } = await dist('image/archive.js');
const { rebuild } = await dist('rebuild.js');
const engine = dockerEngine({ version: 'bench' });
const start = performance.now();
const image = await readImage(engine, ref);
const read = (performance.now() - start) / 1000;
const tree = await flatten(image);
const flattened = (performance.now() - start) / 1000;
const result = await rebuild(engine, image, tree, tree.paths(), tag);
const total = (performance.now() - start) / 1000;
await image[Symbol.asyncDispose]();
console.log(JSON.stringify({ read, flatten: flattened - read, writeAndLoad: total - flattened, total, bytes: result.layerBytes, maxRssMB: process.resourceUsage().maxRSS / 1024 }));
