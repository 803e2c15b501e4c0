// Engine project only: makes sure the engine runs and the sample images exist
// before any engine test (vitest.config.ts runs it only where an engine answers).
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('bash', ['scripts/build-samples.sh'], { stdio: 'inherit' });
}
