import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { maintenanceFromForm, type MaintenanceForm } from '../logic.ts';
import { DataTable, ErrorText, Field, FormError, submitWith, Time, useAction, useLoad } from '../ui.tsx';

/**
 * A device's maintenance windows on its owner's card, as `p2pvps devices maintenance` has
 * them: the ones ahead (or under way), a form to declare one, and a way to cancel one. The
 * server holds the rules (1 h ahead, 15 min to 8 h, no overlap, not while a rental could
 * run then) and its refusals are shown as it words them.
 */
export function MaintenanceWindows({ deviceId, deviceName }: { deviceId: string; deviceName: string }) {
  const { api, version } = useSession();
  const windows = useLoad(() => api.call('listMaintenance', { params: { deviceId } }), [deviceId, version]);
  const [form, setForm] = useState<MaintenanceForm>({ startsAt: '', hours: '' });
  const declare = useAction(async () => {
    await api.call('declareMaintenance', { params: { deviceId }, body: maintenanceFromForm(form) });
    setForm({ startsAt: '', hours: '' });
    windows.refresh();
  });
  const cancel = useAction(async (windowId: string) => {
    await api.call('cancelMaintenance', { params: { deviceId, windowId } });
    windows.refresh();
  });
  const titleId = `maintenance-${deviceId}`;
  return (
    <section class="maintenance" aria-labelledby={titleId}>
      <h3 id={titleId}>Maintenance windows of {deviceName}</h3>
      <p class="hint">
        Declared at least 1 h ahead, downtime inside a window counts a quarter in the reliability score while the device is not rented.
      </p>
      <ErrorText problem={windows.problem} />
      {windows.data && windows.data.windows.length === 0 && <p>No maintenance window ahead.</p>}
      {windows.data && windows.data.windows.length > 0 && (
        <DataTable
          caption="Windows ahead"
          columns={['From', 'To', '']}
          rows={windows.data.windows}
          keyOf={(w) => w.id}
          cells={(w) => [
            <Time iso={w.startsAt} />,
            <Time iso={w.endsAt} />,
            <button type="button" class="secondary" disabled={cancel.busy} onClick={() => void cancel.run(w.id)}>
              Cancel window
            </button>,
          ]}
        />
      )}
      <ErrorText problem={cancel.problem} />
      <form class="inline" aria-label={`Declare maintenance of ${deviceName}`} onSubmit={submitWith(declare)}>
        <Field
          label="Starts (UTC)"
          name="startsAt"
          type="datetime-local"
          required
          value={form.startsAt}
          onInput={(e) => setForm({ ...form, startsAt: e.currentTarget.value })}
          problem={declare.problem}
        />
        <Field
          label="Hours"
          name="minutes"
          inputMode="decimal"
          required
          placeholder="2"
          value={form.hours}
          onInput={(e) => setForm({ ...form, hours: e.currentTarget.value })}
          problem={declare.problem}
        />
        <button type="submit" class="secondary" disabled={declare.busy}>
          Declare maintenance
        </button>
      </form>
      <FormError problem={declare.problem} />
    </section>
  );
}
