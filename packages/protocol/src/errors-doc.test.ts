import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { errorCodeList } from './errors.ts';

test('docs/errors.md lists every error code', () => {
  const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Set([...doc.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => m[1]));
  const missing = errorCodeList.filter((code) => !documented.has(code));
  assert.deepEqual(missing, [], `add these codes to docs/errors.md: ${missing.join(', ')}`);
  for (const code of ['server_unreachable', 'bad_response']) assert.ok(doc.includes(`\`${code}\``), `client code ${code} is documented`);
});
