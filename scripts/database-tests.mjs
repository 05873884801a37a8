#!/usr/bin/env node
// Prints those of the given test files that open a database: the ones that import, directly
// or through other modules of this repository, a module that calls openDatabase( (the
// server's composition root, the test context, the test database…). scripts/test runs only
// these a second time on PostgreSQL; a test that never opens a database runs the same code
// whatever the database is, and one that starts its own PostgreSQL when the pass has none
// (testing/postgres.ts) ran on it in the SQLite pass already. Imports are read from the
// source (static `import … from`, `export … from`, `import(…)` with a literal; `import type` is skipped: it loads nothing).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(dirname(new URL(import.meta.url).pathname), '..');
const importPattern =
  /(?:^|[\n;])\s*(?:import|export)\s+(?!type\s)(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
const opens = /\bopenDatabase\(/;

function resolveImport(from, spec) {
  let base;
  if (spec.startsWith('.')) base = resolve(dirname(from), spec);
  else {
    const m = /^@p2pvps\/([^/]+)\/(.+)$/.exec(spec);
    if (!m) return null; // a package from node_modules or node: opens nothing of ours
    base = join(root, 'packages', m[1], 'src', m[2]);
  }
  for (const candidate of [base, `${base}.ts`, `${base}.tsx`, join(base, 'index.ts')])
    if (existsSync(candidate) && candidate.match(/\.tsx?$/)) return candidate;
  return null;
}

// The import graph of every module the tests reach, then the modules that reach an opener
// (walking the edges backwards from the openers, so import cycles need no care).
const imports = new Map();
const tests = process.argv.slice(2).map((f) => resolve(f));
const queue = [...tests];
while (queue.length > 0) {
  const file = queue.pop();
  if (imports.has(file)) continue;
  const targets = [];
  for (const m of readFileSync(file, 'utf8').matchAll(importPattern)) {
    const target = resolveImport(file, m[1] ?? m[2]);
    if (target) targets.push(target);
  }
  imports.set(file, targets);
  queue.push(...targets);
}
const importedBy = new Map();
for (const [file, targets] of imports) for (const t of targets) importedBy.set(t, [...(importedBy.get(t) ?? []), file]);
const reaching = new Set();
const walk = [...imports.keys()].filter((f) => opens.test(readFileSync(f, 'utf8').replace('export function openDatabase(', '')));
while (walk.length > 0) {
  const file = walk.pop();
  if (reaching.has(file)) continue;
  reaching.add(file);
  walk.push(...(importedBy.get(file) ?? []));
}
const bringsOwnPostgres = (file) => /\bstartTestPostgres\(/.test(readFileSync(file, 'utf8'));
for (const file of tests) if (reaching.has(file) && !bringsOwnPostgres(file)) console.log(relative(process.cwd(), file));
