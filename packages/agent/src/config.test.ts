import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OptionsError } from '@p2pvps/protocol/options';
import { loadAgentConfig } from './config.ts';

function configFile(content: unknown): string {
  const path = join(mkdtempSync(join(tmpdir(), 'p2pvps-agentcfg-')), 'device-config.json');
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

test('device-config.json supplies options; environment beats it; flags beat both', () => {
  const path = configFile({ serverUrl: 'https://market.example.org', enrolmentToken: 'p2pe_x', dataDir: '/var/lib/a', memoryMb: 256 });
  const c = loadAgentConfig(['--config', path, '--memory-mb', '1024'], {
    P2PVPS_AGENT_DATA_DIR: '/tmp/b',
    P2PVPS_CONTAINER_MEMORY_MB: '512',
  });
  assert.equal(c.serverUrl, 'https://market.example.org');
  assert.equal(c.enrolmentToken, 'p2pe_x');
  assert.equal(c.dataDir, '/tmp/b');
  assert.equal(c.memoryMb, 1024);
  assert.equal(c.containerNetwork, 'bridge', 'bridge networking is the production default');
  assert.equal(c.configFile, path);
});

test('every problem is reported, including unknown keys, and a missing file says how to write one', () => {
  const path = configFile({ serverUrl: 'not a url', cpus: -1, colour: 'blue' });
  assert.throws(
    () => loadAgentConfig(['--config', path], {}),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      const text = err.problems.join('\n');
      assert.match(text, /--server \/ P2PVPS_SERVER_URL: must be a URL/);
      assert.match(text, /--cpus/);
      assert.match(text, /unknown key "colour"/);
      return true;
    },
  );
  assert.throws(
    () => loadAgentConfig(['--config', '/nonexistent/device-config.json'], {}),
    /p2pvps agent init --server URL --token-file FILE/,
  );
});

test('a config file that is not JSON is named in the error', () => {
  const path = configFile('{ nope');
  assert.throws(() => loadAgentConfig(['--config', path], {}), new RegExp(`${path} is not a JSON object`));
});

test('storage is an object in device-config.json or JSON in the environment; the image file is the default', () => {
  const base = { serverUrl: 'https://market.example.org' };
  assert.deepEqual(loadAgentConfig(['--config', configFile(base)], {}).storage, { kind: 'image', sizeMiB: 4096 });
  assert.equal(loadAgentConfig(['--config', configFile(base)], {}).wipe, 'discard');
  const usb = configFile({ ...base, storage: { kind: 'block', device: 'auto', allowFormat: true }, wipe: 'overwrite' });
  const c = loadAgentConfig(['--config', usb], {});
  assert.deepEqual(c.storage, { kind: 'block', device: 'auto', allowFormat: true });
  assert.equal(c.wipe, 'overwrite');
  const env = loadAgentConfig(['--config', usb], { P2PVPS_STORAGE: '{"kind":"image","sizeMiB":64,"path":"/srv/renter.img"}' });
  assert.deepEqual(env.storage, { kind: 'image', sizeMiB: 64, path: '/srv/renter.img' });
  assert.equal(
    loadAgentConfig(['--config', configFile({ ...base, storage: { kind: 'block', device: '/dev/sdb' } })], {}).storage.kind,
    'block',
  );
  const noFormat = loadAgentConfig(['--config', configFile({ ...base, storage: { kind: 'block', device: '/dev/sdb' } })], {}).storage;
  assert.equal(noFormat.kind === 'block' && noFormat.allowFormat, false, 'formatting a disk is never the default');
});

test('every problem with storage is named', () => {
  const path = configFile({
    serverUrl: 'https://market.example.org',
    storage: { kind: 'block', device: 'sdb', allowformat: true },
    wipe: 'shred',
  });
  assert.throws(
    () => loadAgentConfig(['--config', path], {}),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      const text = err.problems.join('\n');
      assert.match(text, /--storage \/ P2PVPS_STORAGE: device: must be "auto" or a path under \/dev; .*"allowformat"/);
      assert.match(text, /--wipe/);
      return true;
    },
  );
  assert.throws(
    () => loadAgentConfig(['--config', path], { P2PVPS_STORAGE: '{ nope' }),
    /--storage \/ P2PVPS_STORAGE: must be a JSON object/,
  );
});

test('the isolation allow-list: an array in device-config.json, a list in the environment; bandwidth caps off by default', () => {
  const path = configFile({ serverUrl: 'https://m.example.org', allowNetworks: ['192.168.1.20', '10.8.0.0/16', 'fd12::/64'] });
  const c = loadAgentConfig(['--config', path], {});
  assert.deepEqual(c.allowNetworks, ['192.168.1.20/32', '10.8.0.0/16', 'fd12::/64']);
  assert.equal(c.uploadMbit, 0);
  assert.equal(c.downloadMbit, 0);
  const e = loadAgentConfig(['--config', path], { P2PVPS_ALLOW_NETWORKS: '192.168.1.30,192.168.2.0/24', P2PVPS_UPLOAD_MBIT: '2.5' });
  assert.deepEqual(e.allowNetworks, ['192.168.1.30/32', '192.168.2.0/24']);
  assert.equal(e.uploadMbit, 2.5);
  assert.deepEqual(loadAgentConfig(['--config', configFile({ serverUrl: 'https://m.example.org' })], {}).allowNetworks, []);
});

test('a bad allow-list entry or a negative cap is named', () => {
  const path = configFile({ serverUrl: 'https://m.example.org', allowNetworks: ['192.168.1.20', 'router.lan'], downloadMbit: -1 });
  assert.throws(
    () => loadAgentConfig(['--config', path], {}),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      const text = err.problems.join('\n');
      assert.match(text, /allow-networks.*"router\.lan": not an IP address or CIDR range/);
      assert.match(text, /download-mbit.*must be 0 \(no cap\) or more/);
      return true;
    },
  );
});

test('a plain http server URL is refused unless it is loopback or insecureHttp says so; a token on the command line is refused', () => {
  const plain = configFile({ serverUrl: 'http://market.example.org' });
  assert.throws(
    () => loadAgentConfig(['--config', plain], {}),
    /serverUrl: http:\/\/market\.example\.org is plain http to another machine: passwords, tokens and renters' credentials would cross the network unencrypted\. Use the server's https:\/\/ URL, or pass --insecure-http/,
  );
  assert.equal(loadAgentConfig(['--config', plain, '--insecure-http', 'true'], {}).insecureHttp, true);
  assert.equal(
    loadAgentConfig(['--config', configFile({ serverUrl: 'http://market.example.org', insecureHttp: true })], {}).insecureHttp,
    true,
  );
  for (const url of ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://[::1]:8080', 'http://127.9.9.9'])
    assert.equal(loadAgentConfig(['--config', configFile({ serverUrl: url })], {}).serverUrl, url);
  assert.throws(() => loadAgentConfig(['--config', configFile({ serverUrl: 'http://10.0.0.1' })], {}), /plain http to another machine/);
  assert.throws(
    () => loadAgentConfig(['--config', configFile({ serverUrl: 'https://market.example.org' }), '--token', 'p2pe_secret'], {}),
    /--token would show the enrolment token to every user of this machine/,
  );
});

test('runtime is runc unless the owner chooses runsc (gVisor); anything else is refused', () => {
  const path = configFile({ serverUrl: 'https://market.example.org' });
  assert.equal(loadAgentConfig(['--config', path], {}).runtime, 'runc');
  assert.equal(
    loadAgentConfig(['--config', configFile({ serverUrl: 'https://market.example.org', runtime: 'runsc' })], {}).runtime,
    'runsc',
  );
  assert.throws(
    () => loadAgentConfig(['--config', path], { P2PVPS_CONTAINER_RUNTIME: 'kata' }),
    (err: unknown) => err instanceof OptionsError && /--runtime \/ P2PVPS_CONTAINER_RUNTIME: .*runc.*runsc/.test(err.problems.join('\n')),
  );
});
