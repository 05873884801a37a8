import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDetails, formatTable } from './table.ts';

test('formatTable aligns columns under their headers without trailing spaces', () => {
  const text = formatTable(
    ['ID', 'NAME', { header: 'PRICE/H', align: 'right' }, 'NOTE'],
    [
      ['abc123', 'kitchen-pi', '0.05 USD', ''],
      ['d4', 'garage', '12.50 USD', 'fast'],
    ],
  );
  assert.equal(
    text,
    'ID      NAME          PRICE/H  NOTE\n' + //
      'abc123  kitchen-pi   0.05 USD\n' +
      'd4      garage      12.50 USD  fast\n',
  );
});

test('formatTable counts characters, not UTF-16 units', () => {
  // U+1D400 is one character on screen but two UTF-16 units.
  const text = formatTable(
    ['A', 'B'],
    [
      ['\u{1d400}x', '1'],
      ['ab', '2'],
    ],
  );
  assert.equal(text, 'A   B\n\u{1d400}x  1\nab  2\n');
});

test('formatTable neutralises control characters from server text', () => {
  const text = formatTable(['NAME'], [['evil\u001b[2Jname\r']]);
  assert.equal(text, 'NAME\nevil?[2Jname?\n');
  assert.doesNotMatch(text, /\u001b/);
});

test('formatDetails pads labels to one width', () => {
  assert.equal(
    formatDetails([
      ['Rental', 'r1'],
      ['Password', 'secret'],
    ]),
    'Rental    r1\nPassword  secret\n',
  );
});
