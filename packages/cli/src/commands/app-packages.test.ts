import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createListedDevice, createOwner, createRenter, runCli } from '../test-harness.ts';

test('packages lists the catalogue with what each serves and its settings with their defaults', async () => {
  const renter = await createRenter();
  const result = await runCli(['packages'], { env: renter.env });
  assert.equal(result.code, 0, result.stderr);
  for (const name of ['git-server', 'static-site', 'tor-onion', 'wiki', 'wireguard'])
    assert.match(result.stdout, new RegExp(`^${name} `, 'm'));
  assert.match(result.stdout, /^wireguard +ssh +/m);
  assert.match(result.stdout, /wiki settings \(--set KEY=VALUE\):\n {2}WIKI_TITLE {2}The wiki's title\. Default: My wiki\n/);
});

test('devices packages --refuse takes a device out of that package’s market; --allow-all puts it back; both at once is a usage error', async () => {
  const owner = await createOwner();
  const device = await createListedDevice({ owner, name: 'home-pi' });
  const renter = await createRenter();
  const market = async (name: string) => (await runCli(['market', '--package', name, '--json'], { env: renter.env })).stdout;

  const refused = await runCli(['devices', 'packages', 'home-pi', '--refuse', 'tor-onion, wireguard'], { env: owner.env });
  assert.equal(refused.code, 0, refused.stderr);
  assert.equal(refused.stdout, 'home-pi refuses the packages tor-onion, wireguard; renters may rent it with any other.\n');
  assert.doesNotMatch(await market('tor-onion'), new RegExp(device.id));
  assert.match(await market('wiki'), new RegExp(device.id));

  const shown = await runCli(['devices', 'packages', 'home-pi'], { env: owner.env });
  assert.equal(shown.stdout, refused.stdout, 'without a flag it shows what is refused');

  const allowed = await runCli(['devices', 'packages', 'home-pi', '--allow-all'], { env: owner.env });
  assert.equal(allowed.stdout, 'home-pi allows every deployment package.\n');
  assert.match(await market('tor-onion'), new RegExp(device.id));

  const both = await runCli(['devices', 'packages', 'home-pi', '--refuse', 'wiki', '--allow-all'], { env: owner.env });
  assert.equal(both.code, 2);
  assert.match(both.stderr, /give --refuse or --allow-all, not both/);
});
