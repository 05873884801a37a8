import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateFile, StateFileDamaged, stateDamagedExitCode, type AgentState } from './state.ts';

const serverUrl = 'https://market.example.org';
const state: AgentState = {
  serverUrl,
  registration: { deviceId: 'device1', sshPort: 20000, gateway: { host: 'market.example.org', port: 2222, hostKey: 'ssh-ed25519 AAAA' } },
  rental: { rentalId: 'rental1', containerId: 'c1', expiresAt: null },
  cleanStorageUuid: null,
  lastServerContactAt: '2026-03-02T12:00:00.000Z',
  lostRental: null,
  nodes: [],
  backups: [],
};

test('state.json is written with a backup beside it; either alone is enough to carry on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-state-'));
  const file = new StateFile(dir);
  file.write(state);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')), state);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'state.json.bak'), 'utf8')), state);

  // What a power cut could once leave: an empty state.json. The rental is not forgotten.
  writeFileSync(join(dir, 'state.json'), '');
  const again = new StateFile(dir);
  assert.deepEqual(again.read(serverUrl), state);
  assert.match(again.recoveredFrom ?? '', /state\.json was damaged \(not JSON\); carried on from .*state\.json\.bak/);
  assert.deepEqual(JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')), state, 'state.json is whole again');
});

test('with state.json and its backup damaged the agent stops with what to do, and an exit status systemd does not restart on', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-state-'));
  writeFileSync(join(dir, 'state.json'), '{"serverUrl":');
  writeFileSync(join(dir, 'state.json.bak'), '{"not":"a state"}');
  assert.throws(
    () => new StateFile(dir).read(serverUrl),
    (err: unknown) => {
      assert.ok(err instanceof StateFileDamaged);
      assert.equal(err.exitCode, stateDamagedExitCode);
      assert.equal(stateDamagedExitCode, 78);
      const path = join(dir, 'state.json');
      assert.match(
        err.message,
        new RegExp(
          `^The agent's state file ${path} is damaged \\(not JSON\\) and so is its backup ${path}\\.bak \\(not an agent state\\)\\. ` +
            `The agent cannot tell which rental it runs, so it stops rather than guess\\. To start afresh, move both away \\(mv ${path} ${path}\\.damaged;`,
        ),
      );
      assert.match(err.message, /p2pvps agent init --token-file FILE --force/);
      return true;
    },
  );
});

test('no state at all is a device that has not registered yet', () => {
  const dir = mkdtempSync(join(tmpdir(), 'p2pvps-state-'));
  assert.equal(new StateFile(dir).read(serverUrl).registration, null);
});
