import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionsError } from '@p2pvps/protocol/options';
import { loadServerConfig } from '../config.ts';

const problemsOf = (argv: string[]): string[] => {
  try {
    loadServerConfig(argv, {});
    return [];
  } catch (err) {
    assert.ok(err instanceof OptionsError);
    return err.problems;
  }
};

test('certificate settings that cannot work are refused at start, each with what to do', () => {
  assert.match(problemsOf(['--tls-cert', '/etc/ssl/cert.pem']).join('\n'), /give both, the certificate and its key/);
  const acme = ['--acme-directory-url', 'https://acme.example/dir'];
  assert.match(problemsOf(acme).join('\n'), /needs an https --public-url/);
  assert.match(problemsOf([...acme, '--public-url', 'https://203.0.113.5']).join('\n'), /not a DNS name an ACME CA can check/);
  assert.match(problemsOf([...acme, '--public-url', 'https://market.localhost']).join('\n'), /not a DNS name/);
  assert.match(
    problemsOf([...acme, '--public-url', 'https://vps.example.org', '--tls-cert', 'c', '--tls-key', 'k']).join('\n'),
    /choose files or ACME/,
  );
  assert.deepEqual(problemsOf([...acme, '--public-url', 'https://vps.example.org']), []);
  assert.deepEqual(problemsOf(['--tls-cert', 'c', '--tls-key', 'k']), []);
});
