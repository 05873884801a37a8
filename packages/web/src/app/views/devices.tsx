import { formatMicros, formatMoney } from '@p2pvps/protocol/money';
import type { Device, EnrolmentTokenGrant } from '@p2pvps/protocol/schemas';
import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import {
  deviceConfigJson,
  deviceStatusText,
  enrolCommands,
  hardwareText,
  reliabilityText,
  sinceText,
  uptimeText,
  verifiedText,
} from '../logic.ts';
import { ReliabilityHistory } from './reliability.tsx';
import { DeviceOffer } from './device-offer.tsx';
import { DevicePackages } from './device-packages.tsx';
import { MaintenanceWindows } from './maintenance.tsx';
import { Confirm, CopyButton, ErrorText, Field, FormError, moneyValue, submitWith, Time, useAction, useLoad } from '../ui.tsx';
import { OwnerRatings } from './reviews.tsx';

export function DevicesView() {
  const { api, version, server } = useSession();
  const devices = useLoad(() => api.call('listDevices'), [version]);
  const earnings = useLoad(() => api.call('getEarnings'), [version]);
  const [name, setName] = useState('');
  const [grant, setGrant] = useState<EnrolmentTokenGrant | null>(null);
  const add = useAction(async () => {
    setGrant(await api.call('addDevice', { body: { name } }));
    setName('');
    devices.refresh();
  });
  const earned = (id: string) => earnings.data?.devices.find((d) => d.deviceId === id)?.earnedMicros ?? 0;
  return (
    <section>
      <h1>My devices</h1>
      {earnings.data && (
        <p>
          Your devices have earned {formatMoney(earnings.data.availableMicros, server.currency)} not yet paid out
          {earnings.data.pendingPayoutMicros > 0 &&
            `, and ${formatMoney(earnings.data.pendingPayoutMicros, server.currency)} is requested as a payout`}
          .
        </p>
      )}
      <form class="inline" aria-label="Add a device" onSubmit={submitWith(add)}>
        <Field
          label="New device name"
          name="name"
          required
          placeholder="garage-pi"
          value={name}
          onInput={(e) => setName(e.currentTarget.value)}
          problem={add.problem}
        />
        <button type="submit" disabled={add.busy}>
          Add device
        </button>
      </form>
      <FormError problem={add.problem} />
      {grant && <EnrolmentPanel grant={grant} onDone={() => setGrant(null)} />}
      <ErrorText problem={devices.problem} />
      {devices.data && devices.data.devices.length === 0 && <p>You have no devices yet. Add one above, then run the agent on it.</p>}
      <ul class="cards">
        {devices.data?.devices.map((d) => (
          <DeviceCard key={d.id} device={d} earnedMicros={earned(d.id)} onChanged={devices.refresh} />
        ))}
      </ul>
    </section>
  );
}

/**
 * The enrolment token, shown this once, with the install command (which checks the agent's
 * code against its SHA-256 and asks for the token), the commands for a device that has the
 * agent already, and device-config.json.
 */
function EnrolmentPanel({ grant, onDone }: { grant: EnrolmentTokenGrant; onDone: () => void }) {
  const { api } = useSession();
  const install = useLoad(() => api.call('agentInstall'), []);
  const config = deviceConfigJson(grant.serverUrl, grant.enrolmentToken);
  const commands = enrolCommands(grant.serverUrl);
  return (
    <div class="panel" role="region" aria-labelledby="enrol-title">
      <h2 id="enrol-title">Enrol {grant.device.name}</h2>
      <p>
        Enrolment token: <code id="enrolment-token">{grant.enrolmentToken}</code>
      </p>
      <p>
        This token is shown only now and works once, until <Time iso={grant.expiresAt} />. To install the agent, run this on the device
        (Raspberry Pi OS, Debian or Ubuntu) and paste the token when it asks; it checks the agent&apos;s code against the SHA-256:
      </p>
      <ErrorText problem={install.problem} />
      {install.data && (
        <>
          <pre>
            <code id="install-command">{install.data.command}</code>
          </pre>
          <CopyButton text={install.data.command} label="Copy install command" />
        </>
      )}
      <p>Where the agent is installed already, save the token in a file (FILE) and run, as root:</p>
      <pre>
        <code id="enrol-commands">{commands}</code>
      </pre>
      <CopyButton text={commands} label="Copy commands" />
      <p>Or save this as /etc/p2pvps/device-config.json and start the agent:</p>
      <pre>
        <code id="device-config">{config}</code>
      </pre>
      <CopyButton text={config} label="Copy device-config.json" />
      <button type="button" class="secondary" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function DeviceCard({ device: d, earnedMicros, onChanged }: { device: Device; earnedMicros: number; onChanged: () => void }) {
  const { api, server } = useSession();
  const [price, setPrice] = useState(d.pricePerHourMicros === null ? '' : formatMicros(d.pricePerHourMicros));
  const [removing, setRemoving] = useState(false);
  const [grant, setGrant] = useState<EnrolmentTokenGrant | null>(null);
  const savePrice = useAction(async () => {
    const micros = moneyValue(price, 'pricePerHourMicros');
    await api.call('updateDevice', { params: { deviceId: d.id }, body: { pricePerHourMicros: micros } });
    onChanged();
  });
  const market = useAction(async (on: boolean) => {
    await api.call('updateDevice', { params: { deviceId: d.id }, body: { onMarket: on } });
    onChanged();
  });
  const remove = useAction(async () => {
    await api.call('removeDevice', { params: { deviceId: d.id } });
    setRemoving(false);
    onChanged();
  });
  const reenrol = useAction(async () => setGrant(await api.call('reissueEnrolmentToken', { params: { deviceId: d.id }, body: {} })));
  const now = new Date();
  return (
    <li class="card" aria-labelledby={`device-${d.id}`}>
      <h2 id={`device-${d.id}`}>
        {d.name} <span class={`badge ${d.online ? 'up' : 'down'}`}>{deviceStatusText(d, now)}</span>
      </h2>
      <dl>
        <dt>Device hardware</dt>
        <dd>{d.hardware ? hardwareText(d.hardware) : 'reported when the agent enrols'}</dd>
        <dt>Verified</dt>
        <dd>{verifiedText(d.verified)}</dd>
        <dt>Uptime</dt>
        <dd>{uptimeText(d.uptimePercent)}</dd>
        <dt>Reliability</dt>
        <dd>{reliabilityText(d.reliabilityPercent)}</dd>
        <dt>Last heartbeat</dt>
        <dd>{d.lastHeartbeatAt ? sinceText(d.lastHeartbeatAt, now) : 'never'}</dd>
        <dt>Public SSH port</dt>
        <dd>{d.sshPort ?? 'given when the agent enrols'}</dd>
        <dt>Web name</dt>
        <dd>{d.webHost}</dd>
        <dt>Earned</dt>
        <dd>{formatMoney(earnedMicros, server.currency)}</dd>
      </dl>
      <DeviceOffer device={d} onChanged={onChanged} />
      <DevicePackages device={d} onChanged={onChanged} />
      {d.status !== 'awaiting_enrolment' && <ReliabilityHistory deviceId={d.id} owned />}
      {d.status !== 'awaiting_enrolment' && <MaintenanceWindows deviceId={d.id} deviceName={d.name} />}
      <OwnerRatings deviceId={d.id} deviceName={d.name} />
      <form class="inline" onSubmit={submitWith(savePrice)}>
        <Field
          label={`Price per hour (${server.currency})`}
          name="pricePerHourMicros"
          inputMode="decimal"
          required
          value={price}
          onInput={(e) => setPrice(e.currentTarget.value)}
          problem={savePrice.problem}
        />
        <button type="submit" class="secondary" disabled={savePrice.busy}>
          Save price
        </button>
      </form>
      <label class="inline">
        <input type="checkbox" checked={d.onMarket} disabled={market.busy} onChange={(e) => void market.run(e.currentTarget.checked)} /> On
        the market
      </label>
      <ErrorText problem={market.problem} />
      <div class="actions">
        {d.status === 'awaiting_enrolment' && (
          <button type="button" class="secondary" onClick={() => void reenrol.run()}>
            New enrolment token
          </button>
        )}
        <button type="button" class="danger" onClick={() => setRemoving(true)}>
          Remove device
        </button>
      </div>
      {grant && <EnrolmentPanel grant={grant} onDone={() => setGrant(null)} />}
      <ErrorText problem={reenrol.problem} />
      <Confirm
        open={removing}
        title={`Remove ${d.name}?`}
        confirm="Remove device"
        busy={remove.busy}
        onConfirm={() => void remove.run()}
        onCancel={() => setRemoving(false)}
      >
        <p>
          The device leaves the marketplace and its key stops working; to use it again, add it anew. A device with an open rental cannot be
          removed.
        </p>
        <ErrorText problem={remove.problem} />
      </Confirm>
    </li>
  );
}
