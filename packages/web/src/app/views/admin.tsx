import { formatMoney } from '@p2pvps/protocol/money';
import { useState } from 'preact/hooks';
import { useSession } from '../app.tsx';
import { ErrorText, Field, FormError, moneyValue, Time, useAction, useLoad } from '../ui.tsx';

/** The operator's view: accounts (and credit), devices, rentals, the books, payouts to make, settings. */
export function AdminView() {
  const { api, version, server } = useSession();
  const money = (m: number) => formatMoney(m, server.currency);
  const users = useLoad(() => api.call('adminUsers'), [version]);
  const devices = useLoad(() => api.call('adminDevices'), [version]);
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
          <table>
            <thead>
              <tr>
                <th scope="col">Accounts</th>
                <th scope="col">Count</th>
                <th scope="col">Balance</th>
              </tr>
            </thead>
            <tbody>
              {ledger.data.accounts.map((a) => (
                <tr key={a.kind}>
                  <td>{a.kind.replaceAll('_', ' ')}</td>
                  <td class="num">{a.accounts}</td>
                  <td class="num">{money(a.balanceMicros)}</td>
                </tr>
              ))}
            </tbody>
            <tfoot>
              <tr>
                <th scope="row">Total</th>
                <td></td>
                <td class={`num ${ledger.data.totalMicros === 0 ? '' : 'error'}`}>
                  {money(ledger.data.totalMicros)} {ledger.data.totalMicros === 0 ? '(balanced)' : '— the books do not balance'}
                </td>
              </tr>
            </tfoot>
          </table>
        )}
      </section>
      <PayoutQueue />
      <section aria-labelledby="users-title">
        <h2 id="users-title">Users</h2>
        <CreditForm onDone={users.refresh} />
        <ErrorText problem={users.problem} />
        <table>
          <thead>
            <tr>
              <th scope="col">Email</th>
              <th scope="col">Since</th>
              <th scope="col">Balance</th>
              <th scope="col">Earnings</th>
              <th scope="col">Devices</th>
              <th scope="col">Open rentals</th>
            </tr>
          </thead>
          <tbody>
            {users.data?.users.map((u) => (
              <tr key={u.id}>
                <td>
                  {u.email}
                  {u.isAdmin && ' (operator)'}
                </td>
                <td>
                  <Time iso={u.createdAt} />
                </td>
                <td class="num">{money(u.balanceMicros)}</td>
                <td class="num">{money(u.earningsMicros)}</td>
                <td class="num">{u.devices}</td>
                <td class="num">{u.openRentals}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="devices-title">
        <h2 id="devices-title">Devices</h2>
        <ErrorText problem={devices.problem} />
        <table>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Owner</th>
              <th scope="col">Status</th>
              <th scope="col">Price / h</th>
              <th scope="col">Port</th>
            </tr>
          </thead>
          <tbody>
            {devices.data?.devices.map((d) => (
              <tr key={d.id}>
                <td>{d.name}</td>
                <td>{d.ownerEmail}</td>
                <td>
                  {d.status}
                  {d.listed ? ', listed' : ''}
                  {d.storageFault ? `, storage fault: ${d.storageFault}` : ''}
                </td>
                <td class="num">{d.pricePerHourMicros === null ? '—' : money(d.pricePerHourMicros)}</td>
                <td class="num">{d.sshPort}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section aria-labelledby="rentals-title">
        <h2 id="rentals-title">Rentals</h2>
        <ErrorText problem={rentals.problem} />
        <table>
          <thead>
            <tr>
              <th scope="col">Device</th>
              <th scope="col">Renter</th>
              <th scope="col">Owner</th>
              <th scope="col">State</th>
              <th scope="col">Started</th>
              <th scope="col">Cost</th>
            </tr>
          </thead>
          <tbody>
            {rentals.data?.rentals.map((r) => (
              <tr key={r.id}>
                <td>{r.deviceName}</td>
                <td>{r.renterEmail}</td>
                <td>{r.ownerEmail}</td>
                <td>{r.endReason ? `${r.state} (${r.endReason.replaceAll('_', ' ')})` : r.state}</td>
                <td>
                  <Time iso={r.activatedAt ?? r.createdAt} />
                </td>
                <td class="num">{money(r.costMicros)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <OutboxList />
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

function PayoutQueue() {
  const { api, version, server } = useSession();
  const payouts = useLoad(() => api.call('adminPayouts', { query: { state: 'requested' } }), [version]);
  const [rail, setRail] = useState('paypal');
  const [reference, setReference] = useState('');
  const paid = useAction(async (id: string) => {
    await api.call('adminPayoutPaid', { params: { payoutId: id }, body: { rail, reference } });
    setReference('');
    payouts.refresh();
  });
  return (
    <section aria-labelledby="payout-queue-title">
      <h2 id="payout-queue-title">Payouts to make</h2>
      <ErrorText problem={payouts.problem} />
      {payouts.data?.payouts.length === 0 && <p>No payout is waiting.</p>}
      {payouts.data && payouts.data.payouts.length > 0 && (
        <>
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
          <table>
            <thead>
              <tr>
                <th scope="col">Owner</th>
                <th scope="col">Amount</th>
                <th scope="col">To</th>
                <th scope="col">Requested</th>
                <th scope="col"></th>
              </tr>
            </thead>
            <tbody>
              {payouts.data.payouts.map((p) => (
                <tr key={p.id}>
                  <td>{p.email}</td>
                  <td class="num">{formatMoney(p.amountMicros, server.currency)}</td>
                  <td>{p.destination}</td>
                  <td>
                    <Time iso={p.requestedAt} />
                  </td>
                  <td>
                    <button type="button" onClick={() => void paid.run(p.id)}>
                      Mark paid
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
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
        <table>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">To</th>
              <th scope="col">Subject</th>
              <th scope="col">State</th>
            </tr>
          </thead>
          <tbody>
            {outbox.data.mails.map((m) => (
              <tr key={m.id}>
                <td>
                  <Time iso={m.createdAt} />
                </td>
                <td>{m.to}</td>
                <td>
                  <details>
                    <summary>{m.subject}</summary>
                    <pre>{m.text || '(sent; the body is not kept)'}</pre>
                  </details>
                </td>
                <td>{m.lastError ? `${m.state}: ${m.lastError}` : m.state}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
