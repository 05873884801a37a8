import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('../../../', import.meta.url).pathname;
const architecture = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');

/** The paths the folder tree names: each entry is relative to the nearest entry above it that is indented less. */
function treePaths(doc: string): string[] {
  const block = /## Folder tree\s+```\n([\s\S]*?)```/.exec(doc);
  assert.ok(block, 'docs/ARCHITECTURE.md has a folder tree in a code block under "## Folder tree"');
  const parents: { indent: number; path: string }[] = [];
  const paths: string[] = [];
  for (const line of block[1]!.split('\n')) {
    const m = /^( *)(\S+)/.exec(line);
    if (!m) continue;
    const indent = m[1]!.length;
    const name = m[2]!;
    // Continuation lines of a description start in the description column and are prose.
    if (indent >= 12 || !/^[\w.@-]+(\/[\w.@-]+)*\/?(,|$)/.test(name) || (!name.includes('/') && !name.includes('.'))) continue;
    while (parents.length > 0 && parents[parents.length - 1]!.indent >= indent) parents.pop();
    const parent = parents[parents.length - 1];
    const clean = name.replace(/,$/, '');
    const path = parent ? join(parent.path, clean) : clean;
    paths.push(path);
    if (clean.endsWith('/')) parents.push({ indent, path });
  }
  return paths;
}

/** Directories a short path in the prose (`domain/money/holds.ts`) may be relative to. */
function proseRoots(): string[] {
  const roots = [root, join(root, 'packages')];
  for (const pkg of readdirSync(join(root, 'packages'))) {
    roots.push(join(root, 'packages', pkg), join(root, 'packages', pkg, 'src'));
    const src = join(root, 'packages', pkg, 'src');
    if (existsSync(src)) {
      for (const entry of readdirSync(src, { withFileTypes: true })) if (entry.isDirectory()) roots.push(join(src, entry.name));
    }
  }
  return roots;
}

test('every path in the folder tree of docs/ARCHITECTURE.md exists', () => {
  const paths = treePaths(architecture);
  assert.ok(paths.length > 30, `the tree names ${paths.length} paths`);
  const missing = paths.filter((path) => !existsSync(join(root, path)));
  assert.deepEqual(missing, [], `docs/ARCHITECTURE.md names paths that do not exist: ${missing.join(', ')}`);
});

test('every file path (with a folder) in backticks in docs/ARCHITECTURE.md exists', () => {
  const roots = proseRoots();
  const named = new Set(
    [...architecture.matchAll(/`([\w.@-]+(?:\/[\w.@-]+)+\.(?:ts|tsx|sh|md|json|css|service|mjs))`/g)].map((m) => m[1]!),
  );
  assert.ok(named.size > 20, `the prose names ${named.size} files`);
  const missing = [...named].filter((path) => !roots.some((dir) => existsSync(join(dir, path))));
  assert.deepEqual(missing, [], `docs/ARCHITECTURE.md names files that do not exist: ${missing.join(', ')}`);
});

test('the repository stands alone: no tracked file points outside it into ../shared', () => {
  const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
  const offenders = files.filter((file) => {
    if (file === 'packages/protocol/src/architecture-doc.test.ts' || file.endsWith('.png')) return false;
    if (!existsSync(join(root, file))) return false;
    return readFileSync(join(root, file), 'utf8').includes('../shared');
  });
  assert.deepEqual(offenders, [], `these files point into ../shared: ${offenders.join(', ')}`);
});
