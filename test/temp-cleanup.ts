// Removes the directories a test file made with tempDir() once the file is done.
import { afterAll } from 'vitest';
import { removeTempDirs } from './fixtures.js';

afterAll(removeTempDirs);
