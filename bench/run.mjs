// npm run bench: the benchmarks, one after the other (or name some: throughput phases overhead ratios).
import { phases } from './phases.mjs';
import { probeOverhead } from './probe-overhead.mjs';
import { ratios } from './ratios.mjs';
import { throughput } from './throughput.mjs';

const all = { throughput, phases, overhead: probeOverhead, ratios };
const chosen = process.argv.slice(2);
for (const [name, run] of Object.entries(all)) {
  if (chosen.length && !chosen.includes(name)) continue;
  await run();
  console.log();
}
