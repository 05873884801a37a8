import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorCodeList } from './errors.ts';

test('docs/errors.md lists every error code', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const missing = errorCodeList.filter((code) => !doc.includes(`| \`${code}\` |`));
  assert.deepEqual(missing, [], `add these codes to docs/errors.md: ${missing.join(', ')}`);
  for (const code of ['server_unreachable', 'bad_response']) assert.ok(doc.includes(`\`${code}\``), `client code ${code} is documented`);
});
