import type { Device } from '@p2pvps/protocol/schemas';
import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { FormError, submitWith, useAction, useLoad } from '../ui.tsx';

/**
 * Which deployment packages renters may install on the device (docs/packages.md): the owner
 * ticks off what they will not host (a Tor relay on their home line, say). The market then
 * leaves the device out for those packages and the server refuses such a rent.
 */
export function DevicePackages({ device: d, onChanged }: { device: Device; onChanged: () => void }) {
  const { api } = useSession();
  const catalogue = useLoad(() => api.call('appPackages', { query: {} }), []);
  const [refused, setRefused] = useState<string[] | null>(null);
  const saved = d.refusedPackages ?? [];
  const shown = refused ?? saved;
  const save = useAction(async () => {
    await api.call('updateDevice', { params: { deviceId: d.id }, body: { refusedPackages: shown } });
    setRefused(null);
    onChanged();
  });
  if (!catalogue.data) return null;
  const toggle = (name: string, allowed: boolean) =>
    setRefused(allowed ? shown.filter((n) => n !== name) : [...shown.filter((n) => n !== name), name].sort());
  const changed = refused !== null && refused.join() !== [...saved].sort().join();
  return (
    <form class="packages" aria-label={`Packages allowed on ${d.name}`} onSubmit={submitWith(save)}>
      <fieldset>
        <legend>Deployment packages renters may install</legend>
        {catalogue.data.packages.map((p) => (
          <label key={p.name} title={p.description}>
            <input
              type="checkbox"
              name={`package-${p.name}`}
              checked={!shown.includes(p.name)}
              onChange={(e) => toggle(p.name, e.currentTarget.checked)}
            />{' '}
            {p.name}
          </label>
        ))}
      </fieldset>
      <p class="hint">
        {saved.length ? `Refused now: ${saved.join(', ')}. The market leaves this device out for them.` : 'Every package is allowed now.'}
      </p>
      <FormError problem={save.problem} />
      <button type="submit" class="secondary" disabled={!changed || save.busy}>
        Save packages
      </button>
    </form>
  );
}
