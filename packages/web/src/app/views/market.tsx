import { ownerVisibility } from '@p2pvps/protocol/disclosure';
import { formatMoney, parseMoney } from '@p2pvps/protocol/money';
import type { Listing } from '@p2pvps/protocol/schemas';
import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { formatBytes, hoursPerMonth, reliabilityText, rentCostText, systemDiskText, uptimeText, verifiedText } from '../logic.ts';
import { ReliabilityHistory } from './reliability.tsx';
import { Confirm, ErrorText, Field, MoreButton, submitWith, useAction, useLoad, usePaged } from '../ui.tsx';
import { ListingRating } from './reviews.tsx';
import { EncryptChoice } from './storage-lock.tsx';

const gib = 2 ** 30;
type Sort = 'price' | 'memory' | 'cores' | 'disk' | 'reliability';

export function MarketView() {
  const { api, version, server } = useSession();
  const [sort, setSort] = useState<Sort>('price');
  const [order, setOrder] = useState<'asc' | 'desc'>('asc');
  const [maxPrice, setMaxPrice] = useState('');
  const [minCores, setMinCores] = useState('');
  const [minMemory, setMinMemory] = useState('');
  const [arch, setArch] = useState('');
  const [minReliability, setMinReliability] = useState('');
  const [appPackage, setAppPackage] = useState('');
  const catalogue = useLoad(() => api.call('appPackages', { query: {} }), []);
  const [renting, setRenting] = useState<Listing | null>(null);
  const query = () => {
    const q: Record<string, string | number> = { sort, order };
    if (maxPrice.trim()) q.maxPriceMicros = parseMoney(maxPrice);
    if (minCores.trim()) q.minCores = Number(minCores);
    if (minMemory.trim()) q.minMemoryBytes = Math.round(Number(minMemory) * gib);
    if (arch.trim()) q.arch = arch.trim();
    if (minReliability.trim()) q.minReliability = Number(minReliability);
    if (appPackage) q.package = appPackage;
    return q;
  };
  const market = usePaged(
    async (cursor) => {
      const page = await api.call('market', { query: { ...query(), ...(cursor ? { cursor } : {}) } as never });
      return { items: page.listings, next: page.next };
    },
    [version, sort, order, maxPrice, minCores, minMemory, arch, minReliability, appPackage],
  );
  const money = (m: number) => formatMoney(m, server.currency);
  return (
    <section>
      <h1>Marketplace</h1>
      <form class="filters" aria-label="Filter and sort" onSubmit={(e) => e.preventDefault()}>
        <Field label="Sort by" name="sort" controlId="sort">
          <select id="sort" value={sort} onChange={(e) => setSort(e.currentTarget.value as Sort)}>
            <option value="price">Price</option>
            <option value="cores">Cores</option>
            <option value="memory">Memory</option>
            <option value="disk">Disk</option>
            <option value="reliability">Reliability</option>
          </select>
        </Field>
        <Field label="Order" name="order" controlId="order">
          <select id="order" value={order} onChange={(e) => setOrder(e.currentTarget.value as 'asc' | 'desc')}>
            <option value="asc">Lowest first</option>
            <option value="desc">Highest first</option>
          </select>
        </Field>
        <Field
          label={`Max price per hour (${server.currency})`}
          name="maxPriceMicros"
          inputMode="decimal"
          value={maxPrice}
          onInput={(e) => setMaxPrice(e.currentTarget.value)}
          problem={market.problem}
        />
        <Field
          label="Min cores"
          name="minCores"
          type="number"
          min={1}
          value={minCores}
          onInput={(e) => setMinCores(e.currentTarget.value)}
          problem={market.problem}
        />
        <Field
          label="Min memory (GiB)"
          name="minMemoryBytes"
          type="number"
          min={0}
          step="0.5"
          value={minMemory}
          onInput={(e) => setMinMemory(e.currentTarget.value)}
          problem={market.problem}
        />
        <Field
          label="Architecture"
          name="arch"
          placeholder="arm64, amd64…"
          value={arch}
          onInput={(e) => setArch(e.currentTarget.value)}
          problem={market.problem}
        />
        <Field
          label="Min reliability (%)"
          name="minReliability"
          type="number"
          min={0}
          max={100}
          value={minReliability}
          onInput={(e) => setMinReliability(e.currentTarget.value)}
          problem={market.problem}
        />
        <Field label="Runs package" name="package" controlId="market-package" problem={market.problem}>
          <select id="market-package" value={appPackage} onChange={(e) => setAppPackage(e.currentTarget.value)}>
            <option value="">Any</option>
            {catalogue.data?.packages.map((p) => (
              <option value={p.name} key={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </Field>
      </form>
      <ErrorText problem={market.problem} />
      {market.items && market.items.length === 0 && (
        <p>
          No device is on the market right now
          {maxPrice || minCores || minMemory || arch || minReliability || appPackage ? ' that matches these filters' : ''}.
        </p>
      )}
      <ul class="cards" aria-label="Devices for rent">
        {market.items?.map((l) => (
          <li class="card" key={l.deviceId}>
            <h2>{l.name}</h2>
            {l.description && <p>{l.description}</p>}
            <dl>
              {/* What one rental gets (the owner's offer), never the device's totals. */}
              <dt>Processor</dt>
              <dd>
                {l.hardware.cpuModel}, {l.hardware.cores} {l.hardware.cores === 1 ? 'core' : 'cores'} ({l.hardware.arch})
              </dd>
              <dt>Memory</dt>
              <dd>{formatBytes(l.hardware.memoryBytes)}</dd>
              <dt>Disk</dt>
              <dd>{formatBytes(l.hardware.diskBytes)}</dd>
              {l.hardware.systemDiskBytes !== undefined && (
                <>
                  <dt>System (/)</dt>
                  <dd>{systemDiskText(l.hardware.systemDiskBytes)}</dd>
                </>
              )}
              <dt>Bandwidth</dt>
              <dd>{l.bandwidthMbit ? `${l.bandwidthMbit} Mbit/s each way` : 'no cap'}</dd>
              <dt>Uptime</dt>
              <dd>{uptimeText(l.uptimePercent)}</dd>
              <dt>Reliability</dt>
              <dd>{reliabilityText(l.reliabilityPercent)}</dd>
              <ListingRating listing={l} />
              <dt>Verified</dt>
              <dd>{verifiedText(l.verified)}</dd>
              <dt>Network speed</dt>
              <dd>{l.verified?.tunnelMbit != null ? `${l.verified.tunnelMbit} Mbit/s, measured by the server` : 'not measured yet'}</dd>
              <dt>Price</dt>
              <dd>
                {money(l.pricePerHourMicros)} / hour · {money(l.pricePerHourMicros * hoursPerMonth)} / month
              </dd>
              {l.federationFees ? (
                <>
                  <dt>Fees</dt>
                  <dd>
                    You pay {money(l.federationFees.renterPricePerHourMicros)} / hour here: the price plus this server’s{' '}
                    {l.federationFees.feePercent}%; the home server takes {l.federationFees.homeFeePercent ?? '?'}% from the owner’s share.
                  </dd>
                </>
              ) : null}
              <dt>Home server</dt>
              <dd>{l.homeServerUrl ? `${l.homeServer}, a peer server (${l.homeServerUrl})` : l.homeServer}</dd>
            </dl>
            {l.homeServerUrl && !l.federationFees ? (
              <p class="hint">
                Rent it on its home server: <a href={l.homeServerUrl}>{l.homeServerUrl}</a>
              </p>
            ) : (
              <>
                {l.homeServerUrl ? null : <ReliabilityHistory deviceId={l.deviceId} owned={false} />}
                <button type="button" onClick={() => setRenting(l)}>
                  Rent {l.name}
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      <MoreButton list={market} label="More devices" />
      {renting && <RentDialog listing={renting} onClose={() => setRenting(null)} />}
    </section>
  );
}

/** The same words `p2pvps rent` prints: what the device's owner can and cannot see. */
function OwnerVisibility() {
  return (
    <section class="owner-visibility" aria-labelledby="owner-visibility-title">
      <h3 id="owner-visibility-title">{ownerVisibility.heading}</h3>
      <ul>
        {ownerVisibility.sentences.map((sentence) => (
          <li key={sentence}>{sentence}</li>
        ))}
      </ul>
    </section>
  );
}

/** Asks for the term and an SSH key, shows what it will cost, and rents on confirmation. */
function RentDialog({ listing, onClose }: { listing: Listing; onClose: () => void }) {
  const { api, server, navigate } = useSession();
  const [term, setTerm] = useState<'open' | 'hours'>('open');
  const [hours, setHours] = useState('3');
  const [autoRenew, setAutoRenew] = useState(false);
  const [storageSecret, setStorageSecret] = useState<string | null>(null);
  const keys = useLoad(() => api.call('listSshKeys'), []);
  const catalogue = useLoad(() => api.call('appPackages', { query: {} }), []);
  const [appName, setAppName] = useState('');
  const [appSettings, setAppSettings] = useState<Record<string, string>>({});
  const chosenApp = catalogue.data?.packages.find((p) => p.name === appName);
  const [keyChoice, setKeyChoice] = useState('');
  const [pasted, setPasted] = useState('');
  const hoursNumber = term === 'hours' ? Math.max(1, Math.floor(Number(hours) || 1)) : undefined;
  const publicKey = keyChoice === 'paste' ? pasted.trim() : keys.data?.keys.find((k) => k.id === keyChoice)?.publicKey;
  const rent = useAction(async () => {
    const rental = await api.call('rent', {
      body: {
        deviceId: listing.deviceId,
        ...(publicKey ? { sshPublicKey: publicKey } : {}),
        ...(hoursNumber ? { hours: hoursNumber } : {}),
        ...(hoursNumber && autoRenew ? { autoRenew: true } : {}),
        ...(storageSecret !== null ? { encryptionKey: storageSecret } : {}),
        ...(appName ? { package: { name: appName, settings: appSettings } } : {}),
      },
    });
    onClose();
    navigate(`/rentals/${rental.id}`);
  });
  return (
    <dialog open aria-labelledby="rent-title" class="panel" onKeyDown={(e) => e.key === 'Escape' && onClose()}>
      <h2 id="rent-title">Rent {listing.name}</h2>
      <form onSubmit={submitWith(rent)}>
        <fieldset>
          <legend>For how long</legend>
          <label>
            <input type="radio" name="term" checked={term === 'open'} onChange={() => setTerm('open')} /> Until I stop it (billed per
            minute)
          </label>
          <label>
            <input type="radio" name="term" checked={term === 'hours'} onChange={() => setTerm('hours')} /> A fixed number of hours, prepaid
          </label>
          {term === 'hours' && (
            <Field
              label="Hours"
              name="hours"
              type="number"
              min={1}
              value={hours}
              onInput={(e) => setHours(e.currentTarget.value)}
              problem={rent.problem}
            />
          )}
          {term === 'hours' && (
            <label>
              <input type="checkbox" name="autoRenew" checked={autoRenew} onChange={(e) => setAutoRenew(e.currentTarget.checked)} /> Renew
              for the same hours when they run out, while my balance covers them
            </label>
          )}
        </fieldset>
        <Field label="Deployment package" name="package" controlId="app-package" problem={rent.problem}>
          <select
            id="app-package"
            value={appName}
            onChange={(e) => {
              setAppName(e.currentTarget.value);
              setAppSettings({});
            }}
          >
            <option value="">None: an empty server</option>
            {catalogue.data?.packages
              .filter((p) => !(listing.refusedPackages ?? []).includes(p.name))
              .map((p) => (
                <option value={p.name} key={p.name}>
                  {p.name}: {p.description}
                </option>
              ))}
          </select>
        </Field>
        {chosenApp &&
          Object.entries(chosenApp.settings).map(([k, s]) => (
            <Field
              key={k}
              label={`${k}: ${s.description}`}
              name={`package.settings.${k}`}
              value={appSettings[k] ?? s.default}
              onInput={(e) => setAppSettings({ ...appSettings, [k]: e.currentTarget.value })}
              problem={rent.problem}
            />
          ))}
        <Field label="SSH key" name="sshPublicKey" controlId="ssh-key" problem={rent.problem}>
          <select id="ssh-key" value={keyChoice} onChange={(e) => setKeyChoice(e.currentTarget.value)}>
            <option value="">None: log in with the generated password</option>
            {keys.data?.keys.map((k) => (
              <option value={k.id} key={k.id}>
                {k.name} ({k.fingerprint.slice(0, 20)}…)
              </option>
            ))}
            <option value="paste">Paste a public key…</option>
          </select>
        </Field>
        {keyChoice === 'paste' && (
          <Field label="Public key" name="sshPublicKey" controlId="pasted-key" problem={rent.problem}>
            <textarea
              id="pasted-key"
              rows={3}
              placeholder="ssh-ed25519 AAAA… you@laptop"
              value={pasted}
              onInput={(e) => setPasted(e.currentTarget.value)}
            />
          </Field>
        )}
        <EncryptChoice secret={storageSecret} onSecret={setStorageSecret} problem={rent.problem} />
        <p class="cost" aria-live="polite">
          {rentCostText(listing.pricePerHourMicros, server.currency, hoursNumber, server.rentMinimumHours ?? 1)}
        </p>
        <OwnerVisibility />
        <ErrorText problem={rent.problem} />
        <div class="actions">
          <button type="button" class="secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" disabled={rent.busy}>
            Confirm and rent
          </button>
        </div>
      </form>
    </dialog>
  );
}
