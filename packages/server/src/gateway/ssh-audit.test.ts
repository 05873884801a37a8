import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateEd25519KeyPair } from '@p2pvps/protocol/ssh-keys';
import { acceptedSshAuditWarnings, sshAudit } from '../testing/ssh-audit.ts';
import { TunnelGateway } from './tunnel-gateway.ts';

/**
 * The gateway is the SSH server every device meets: a third-party auditor must find
 * nothing to fail. Stock OpenSSH and the agent's ssh2 client still log in with what is
 * left (tunnel-gateway.test.ts, with both).
 */
test('the gateway passes ssh-audit: no failures, only the named warnings, no compression', async () => {
  const gateway = new TunnelGateway({
    hostKey: generateEd25519KeyPair('gateway@test').private,
    publicBindHost: '127.0.0.1',
    lookupDevice: async () => null,
  });
  try {
    const port = await gateway.listen(0, '127.0.0.1');
    const audit = await sshAudit(port);
    assert.deepEqual(audit.failures, [], audit.output);
    // 0 (good) or 2 (warnings); 3 is a failure, 1 that it could not audit at all.
    assert.ok(audit.code === 0 || audit.code === 2, `ssh-audit exited ${audit.code}\n${audit.output}`);
    assert.deepEqual(
      audit.warnings.filter((w) => !acceptedSshAuditWarnings.includes(w)),
      [],
      audit.output,
    );
    assert.match(audit.output, /\(gen\) compression: disabled/);
    assert.match(audit.output, /\(key\) ssh-ed25519 /);
  } finally {
    await gateway.close();
  }
});
