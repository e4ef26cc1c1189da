import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBytes, formatHitsTable, formatTable } from './formatTable.ts';

describe('formatTable', () => {
  it('aligns columns, right-aligns numbers and leaves no trailing spaces', () => {
    const table = formatTable(
      [{ header: 'n', align: 'right' }, { header: 'name' }, { header: 'note' }],
      [
        ['1', 'a', ''],
        ['10', 'bbbb', 'x'],
      ],
    );
    assert.equal(table, [' n  name  note', '--  ----  ----', ' 1  a', '10  bbbb  x'].join('\n'));
  });

  it('clips long cells with an ellipsis and strips control characters', () => {
    const table = formatTable([{ header: 'f', maxWidth: 5 }], [['abcdefgh'], ['a\u001b[2Jb']]);
    assert.deepEqual(table.split('\n').slice(2), ['abcd…', 'a[2Jb']);
  });

  it('prints search hits as rank, score, image id, filename, tags', () => {
    const hits = [
      {
        imageId: 'id-1',
        score: 0.98765,
        filename: 'cat.jpg',
        tags: ['pets', 'cats'],
        attributes: {},
        thumbnailUrl: null,
        contentUrl: '',
      },
      {
        imageId: 'id-2',
        score: 0.5,
        filename: 'dog.jpg',
        tags: [],
        attributes: {},
        thumbnailUrl: null,
        contentUrl: '',
      },
    ];
    assert.equal(
      formatHitsTable(hits),
      [
        'rank   score  image id  filename  tags',
        '----  ------  --------  --------  ----------',
        '   1  0.9877  id-1      cat.jpg   pets, cats',
        '   2  0.5000  id-2      dog.jpg',
      ].join('\n'),
    );
  });
});

describe('formatBytes', () => {
  it('uses binary units', () => {
    assert.deepEqual([0, 1023, 1536, 12.34 * 2 ** 20, 4 * 2 ** 30].map(formatBytes), [
      '0 B',
      '1023 B',
      '1.50 KiB',
      '12.3 MiB',
      '4.00 GiB',
    ]);
  });
});
