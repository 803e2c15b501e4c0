// Makes sure the engine runs and the sample images exist before any test.
// Engine tests must fail loudly when there is no engine, never skip.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  execFileSync('bash', ['scripts/build-samples.sh'], { stdio: 'inherit' });
}
