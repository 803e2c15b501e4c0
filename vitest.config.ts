import { spawnSync } from 'node:child_process';
import { defineConfig } from 'vitest/config';

/** Unit tests need nothing but Node; engine tests drive the real Docker engine. */
const UNIT = ['test/plan.test.ts', 'test/trace.test.ts', 'test/bad-input.test.ts', 'test/image.test.ts', 'test/commands.test.ts', 'test/wait.test.ts', 'test/*.unit.test.ts'];

// Where no engine answers, the engine project runs one test that says so and is skipped
// (CI starts the engine first, so there they always run).
// (vitest loads this file once per project: ask and say it once.)
const ENGINE_ABSENT = 'engine tests skipped: no Docker engine answers `docker version` (start one with npm run engine, or set DOCKER_HOST)';
if (!process.env.SLIM_ENGINE_ANSWERS) {
  process.env.SLIM_ENGINE_ANSWERS = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { stdio: 'ignore', timeout: 15_000 }).status === 0 ? 'yes' : 'no';
  if (process.env.SLIM_ENGINE_ANSWERS === 'no') console.warn(`\nslim: ${ENGINE_ABSENT}\n`);
}
const engineAnswers = process.env.SLIM_ENGINE_ANSWERS === 'yes';

export default defineConfig({
  test: {
    // Every test run gets its own TMPDIR, which must be empty again at the end.
    globalSetup: ['test/temp-setup.ts'],
    setupFiles: ['test/temp-cleanup.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    projects: [
      { extends: true, test: { name: 'unit', include: UNIT } },
      {
        extends: true,
        test: {
          name: 'engine',
          include: engineAnswers ? ['test/**/*.test.ts'] : ['test/engine-absent.ts'],
          env: { ENGINE_ABSENT },
          exclude: UNIT,
          globalSetup: engineAnswers ? ['test/global-setup.ts'] : [],
          // The engine tests share one Docker engine on a small machine: one file at a time.
          fileParallelism: false,
        },
      },
    ],
  },
});
