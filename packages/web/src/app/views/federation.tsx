import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { CopyButton, DataTable, ErrorText, Field, FormError, Time, useAction, useLoad } from '../ui.tsx';

/**
 * The operator's federation panel: this server's key fingerprint (to give to peers'
 * operators), the linked peers with their state, and a form to link one by URL and fingerprint.
 */
export function FederationPanel() {
  const { api } = useSession();
  const overview = useLoad(() => api.call('adminFederation'), []);
  const [url, setUrl] = useState('');
  const [fingerprint, setFingerprint] = useState('');
  const link = useAction(async () => {
    await api.call('adminLinkPeer', { body: { url, fingerprint } });
    setUrl('');
    setFingerprint('');
    overview.refresh();
  });
  const setState = useAction(async (peerId: string, state: 'active' | 'suspended') => {
    await api.call('adminUpdatePeer', { params: { peerId }, body: { state } });
    overview.refresh();
  });
  const identity = overview.data?.identity;
  return (
    <section aria-labelledby="federation-title">
      <h2 id="federation-title">Federation</h2>
      <ErrorText problem={overview.problem} />
      {identity && (
        <dl>
          <dt>This server</dt>
          <dd>
            {identity.name} ({identity.url})
          </dd>
          <dt>Key fingerprint</dt>
          <dd>
            <code data-testid="federation-fingerprint">{identity.fingerprint}</code>{' '}
            <CopyButton text={identity.fingerprint} label="Copy fingerprint" />
          </dd>
          <dt>Published at</dt>
          <dd>{identity.wellKnownUrl}</dd>
        </dl>
      )}
      <DataTable
        columns={['Peer', 'URL', 'State', { label: 'Fee', num: true }, { label: 'Listings', num: true }, 'Last sync', 'Fingerprint', '']}
        rows={overview.data?.peers ?? []}
        keyOf={(p) => p.id}
        cells={(p) => [
          p.name,
          p.url,
          p.lastError ? `${p.state} (${p.lastError})` : p.state,
          p.feePercent === null ? '—' : `${p.feePercent}%`,
          p.listings,
          <Time iso={p.lastSyncAt} />,
          <code>{p.fingerprint}</code>,
          <button
            type="button"
            class="secondary"
            disabled={setState.busy}
            onClick={() => void setState.run(p.id, p.state === 'active' ? 'suspended' : 'active')}
          >
            {p.state === 'active' ? 'Suspend' : 'Resume'}
          </button>,
        ]}
      />
      <FormError problem={setState.problem} />
      <form
        class="inline"
        aria-label="Link a peer"
        onSubmit={(e) => {
          e.preventDefault();
          void link.run();
        }}
      >
        <Field label="Peer URL" name="url" value={url} onInput={(e) => setUrl(e.currentTarget.value)} problem={link.problem} />
        <Field
          label="Its key fingerprint"
          name="fingerprint"
          value={fingerprint}
          onInput={(e) => setFingerprint(e.currentTarget.value)}
          problem={link.problem}
        />
        <button type="submit" disabled={link.busy}>
          Link peer
        </button>
        <FormError problem={link.problem} />
      </form>
    </section>
  );
}
