// --images-file lines: words as a shell splits them (quotes, backslashes, no
// expansions), comments and blank lines skipped, errors that name FILE:LINE.
import { describe, expect, it } from 'vitest';
import { parseImagesFile, splitWords } from '../src/fleet/images-file.js';

describe('images file', () => {
  it('splits words with quotes and backslashes, and expands nothing', () => {
    expect(splitWords(`app:1 --http-probe 'GET /a b' --env "X=\\"q\\" \\$HOME" --mount /d\\ ir:/data  --cmd '$PATH'`)).toEqual([
      'app:1', '--http-probe', 'GET /a b', '--env', 'X="q" $HOME', '--mount', '/d ir:/data', '--cmd', '$PATH',
    ]);
    expect(splitWords(`a''b ""`)).toEqual(['ab', '']);
    expect(splitWords('   ')).toEqual([]);
  });

  it('skips comments and blank lines, and names the line of a mistake', () => {
    const text = '# fleet\n\napp:1 --tag app:slim\n  other:2  \n';
    expect(parseImagesFile(text, 'images')).toEqual([
      { where: 'images:3', words: ['app:1', '--tag', 'app:slim'] },
      { where: 'images:4', words: ['other:2'] },
    ]);
    expect(() => parseImagesFile('app:1\napp:2 --http-probe "/x\n', 'images')).toThrow(/^images:2: unclosed "/);
    expect(() => parseImagesFile('--jobs 2 app:1\n', 'images')).toThrow(/^images:1: a line starts with the image/);
  });
});
