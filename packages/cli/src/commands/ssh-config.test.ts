import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { createListedDevice, createRenter, createRental, reportContainer, runCli, tempDir } from '../test-harness.ts';
import { hostAlias } from './ssh-config.ts';

/** What stock OpenSSH resolves for `host` from a config file, without connecting. */
function resolvedBy(configFile: string, host: string): Map<string, string> {
  const result = spawnSync('ssh', ['-G', '-F', configFile, host], { encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return new Map(result.stdout.split('\n').map((line) => [line.split(' ')[0] ?? '', line.slice(line.indexOf(' ') + 1)]));
}

test('hostAlias makes a device name one word ssh config accepts', () => {
  assert.equal(hostAlias('garage-pi', 'dev000001'), 'p2pvps-garage-pi');
  assert.equal(hostAlias('Ann’s Pi 4 *spare*', 'dev000001'), 'p2pvps-ann-s-pi-4-spare');
  assert.equal(hostAlias('***', 'dev000001'), 'p2pvps-dev000001');
});

test('rentals --ssh-config prints a Host block per open rental that stock OpenSSH resolves', async () => {
  const renter = await createRenter();
  const garage = await createListedDevice({ name: 'Garage Pi' });
  const rental = await createRental({ renter, device: garage, hours: 2 });
  await reportContainer(garage, { rentalId: rental.id, state: 'ready' });
  const shed = await createListedDevice({ name: 'shed-pi' });
  const other = await createRental({ renter, device: shed });
  const dir = await tempDir();
  const config = join(dir, 'p2pvps dir', 'cli.json');

  const result = await runCli(['rentals', '--ssh-config'], { env: { ...renter.env, P2PVPS_CLI_CONFIG: config } });
  assert.equal(result.code, 0, result.stderr);
  const knownHosts = join(dir, 'p2pvps dir', 'known_hosts.d', rental.id);
  assert.ok(
    result.stdout.includes(
      [
        `# rental ${rental.id} on ${garage.id}`,
        'Host p2pvps-garage-pi',
        '  HostName 127.0.0.1',
        `  Port ${rental.connection.port}`,
        `  User ${rental.connection.username}`,
        `  UserKnownHostsFile "${knownHosts}"`,
        '  StrictHostKeyChecking accept-new',
        '',
      ].join('\n'),
    ),
    result.stdout,
  );
  const file = join(dir, 'ssh_config');
  await writeFile(file, result.stdout);
  const resolved = resolvedBy(file, 'p2pvps-garage-pi');
  assert.equal(resolved.get('hostname'), '127.0.0.1');
  assert.equal(resolved.get('port'), String(rental.connection.port));
  assert.equal(resolved.get('user'), rental.connection.username);
  assert.equal(resolved.get('userknownhostsfile'), knownHosts);
  assert.equal(resolved.get('stricthostkeychecking'), 'accept-new');
  assert.equal(resolvedBy(file, 'p2pvps-shed-pi').get('port'), String(other.connection.port));
});

test('rentals --ssh-config with no open rentals says so and prints no config', async () => {
  const result = await runCli(['rentals', '--ssh-config'], { env: (await createRenter()).env });
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, 'You have no open rentals; there is nothing to connect to.\n');
});
