import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { commands } from './command-table.ts';

test('the README lists every command of the command table', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const section = /## Commands\n([\s\S]*?)\n## /.exec(readme)?.[1] ?? '';
  // A row names commands in backticks; `devices market DEVICE on|off` names `devices market`.
  const named = [...section.matchAll(/`([a-z][a-z -]*?)(?: [A-Z[\-]|`)/g)].map((m) => m[1]!.trim());
  const missing = commands.map((c) => c.name).filter((name) => !named.includes(name));
  assert.deepEqual(missing, [], `add these commands to packages/cli/README.md: ${missing.join(', ')}`);
});
