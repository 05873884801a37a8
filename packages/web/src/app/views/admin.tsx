import { formatMoney } from '@p2pvps/protocol/money';
import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { DataTable, ErrorText, Field, FormError, MoreButton, moneyValue, Time, useAction, useLoad, usePaged } from '../ui.tsx';
import { DisputeQueue } from './reviews.tsx';
import { FederationPanel } from './federation.tsx';

/** The operator's view: accounts (and credit), devices, rentals, the books, payouts to make, settings. */
export function AdminView() {
  const { api, version, server } = useSession();
  const money = (m: number) => formatMoney(m, server.currency);
  const users = usePaged(
    async (cursor) => {
      const page = await api.call('adminUsers', { query: cursor ? { cursor } : {} });
      return { items: page.users, next: page.next };
    },
    [version],
  );
  const devices = usePaged(
    async (cursor) => {
      const page = await api.call('adminDevices', { query: cursor ? { cursor } : {} });
      return { items: page.devices, next: page.next };
    },
    [version],
  );
  const rentals = useLoad(() => api.call('adminRentals'), [version]);
  const ledger = useLoad(() => api.call('adminLedger'), [version]);
  const settings = useLoad(() => api.call('adminSettings'), []);
  return (
    <section>
      <h1>Operator</h1>
      <section aria-labelledby="ledger-title">
        <h2 id="ledger-title">The books</h2>
        <ErrorText problem={ledger.problem} />
        {ledger.data && (
          <DataTable
            columns={['Accounts', { label: 'Count', num: true }, { label: 'Balance', num: true }]}
            rows={ledger.data.accounts}
            keyOf={(a) => a.kind}
            cells={(a) => [a.kind.replaceAll('_', ' '), a.accounts, money(a.balanceMicros)]}
            foot={
              <tr>
                <th scope="row">Total</th>
                <td></td>
                <td class={`num ${ledger.data.totalMicros === 0 ? '' : 'error'}`}>
                  {money(ledger.data.totalMicros)} {ledger.data.totalMicros === 0 ? '(balanced)' : '— the books do not balance'}
                </td>
              </tr>
            }
          />
        )}
      </section>
      <PayoutQueue />
      <DisputeQueue />
      <section aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        <CreditForm onDone={users.refresh} />
        <ErrorText problem={users.problem} />
        <DataTable
          columns={[
            'Email',
            'Since',
            { label: 'Balance', num: true },
            { label: 'Earnings', num: true },
            { label: 'Devices', num: true },
            { label: 'Open rentals', num: true },
          ]}
          rows={users.items ?? []}
          keyOf={(u) => u.id}
          cells={(u) => [
            `${u.email}${u.isAdmin ? ' (operator)' : ''}`,
            <Time iso={u.createdAt} />,
            // Below zero the renter owes money the meter let them run up before it was capped: look into it.
            u.balanceMicros < 0 ? <span class="error">{money(u.balanceMicros)} (negative)</span> : money(u.balanceMicros),
            money(u.earningsMicros),
            u.devices,
            u.openRentals,
          ]}
        />
        <MoreButton list={users} label="More accounts" />
      </section>
      <section aria-labelledby="devices-title">
        <h2 id="devices-title">Devices</h2>
        <ErrorText problem={devices.problem} />
        <DataTable
          columns={['Name', 'Owner', 'Status', { label: 'Price / h', num: true }, { label: 'Port', num: true }]}
          rows={devices.items ?? []}
          keyOf={(d) => d.id}
          cells={(d) => [
            d.name,
            d.ownerEmail,
            `${d.status}${d.listed ? ', listed' : ''}${d.storageFault ? `, storage fault: ${d.storageFault}` : ''}`,
            d.pricePerHourMicros === null ? '—' : money(d.pricePerHourMicros),
            d.sshPort ?? '—',
          ]}
        />
        <MoreButton list={devices} label="More devices" />
      </section>
      <section aria-labelledby="rentals-title">
        <h2 id="rentals-title">Rentals</h2>
        <ErrorText problem={rentals.problem} />
        <DataTable
          columns={['Device', 'Renter', 'Owner', 'State', 'Started', { label: 'Cost', num: true }]}
          rows={rentals.data?.rentals ?? []}
          keyOf={(r) => r.id}
          cells={(r) => [
            r.deviceName,
            r.renterEmail,
            r.ownerEmail,
            r.endReason ? `${r.state} (${r.endReason.replaceAll('_', ' ')})` : r.state,
            <Time iso={r.activatedAt ?? r.createdAt} />,
            money(r.costMicros),
          ]}
        />
      </section>
      <OutboxList />
      <FederationPanel />
      <section aria-labelledby="settings-title">
        <h2 id="settings-title">Server settings</h2>
        {settings.data && (
          <dl>
            <dt>Name</dt>
            <dd>{settings.data.name}</dd>
            <dt>Public URL</dt>
            <dd>{settings.data.publicUrl}</dd>
            <dt>Currency</dt>
            <dd>{settings.data.currency}</dd>
            <dt>Marketplace fee</dt>
            <dd>{settings.data.feePercent}%</dd>
            <dt>Renting needs</dt>
            <dd>{settings.data.rentMinimumHours} h of the price on the balance</dd>
            <dt>Grace when a balance runs out</dt>
            <dd>{settings.data.balanceGraceMinutes} min</dd>
            <dt>A device is lost after</dt>
            <dd>{settings.data.deviceLostGraceMinutes} min offline</dd>
            <dt>SSH</dt>
            <dd>
              {settings.data.sshHost}, ports {settings.data.sshPortRange[0]}–{settings.data.sshPortRange[1]}
            </dd>
            <dt>Web names</dt>
            <dd>*.{settings.data.webDomain}</dd>
            <dt>Payment rails</dt>
            <dd>{settings.data.rails.join(', ')}</dd>
            <dt>Mail</dt>
            <dd>{settings.data.mail}</dd>
          </dl>
        )}
      </section>
    </section>
  );
}

function CreditForm({ onDone }: { onDone: () => void }) {
  const { api, server } = useSession();
  const [email, setEmail] = useState('');
  const [amount, setAmount] = useState('');
  const [memo, setMemo] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const grant = useAction(async (remove: boolean) => {
    const micros = moneyValue(amount, 'amountMicros');
    const result = await api.call('adminCredit', { body: { email, amountMicros: remove ? -micros : micros, ...(memo ? { memo } : {}) } });
    setDone(`${result.email} now has ${formatMoney(result.balanceMicros, server.currency)}.`);
    onDone();
  });
  return (
    <form
      class="inline"
      aria-label="Grant credit"
      onSubmit={(e) => {
        e.preventDefault();
        void grant.run(false);
      }}
    >
      <Field
        label="User's email"
        name="email"
        type="email"
        value={email}
        onInput={(e) => setEmail(e.currentTarget.value)}
        problem={grant.problem}
      />
      <Field
        label={`Amount (${server.currency})`}
        name="amountMicros"
        inputMode="decimal"
        value={amount}
        onInput={(e) => setAmount(e.currentTarget.value)}
        problem={grant.problem}
      />
      <Field label="Memo" name="memo" value={memo} onInput={(e) => setMemo(e.currentTarget.value)} problem={grant.problem} />
      <button type="submit" disabled={grant.busy}>
        Grant credit
      </button>
      <button type="button" class="secondary" disabled={grant.busy} onClick={() => void grant.run(true)}>
        Take back
      </button>
      <FormError problem={grant.problem} />
      {done && <p role="status">{done}</p>}
    </form>
  );
}

/**
 * Payouts in two steps: the operator starts one (its owner can no longer cancel it), pays
 * it outside, then marks it paid with the rail and the payment's reference there.
 */
function PayoutQueue() {
  const { api, version, server } = useSession();
  const requested = useLoad(() => api.call('adminPayouts', { query: { state: 'requested' } }), [version]);
  const processing = useLoad(() => api.call('adminPayouts', { query: { state: 'processing' } }), [version]);
  const [rail, setRail] = useState('paypal');
  const [reference, setReference] = useState('');
  const refresh = () => {
    requested.refresh();
    processing.refresh();
  };
  const start = useAction(async (id: string) => {
    await api.call('adminStartPayout', { params: { payoutId: id }, body: {} });
    refresh();
  });
  const paid = useAction(async (id: string) => {
    await api.call('adminPayoutPaid', { params: { payoutId: id }, body: { rail, reference } });
    setReference('');
    refresh();
  });
  const payouts = [...(processing.data?.payouts ?? []), ...(requested.data?.payouts ?? [])];
  return (
    <section aria-labelledby="payout-queue-title">
      <h2 id="payout-queue-title">Payouts to make</h2>
      <ErrorText problem={requested.problem ?? processing.problem} />
      {requested.data && processing.data && payouts.length === 0 && <p>No payout is waiting.</p>}
      {payouts.length > 0 && (
        <>
          <p>Start a payout before you pay it: from then on its owner cannot cancel it. Then mark it paid.</p>
          <div class="inline">
            <Field label="Paid by (rail)" name="rail" value={rail} onInput={(e) => setRail(e.currentTarget.value)} problem={paid.problem} />
            <Field
              label="Reference"
              name="reference"
              placeholder="the payment's ID there"
              value={reference}
              onInput={(e) => setReference(e.currentTarget.value)}
              problem={paid.problem}
            />
          </div>
          <FormError problem={paid.problem} />
          <ErrorText problem={start.problem} />
          <DataTable
            columns={['Owner', { label: 'Amount', num: true }, 'To', 'Requested', 'State', '']}
            rows={payouts}
            keyOf={(p) => p.id}
            cells={(p) => [
              p.email,
              formatMoney(p.amountMicros, server.currency),
              p.destination,
              <Time iso={p.requestedAt} />,
              p.state === 'processing' ? 'being paid' : 'requested',
              p.state === 'processing' ? (
                <button type="button" disabled={paid.busy} onClick={() => void paid.run(p.id)}>
                  Mark paid
                </button>
              ) : (
                <button type="button" class="secondary" disabled={start.busy} onClick={() => void start.run(p.id)}>
                  Start paying
                </button>
              ),
            ]}
          />
        </>
      )}
    </section>
  );
}

function OutboxList() {
  const { api, version } = useSession();
  const outbox = useLoad(() => api.call('adminOutbox', { query: { limit: 50 } }), [version]);
  return (
    <section aria-labelledby="outbox-title">
      <h2 id="outbox-title">Mail</h2>
      <ErrorText problem={outbox.problem} />
      {outbox.data && (
        <p>
          {outbox.data.delivery === 'smtp'
            ? 'Mail goes out through the SMTP server; the newest 50 are listed.'
            : 'No SMTP server is configured: mail stays here, in the outbox. The newest 50:'}
        </p>
      )}
      {outbox.data && outbox.data.mails.length > 0 && (
        <DataTable
          columns={['When', 'To', 'Subject', 'State']}
          rows={outbox.data.mails}
          keyOf={(m) => m.id}
          cells={(m) => [
            <Time iso={m.createdAt} />,
            m.to,
            <details>
              <summary>{m.subject}</summary>
              <pre>{m.text || '(sent; the body is not kept)'}</pre>
            </details>,
            m.lastError ? `${m.state}: ${m.lastError}` : m.state,
          ]}
        />
      )}
    </section>
  );
}
