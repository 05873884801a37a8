import type { Device } from '@p2pvps/protocol/schemas';
import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { offerForm, offerFromForm, offerText, type OfferForm } from '../logic.ts';
import { Field, FormError, submitWith, useAction } from '../ui.tsx';

/**
 * What one rental of the device gets, chosen by its owner within the device's hardware: the
 * market, the rent dialog and the renter's container all go by it. The server checks it
 * against the hardware and says beside each box what is too much.
 */
export function DeviceOffer({ device: d, onChanged }: { device: Device; onChanged: () => void }) {
  const { api } = useSession();
  const [form, setForm] = useState<OfferForm | null>(null);
  const save = useAction(async () => {
    await api.call('updateDevice', { params: { deviceId: d.id }, body: { offer: offerFromForm(form!) } });
    setForm(null);
    onChanged();
  });
  const reset = useAction(async () => {
    await api.call('updateDevice', { params: { deviceId: d.id }, body: { offer: null } });
    setForm(null);
    onChanged();
  });
  if (!d.offer) return null;
  if (!form)
    return (
      <p class="offer">
        One rental gets: <span data-testid="offer">{offerText(d.offer)}</span>
        {d.offerIsDefault ? ' (the default)' : ''}.{' '}
        <button type="button" class="secondary" onClick={() => setForm(offerForm(d.offer!))}>
          Change what a rental gets
        </button>
      </p>
    );
  const set = (key: keyof OfferForm) => (e: { currentTarget: HTMLInputElement }) => setForm({ ...form, [key]: e.currentTarget.value });
  return (
    <form class="offer" onSubmit={submitWith(save)} aria-label="What one rental gets">
      <Field
        label="Cores"
        name="offer.cores"
        inputMode="numeric"
        required
        value={form.cores}
        onInput={set('cores')}
        problem={save.problem}
      />
      <Field
        label="Memory (MiB)"
        name="offer.memoryBytes"
        inputMode="numeric"
        required
        value={form.memoryMiB}
        onInput={set('memoryMiB')}
        problem={save.problem}
        hint="The device keeps an eighth of its memory, at least 256 MiB, for itself."
      />
      <Field
        label="Disk (GiB)"
        name="offer.diskBytes"
        inputMode="decimal"
        required
        value={form.diskGiB}
        onInput={set('diskGiB')}
        problem={save.problem}
        hint="The renter's /home; at most the device's renter storage."
      />
      <Field
        label="Bandwidth (Mbit/s)"
        name="offer.bandwidthMbit"
        inputMode="decimal"
        value={form.bandwidthMbit}
        onInput={set('bandwidthMbit')}
        problem={save.problem}
        hint="Each way; empty for no cap."
      />
      <FormError problem={save.problem} />
      <p class="hint">A running rental keeps what it was rented with; the next one gets this.</p>
      <div class="actions">
        <button type="submit" disabled={save.busy}>
          Save what a rental gets
        </button>
        <button type="button" class="secondary" disabled={reset.busy} onClick={() => void reset.run()}>
          Back to the default
        </button>
        <button type="button" class="secondary" onClick={() => setForm(null)}>
          Cancel
        </button>
      </div>
    </form>
  );
}
