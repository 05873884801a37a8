import type { Rental } from '@p2pvps/protocol/schemas';
import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { ErrorText, Field, submitWith, useAction } from '../ui.tsx';

/**
 * Renter-held encryption on the dashboard (docs/encryption.md): the rent dialog's choice, and
 * on a rental, whether its storage is encrypted and, when its device restarted, the form
 * that sends the secret again. The secret goes to the server in the request only.
 */

/** The rent dialog's part: a checkbox, and the secret when it is ticked. */
export function EncryptChoice({
  secret,
  onSecret,
  problem,
}: {
  secret: string | null;
  onSecret: (s: string | null) => void;
  problem: Parameters<typeof Field>[0]['problem'];
}) {
  return (
    <fieldset>
      <legend>Storage</legend>
      <label>
        <input type="checkbox" name="encrypt" checked={secret !== null} onChange={(e) => onSecret(e.currentTarget.checked ? '' : null)} />{' '}
        Encrypt my storage with a secret only I hold
      </label>
      {secret !== null && (
        <Field
          label="Storage secret"
          name="encryptionKey"
          type="password"
          autoComplete="new-password"
          minLength={12}
          required
          value={secret}
          onInput={(e) => onSecret(e.currentTarget.value)}
          problem={problem}
          hint="At least 12 characters. Keep it: nobody can recover it, and you need it again after the device restarts."
        />
      )}
    </fieldset>
  );
}

/** On a rental card: encrypted or not, and the unlock form while locked. */
export function RentalStorage({ rental: r, onChanged }: { rental: Rental; onChanged: () => void }) {
  const { api } = useSession();
  const [secret, setSecret] = useState('');
  const unlock = useAction(async () => {
    await api.call('unlockRental', { params: { rentalId: r.id }, body: { key: secret } });
    setSecret('');
    onChanged();
  });
  if (!r.encrypted) return null;
  return (
    <>
      <dt>Storage</dt>
      <dd>
        {r.storageLocked ? (
          <form onSubmit={submitWith(unlock)}>
            <p class="warning">Locked: {r.storageLocked}</p>
            <Field
              label="Storage secret"
              name="key"
              type="password"
              autoComplete="current-password"
              value={secret}
              onInput={(e) => setSecret(e.currentTarget.value)}
              problem={unlock.problem}
            />
            <ErrorText problem={unlock.problem} />
            <button type="submit" disabled={unlock.busy}>
              Unlock
            </button>
          </form>
        ) : (
          'Encrypted with your secret'
        )}
      </dd>
    </>
  );
}
