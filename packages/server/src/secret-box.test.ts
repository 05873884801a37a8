import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSecretBox, secretBoxKeyFile } from './secret-box.ts';

test('the key file is made once, 32 random bytes, mode 0600, and opens what it sealed after a restart', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-secret-box-'));
  try {
    const box = loadSecretBox(dir);
    const path = join(dir, secretBoxKeyFile);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readFileSync(path).length, 32);
    const sealed = box.seal('hunter2hunter2', 'rental1');
    assert.ok(!sealed.includes('hunter2'));
    assert.notEqual(box.seal('hunter2hunter2', 'rental1'), sealed, 'a fresh nonce each time');
    // A restart reads the same key.
    const again = loadSecretBox(dir);
    assert.equal(again.open(sealed, 'rental1'), 'hunter2hunter2');
    assert.throws(() => again.open(sealed, 'rental2'), 'bound to its context');
    const tampered = sealed.slice(0, -2) + (sealed.endsWith('A') ? 'BB' : 'AA');
    assert.throws(() => again.open(tampered, 'rental1'), 'tampering is detected');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('another key does not open it, and a damaged key file stops the server with a way out', () => {
  const a = mkdtempSync(join(tmpdir(), 'p2pvps-secret-box-'));
  const b = mkdtempSync(join(tmpdir(), 'p2pvps-secret-box-'));
  try {
    const sealed = loadSecretBox(a).seal('secret', 'r');
    assert.throws(() => loadSecretBox(b).open(sealed, 'r'));
    writeFileSync(join(b, secretBoxKeyFile), 'short');
    assert.throws(() => loadSecretBox(b), /must hold exactly 32 bytes .* restore it from a backup/);
  } finally {
    rmSync(a, { recursive: true, force: true });
    rmSync(b, { recursive: true, force: true });
  }
});
