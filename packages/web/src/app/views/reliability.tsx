import { useState } from 'preact/hooks';
import { useSession } from '../session.tsx';
import { reliabilityBars } from '../logic.ts';
import { ErrorText, useLoad } from '../ui.tsx';

/**
 * A device's reliability over the last 30 days, a bar per day, behind a disclosure so the
 * market loads a device's history only when someone opens it. The owner's device page
 * reads its own route (a device off the market is still theirs to see).
 */
export function ReliabilityHistory({ deviceId, owned }: { deviceId: string; owned: boolean }) {
  const [open, setOpen] = useState(false);
  return (
    <details class="reliability" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Reliability history</summary>
      {open && <ReliabilityChart deviceId={deviceId} owned={owned} />}
    </details>
  );
}

function ReliabilityChart({ deviceId, owned }: { deviceId: string; owned: boolean }) {
  const { api } = useSession();
  const history = useLoad(() => api.call(owned ? 'deviceReliability' : 'listingReliability', { params: { deviceId } }), [deviceId, owned]);
  if (history.problem) return <ErrorText problem={history.problem} />;
  if (!history.data) return <p>Loading…</p>;
  const bars = reliabilityBars(history.data.days);
  return (
    <figure>
      <ol class="reliability-chart" aria-label="Score per day, last 30 days">
        {bars.map((b) => (
          <li key={b.day} title={b.label} aria-label={b.label} class={b.height === 0 ? 'off' : ''}>
            <span style={{ height: `${Math.max(b.height, 2)}%` }} />
          </li>
        ))}
      </ol>
      <figcaption>
        The last 30 days, oldest first: each bar is that day&apos;s score; days off the market have none. The score counts the time the
        device was online while on the market or rented, less 3 points per failed start and 10 per lost rental; downtime in a maintenance
        window declared ahead counts a quarter.
      </figcaption>
    </figure>
  );
}
