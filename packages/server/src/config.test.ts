import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '@p2pvps/protocol/options';
import { loadServerConfig } from './config.ts';

test('embedded defaults start a local marketplace', () => {
  const c = loadServerConfig([], {});
  assert.equal(c.httpPort, 8080);
  assert.deepEqual(c.sshPortRange, [20000, 20999]);
  assert.equal(c.databaseUrl, 'sqlite:.data/server/p2pvps.sqlite');
  assert.equal(c.publicUrl, 'http://127.0.0.1:8080');
  assert.equal(c.currency, 'USD');
});

test('a port range inside the ephemeral range is refused, with every other problem at once', () => {
  assert.throws(
    () =>
      loadServerConfig(['--ssh-port-range', '40000-40100', '--http-port', '99999'], {
        P2PVPS_CURRENCY: 'dollars',
        P2PVPS_DATABASE_URL: 'mysql://x',
      }),
    (err: unknown) => {
      assert.ok(err instanceof OptionsError);
      const text = err.problems.join('\n');
      assert.match(text, /ssh-port-range.*ephemeral range 32768-60999/);
      assert.match(text, /--http-port/);
      assert.match(text, /--currency.*three-letter/);
      assert.match(text, /--database-url.*sqlite:PATH/);
      assert.equal(err.problems.length, 4);
      return true;
    },
  );
});

test('derived defaults follow the options they come from', () => {
  const c = loadServerConfig(['--data-dir', '/srv/p2pvps', '--ssh-host', 'vps.example.org', '--http-port', '9000'], {});
  assert.equal(c.databaseUrl, 'sqlite:/srv/p2pvps/p2pvps.sqlite');
  assert.equal(c.publicUrl, 'http://vps.example.org:9000');
});
