import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSize, parseSize, SizeFormatError } from './size.ts';

test('parseSize reads binary units', () => {
  assert.equal(parseSize('512M'), 512 * 2 ** 20);
  assert.equal(parseSize('2G'), 2 * 2 ** 30);
  assert.equal(parseSize('2g'), 2 * 2 ** 30);
  assert.equal(parseSize('2GiB'), 2 * 2 ** 30);
  assert.equal(parseSize('16GB'), 16 * 2 ** 30);
  assert.equal(parseSize('1.5G'), 1.5 * 2 ** 30);
  assert.equal(parseSize('1T'), 2 ** 40);
  assert.equal(parseSize('4K'), 4096);
  assert.equal(parseSize('1000'), 1000);
  assert.equal(parseSize('512B'), 512);
});

test('parseSize rejects what is not a size', () => {
  for (const bad of ['', 'G', '-1G', '2X', '1.5', '2 G B', 'lots', '1e9', '2GiBs']) {
    assert.throws(() => parseSize(bad), SizeFormatError, `accepted ${JSON.stringify(bad)}`);
  }
  assert.throws(() => parseSize('99999999P'), /too large/);
});

test('formatSize shows one decimal in binary units', () => {
  assert.equal(formatSize(4 * 2 ** 30), '4.0 GiB');
  assert.equal(formatSize(512 * 2 ** 20), '512.0 MiB');
  assert.equal(formatSize(1536 * 2 ** 20), '1.5 GiB');
  assert.equal(formatSize(1000), '1000 B');
  assert.equal(formatSize(0), '0 B');
  assert.equal(formatSize(2 ** 30 - 1), '1.0 GiB'); // not "1024.0 MiB"
});
