import { formatMoney } from '@p2pvps/protocol/money';
import type { Rental } from '@p2pvps/protocol/schemas';
import { useState } from 'preact/hooks';
import { Link, useSession } from '../session.tsx';
import { offerText, rentalStatusText, systemDiskText } from '../logic.ts';
import { Confirm, CopyButton, ErrorText, Field, FormError, MoreButton, submitWith, Time, useAction, usePaged } from '../ui.tsx';
import { RentalFeedback } from './reviews.tsx';
import { RentalStorage } from './storage-lock.tsx';

export function RentalsView({ focus }: { focus?: string }) {
  const { api, version } = useSession();
  const [all, setAll] = useState(false);
  const list = usePaged(
    async (cursor) => {
      const page = await api.call('listRentals', { query: { ...(all ? { all: 'true' as const } : {}), ...(cursor ? { cursor } : {}) } });
      return { items: page.rentals, next: page.next };
    },
    [version, all],
  );
  const rentals = list.items ?? [];
  return (
    <section>
      <h1>Rentals</h1>
      <label class="inline">
        <input type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} /> Show ended rentals too
      </label>
      <ErrorText problem={list.problem} />
      {list.items && rentals.length === 0 && (
        <p>
          {all ? 'You have never rented a device.' : 'You have no open rentals.'} <Link href="/market">Find one in the marketplace.</Link>
        </p>
      )}
      <ul class="cards">
        {rentals.map((r) => (
          <RentalCard key={r.id} rental={r} focused={r.id === focus} onChanged={list.refresh} />
        ))}
      </ul>
      <MoreButton list={list} label="More rentals" />
    </section>
  );
}

function RentalCard({ rental: r, focused, onChanged }: { rental: Rental; focused: boolean; onChanged: () => void }) {
  const { api } = useSession();
  const [reveal, setReveal] = useState(false);
  const [stopping, setStopping] = useState(false);
  const [extendHours, setExtendHours] = useState('1');
  const open = r.state === 'requested' || r.state === 'active';
  const money = (m: number) => formatMoney(m, r.currency);
  const stop = useAction(async () => {
    await api.call('stopRental', { params: { rentalId: r.id }, body: {} });
    setStopping(false);
    onChanged();
  });
  const extend = useAction(async () => {
    await api.call('extendRental', { params: { rentalId: r.id }, body: { hours: Math.floor(Number(extendHours)) } });
    onChanged();
  });
  const renew = useAction(async (on: boolean) => {
    await api.call('extendRental', { params: { rentalId: r.id }, body: { autoRenew: on } });
    onChanged();
  });
  const up = r.state === 'active' && r.deviceOnline;
  return (
    <li class={`card${focused ? ' focused' : ''}`} aria-labelledby={`rental-${r.id}`}>
      <h2 id={`rental-${r.id}`}>
        {r.deviceName} <span class={`badge ${up ? 'up' : open ? 'pending' : 'down'}`}>{rentalStatusText(r, r.deviceOnline)}</span>
      </h2>
      <dl>
        {r.deviceHardware && (
          <>
            <dt>Your container gets</dt>
            <dd>
              {offerText({ ...r.deviceHardware, bandwidthMbit: r.bandwidthMbit })} ({r.deviceHardware.cpuModel}, {r.deviceHardware.arch})
            </dd>
            {r.deviceHardware.systemDiskBytes !== undefined && (
              <>
                <dt>System (/)</dt>
                <dd>{systemDiskText(r.deviceHardware.systemDiskBytes)}</dd>
              </>
            )}
          </>
        )}
        {open && (
          <>
            <dt>SSH</dt>
            <dd class="copyable">
              <code>{r.connection.sshCommand}</code> <CopyButton text={r.connection.sshCommand} label="Copy SSH command" />
            </dd>
            <dt>Password</dt>
            <dd>
              {reveal ? <code>{r.connection.password}</code> : <span aria-label="hidden password">••••••••••</span>}{' '}
              <button type="button" class="secondary" aria-pressed={reveal} onClick={() => setReveal(!reveal)}>
                {reveal ? 'Hide password' : 'Reveal password'}
              </button>
              {reveal && <CopyButton text={r.connection.password} label="Copy password" />}
            </dd>
            <dt>Web</dt>
            <dd>
              <a href={r.connection.httpUrl} rel="noreferrer" target="_blank">
                {r.connection.httpUrl}
              </a>{' '}
              and {r.connection.httpsUrl} (ports 80 and 443 of your container)
            </dd>
          </>
        )}
        {open && <RentalStorage rental={r} onChanged={onChanged} />}
        {r.app && (
          <>
            <dt>Package</dt>
            <dd>
              {r.app.name}:{' '}
              <span class={`badge ${r.app.state === 'healthy' ? 'up' : r.app.state === 'failed' ? 'down' : 'pending'}`}>{r.app.state}</span>
              {r.app.addresses.length > 0 && (
                <ul>
                  {r.app.addresses.map((a) => (
                    <li key={a}>
                      <code>{a}</code>
                    </li>
                  ))}
                </ul>
              )}
              {r.app.state !== 'healthy' && r.app.log && (
                <details open={r.app.state === 'failed'}>
                  <summary>Its log</summary>
                  <pre class="log">{r.app.log}</pre>
                </details>
              )}
            </dd>
          </>
        )}
        <dt>Started</dt>
        <dd>
          <Time iso={r.activatedAt ?? r.createdAt} />
        </dd>
        <dt>Expires</dt>
        <dd>{r.expiresAt ? <Time iso={r.expiresAt} /> : r.prepaidHours ? `${r.prepaidHours} h after it starts` : 'when you stop it'}</dd>
        {open && r.prepaidHours !== null && (
          <>
            <dt>Auto-renew</dt>
            <dd>
              <label class="inline">
                <input
                  type="checkbox"
                  checked={r.autoRenew}
                  disabled={renew.busy}
                  onChange={(e) => void renew.run(e.currentTarget.checked)}
                />{' '}
                Renew for the same term when it runs out, paid from my balance then
              </label>
              <ErrorText problem={renew.problem} />
            </dd>
          </>
        )}
        {r.detail && r.state === 'ended' && r.endReason === 'expired' && (
          <>
            <dt>Not renewed</dt>
            <dd>{r.detail.replace(/^Not renewed: /, '')}</dd>
          </>
        )}
        {r.endedAt && (
          <>
            <dt>Ended</dt>
            <dd>
              <Time iso={r.endedAt} />
            </dd>
          </>
        )}
        <dt>Cost so far</dt>
        <dd>
          {money(r.costMicros)}
          {r.pricePerHourMicros !== null &&
            ` (${money(r.pricePerHourMicros)} / hour${r.prepaidHours ? `, ${r.prepaidHours} h prepaid` : ', billed per minute while the device is up'})`}
        </dd>
      </dl>
      {open && (
        <div class="actions">
          {r.prepaidHours !== null && (
            <form class="inline" onSubmit={submitWith(extend)}>
              <Field
                label="Add hours"
                name="hours"
                type="number"
                min={1}
                value={extendHours}
                onInput={(e) => setExtendHours(e.currentTarget.value)}
                problem={extend.problem}
              />
              <button type="submit" class="secondary" disabled={extend.busy}>
                Extend
              </button>
            </form>
          )}
          <button type="button" class="danger" onClick={() => setStopping(true)}>
            Stop rental
          </button>
        </div>
      )}
      <FormError problem={extend.problem} />
      <ErrorText problem={stop.problem} />
      <RentalFeedback rental={r} />
      <Confirm
        open={stopping}
        title={`Stop the rental of ${r.deviceName}?`}
        confirm="Stop and wipe"
        busy={stop.busy}
        onConfirm={() => void stop.run()}
        onCancel={() => setStopping(false)}
      >
        <p>The container is destroyed and its storage wiped: everything you kept on it is gone for good. Copy off what you need first.</p>
        {r.prepaidHours !== null && <p>The rest of the prepaid term is not returned when you stop early.</p>}
      </Confirm>
    </li>
  );
}
