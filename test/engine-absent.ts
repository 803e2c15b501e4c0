// Run instead of the engine tests where no Docker engine answers: one skipped
// test that says why, so that a green unit run is never mistaken for a full one.
import { it } from 'vitest';

it.skip(process.env.ENGINE_ABSENT ?? 'engine tests skipped: no Docker engine', () => {});
