import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Rental } from '@p2pvps/protocol/schemas';
import { runCli, tempDir } from '../test-harness.ts';
import { fallbacksDir, findFallbacks, rememberFallbacks } from './rental-fallbacks.ts';

/**
 * A renter whose server is down still reaches their running rental through the backup
 * server that server named while it was up (docs/federation.md). That the backup really
 * serves the rental is proven end to end in e2e/federation-failover.test.ts.
 */
const rental = {
  id: 'rent00000001',
  deviceId: 'dev000000001',
  deviceName: 'garage-pi',
  state: 'active',
  connection: { host: 'b.example', port: 20010, username: 'u_k3j9', password: 'secret', sshKeyGiven: true },
  fallbacks: [{ server: 'https://c.example', ssh: { host: 'c.example', port: 20999 }, webHost: 'quiet-fox.c.example' }],
} as unknown as Rental;

test('the fallbacks are kept beside the config, without the password, and found by rental ID or device', async () => {
  const config = join(await tempDir(), 'cli.json');
  rememberFallbacks(config, rental);
  const file = join(fallbacksDir(config), `${rental.id}.json`);
  assert.equal((await stat(file)).mode & 0o777, 0o600);
  assert.ok(!(await readFile(file, 'utf8')).includes('secret'), 'no password is kept');
  for (const which of [rental.id, 'garage-pi', rental.deviceId]) assert.equal(findFallbacks(config, which)?.fallbacks[0]?.ssh.port, 20999);
  assert.equal(findFallbacks(config, 'shed-pi'), undefined);
  rememberFallbacks(config, { ...rental, id: 'rent00000002', fallbacks: [] } as Rental);
  assert.equal(findFallbacks(config, 'rent00000002'), undefined, 'a rental without fallbacks is not kept');
});

test("ssh RENTAL goes to the rental's backup when its server cannot be reached", async () => {
  const dir = await tempDir();
  const config = join(dir, 'cli.json');
  rememberFallbacks(config, rental);
  const program = join(dir, 'ssh');
  await writeFile(program, `#!/bin/sh\nprintf '%s\\n' "$@" > '${dir}/args'\n`, { mode: 0o700 });
  const result = await runCli(['ssh', 'garage-pi', '--', 'true'], {
    offline: true,
    env: { P2PVPS_TOKEN: 'p2p_test', P2PVPS_CLI_CONFIG: config, P2PVPS_SSH: program },
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, /Trying rental rent00000001 through its backup server https:\/\/c\.example \(c\.example:20999\)/);
  const args = (await readFile(join(dir, 'args'), 'utf8')).split('\n').slice(0, -1);
  assert.deepEqual(args.slice(0, 2), ['-p', '20999']);
  assert.deepEqual(args.slice(-3), ['--', 'u_k3j9@c.example', 'true']);

  const unknown = await runCli(['ssh', 'shed-pi'], {
    offline: true,
    env: { P2PVPS_TOKEN: 'p2p_test', P2PVPS_CLI_CONFIG: config, P2PVPS_SSH: program },
  });
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /server_unreachable/);
});
