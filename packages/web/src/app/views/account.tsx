import { formatMoney } from '@p2pvps/protocol/money';
import type { DepositAddress } from '@p2pvps/protocol/schemas';
import { useEffect, useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { statementCsvPath } from '@p2pvps/protocol/routes';
import { BrowserSessions, EmailUnverified } from './sessions.tsx';
import { DataTable, ErrorText, Field, FormError, MoreButton, moneyValue, submitWith, Time, useAction, useLoad, usePaged } from '../ui.tsx';

export function AccountView() {
  return (
    <section>
      <h1>Account</h1>
      <EmailUnverified />
      <Balance />
      <TopUp />
      <Payouts />
      <Statement />
      <MailSettings />
      <SshKeys />
      <ApiTokens />
      <BrowserSessions />
      <PasswordChange />
    </section>
  );
}

function Balance() {
  const { api, version } = useSession();
  const balance = useLoad(() => api.call('getBalance'), [version]);
  return (
    <section aria-labelledby="balance-title">
      <h2 id="balance-title">Balance</h2>
      <ErrorText problem={balance.problem} />
      {balance.data && (
        <dl>
          <dt>For renting</dt>
          <dd id="balance">{formatMoney(balance.data.balanceMicros, balance.data.currency)}</dd>
          <dt>Earned by your devices</dt>
          <dd id="earnings">{formatMoney(balance.data.earningsMicros, balance.data.currency)}</dd>
        </dl>
      )}
    </section>
  );
}

function TopUp() {
  const { api, server } = useSession();
  const rails = useLoad(() => api.call('topUpRails'), []);
  const [amount, setAmount] = useState('10');
  const [address, setAddress] = useState<DepositAddress | null>(null);
  const paypal = useAction(async () => {
    const started = await api.call('startPayPalTopUp', { body: { amountMicros: moneyValue(amount, 'amountMicros') } });
    location.assign(started.approveUrl);
  });
  const chain = useAction(async (rail: 'ethereum' | 'bitcoin') => {
    setAddress(await api.call(rail === 'ethereum' ? 'ethereumDepositAddress' : 'bitcoinDepositAddress'));
  });
  const names = rails.data?.rails.map((r) => r.name) ?? [];
  return (
    <section aria-labelledby="topup-title">
      <h2 id="topup-title">Top up</h2>
      {names.length <= 1 && <p>This server takes no outside payments yet: ask the operator for credit.</p>}
      {names.includes('paypal') && (
        <form class="inline" onSubmit={submitWith(paypal)}>
          <Field
            label={`Amount (${server.currency})`}
            name="amountMicros"
            inputMode="decimal"
            value={amount}
            onInput={(e) => setAmount(e.currentTarget.value)}
            problem={paypal.problem}
          />
          <button type="submit" disabled={paypal.busy}>
            Pay with PayPal
          </button>
        </form>
      )}
      <FormError problem={paypal.problem} />
      {(['ethereum', 'bitcoin'] as const)
        .filter((r) => names.includes(r))
        .map((r) => (
          <button key={r} type="button" class="secondary" onClick={() => void chain.run(r)}>
            Top up by {r === 'ethereum' ? 'Ethereum' : 'Bitcoin'}: my deposit address
          </button>
        ))}
      <ErrorText problem={chain.problem} />
      {address && (
        <p>
          Send to <code>{address.address}</code> ({address.chain}); credited after {address.confirmations} confirmations at{' '}
          {address.coins
            .map((c) => (c.unavailable ? `no ${c.symbol} now (${c.unavailable})` : `${c.rate} ${server.currency} per ${c.symbol}`))
            .join(', ')}
          .
          {address.watchedUntil &&
            ` Payments are looked for until ${address.watchedUntil.slice(0, 16).replace('T', ' ')} UTC; paying later, ask for the address again first.`}
        </p>
      )}
    </section>
  );
}

function Payouts() {
  const { api, version, server } = useSession();
  const payouts = useLoad(() => api.call('listPayouts'), [version]);
  const [amount, setAmount] = useState('');
  const [to, setTo] = useState('');
  const request = useAction(async () => {
    await api.call('requestPayout', { body: { amountMicros: moneyValue(amount, 'amountMicros'), destination: to } });
    setAmount('');
    payouts.refresh();
  });
  const cancel = useAction(async (id: string) => {
    await api.call('cancelPayout', { params: { payoutId: id }, body: {} });
    payouts.refresh();
  });
  return (
    <section aria-labelledby="payouts-title">
      <h2 id="payouts-title">Payouts</h2>
      <form class="inline" onSubmit={submitWith(request)}>
        <Field
          label={`Amount (${server.currency})`}
          name="amountMicros"
          inputMode="decimal"
          value={amount}
          onInput={(e) => setAmount(e.currentTarget.value)}
          problem={request.problem}
        />
        <Field
          label="Pay to"
          name="destination"
          placeholder="PayPal email, account or address"
          value={to}
          onInput={(e) => setTo(e.currentTarget.value)}
          problem={request.problem}
        />
        <button type="submit" disabled={request.busy}>
          Request payout
        </button>
      </form>
      <FormError problem={request.problem} />
      <ErrorText problem={cancel.problem} />
      {payouts.data && payouts.data.payouts.length > 0 && (
        <DataTable
          columns={['Requested', 'Amount', 'To', 'State', '']}
          rows={payouts.data.payouts}
          keyOf={(p) => p.id}
          cells={(p) => [
            <Time iso={p.requestedAt} />,
            formatMoney(p.amountMicros, p.currency),
            p.destination,
            p.state === 'paid' ? `paid by ${p.rail} (${p.reference})` : p.state === 'processing' ? 'being paid' : p.state,
            p.state === 'requested' && (
              <button type="button" class="secondary" onClick={() => void cancel.run(p.id)}>
                Cancel
              </button>
            ),
          ]}
        />
      )}
    </section>
  );
}

/**
 * The newest movements, 50 at a time. The statement grows by a line a minute per rental,
 * so it is not reloaded on every live update: it reloads when asked, and every 5 minutes.
 */
function Statement() {
  const { api } = useSession();
  const [tick, setTick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => setTick((t) => t + 1), 5 * 60_000);
    return () => clearInterval(timer);
  }, []);
  const statement = usePaged(
    async (cursor) => {
      const page = await api.call('getStatement', { query: { order: 'desc', limit: 50, ...(cursor ? { cursor } : {}) } });
      return { items: page.lines.map((l) => ({ ...l, currency: page.currency })), next: page.next };
    },
    [tick],
  );
  const lines = statement.items ?? [];
  return (
    <section aria-labelledby="statement-title">
      <h2 id="statement-title">Statement</h2>
      <a class="button secondary" href={statementCsvPath} download="p2pvps-statement.csv">
        Download CSV
      </a>{' '}
      <button type="button" class="secondary" onClick={() => setTick((t) => t + 1)}>
        Refresh
      </button>
      <ErrorText problem={statement.problem} />
      {statement.items && lines.length === 0 && <p>Nothing yet: no top-ups, charges or earnings.</p>}
      {lines.length > 0 && (
        <DataTable
          caption="The newest movements first; the CSV has them all."
          columns={['Time', 'Account', 'What', { label: 'Amount', num: true }]}
          rows={lines}
          keyOf={(_, i) => i}
          cells={(l) => [
            <Time iso={l.at} />,
            l.account.replace('renter_balance', 'balance').replace('owner_earnings', 'earnings').replace('rental_hold', 'prepaid'),
            l.memo,
            formatMoney(l.amountMicros, l.currency),
          ]}
        />
      )}
      <MoreButton list={statement} label="Older movements" />
    </section>
  );
}

function SshKeys() {
  const { api } = useSession();
  const keys = useLoad(() => api.call('listSshKeys'), []);
  const [name, setName] = useState('');
  const [publicKey, setPublicKey] = useState('');
  const add = useAction(async () => {
    await api.call('addSshKey', { body: { name, publicKey } });
    setName('');
    setPublicKey('');
    keys.refresh();
  });
  const remove = useAction(async (id: string) => {
    await api.call('removeSshKey', { params: { keyId: id }, body: {} });
    keys.refresh();
  });
  return (
    <section aria-labelledby="keys-title">
      <h2 id="keys-title">SSH keys</h2>
      <p>Public keys you can pick when renting, so you log in without a password.</p>
      <ul>
        {keys.data?.keys.map((k) => (
          <li key={k.id}>
            {k.name} <code>{k.fingerprint}</code>{' '}
            <button type="button" class="secondary" onClick={() => void remove.run(k.id)} aria-label={`Remove key ${k.name}`}>
              Remove
            </button>
          </li>
        ))}
      </ul>
      <ErrorText problem={remove.problem} />
      <form onSubmit={submitWith(add)}>
        <Field
          label="Key name"
          name="name"
          placeholder="laptop"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          problem={add.problem}
        />
        <Field label="Public key" name="publicKey" controlId="new-public-key" problem={add.problem}>
          <textarea
            id="new-public-key"
            rows={3}
            placeholder="ssh-ed25519 AAAA… you@laptop"
            value={publicKey}
            onInput={(e) => setPublicKey(e.currentTarget.value)}
          />
        </Field>
        <FormError problem={add.problem} />
        <button type="submit" disabled={add.busy}>
          Save key
        </button>
      </form>
    </section>
  );
}

function ApiTokens() {
  const { api } = useSession();
  const tokens = useLoad(() => api.call('listApiTokens'), []);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<string | null>(null);
  const create = useAction(async () => {
    const t = await api.call('createApiToken', { body: { name } });
    setCreated(t.token);
    setName('');
    tokens.refresh();
  });
  const revoke = useAction(async (id: string) => {
    await api.call('revokeApiToken', { params: { tokenId: id }, body: {} });
    tokens.refresh();
  });
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">API tokens</h2>
      <p>For the p2pvps command-line tool and scripts (P2PVPS_TOKEN). A token is shown once, when it is made.</p>
      <ul>
        {tokens.data?.tokens.map((t) => (
          <li key={t.id}>
            {t.name}, made <Time iso={t.createdAt} />{' '}
            <button type="button" class="secondary" onClick={() => void revoke.run(t.id)} aria-label={`Revoke token ${t.name}`}>
              Revoke
            </button>
          </li>
        ))}
      </ul>
      <ErrorText problem={revoke.problem} />
      {created && (
        <p role="status">
          Your new token (copy it now; it is not shown again): <code id="new-token">{created}</code>
        </p>
      )}
      <form class="inline" onSubmit={submitWith(create)}>
        <Field
          label="Token name"
          name="name"
          placeholder="laptop CLI"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          problem={create.problem}
        />
        <button type="submit" disabled={create.busy}>
          Create token
        </button>
      </form>
    </section>
  );
}

function PasswordChange() {
  const { api } = useSession();
  const [currentPassword, setCurrent] = useState('');
  const [newPassword, setNew] = useState('');
  const [done, setDone] = useState(false);
  const change = useAction(async () => {
    await api.call('changePassword', { body: { currentPassword, newPassword } });
    setCurrent('');
    setNew('');
    setDone(true);
  });
  return (
    <section aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setDone(false);
          void change.run();
        }}
      >
        <Field
          label="Current password"
          name="currentPassword"
          type="password"
          autoComplete="current-password"
          value={currentPassword}
          onInput={(e) => setCurrent(e.currentTarget.value)}
          problem={change.problem}
        />
        <Field
          label="New password"
          name="newPassword"
          type="password"
          autoComplete="new-password"
          hint="At least 10 characters."
          value={newPassword}
          onInput={(e) => setNew(e.currentTarget.value)}
          problem={change.problem}
        />
        <FormError problem={change.problem} />
        {done && <p role="status">Password changed. Your other sessions and API tokens were signed out.</p>}
        <button type="submit" disabled={change.busy}>
          Change password
        </button>
      </form>
    </section>
  );
}

function MailSettings() {
  const { api } = useSession();
  const settings = useLoad(() => api.call('getSettings'), []);
  const save = useAction(async (on: boolean) => {
    await api.call('updateSettings', { body: { emailRentalPassword: on } });
    settings.refresh();
  });
  return (
    <section aria-labelledby="mail-title">
      <h2 id="mail-title">Email</h2>
      <label class="inline">
        <input
          type="checkbox"
          checked={settings.data?.emailRentalPassword ?? false}
          disabled={!settings.data || save.busy}
          onChange={(e) => void save.run(e.currentTarget.checked)}
        />{' '}
        Put a rental's password in the mail that says it is ready (otherwise the mail links here)
      </label>
      <ErrorText problem={settings.problem ?? save.problem} />
    </section>
  );
}
