import { useSession } from '../app.tsx';
import { ErrorText, Time, useAction, useLoad } from '../ui.tsx';

/** Where the dashboard is logged in: each browser session, when it ends, and a button to end it. */
export function BrowserSessions() {
  const { api, logout } = useSession();
  const sessions = useLoad(() => api.call('listSessions'), []);
  // This browser's own session ends the way the header's logout does (it also clears the cookie).
  const end = useAction(async (id: string, current: boolean) => {
    if (current) return logout();
    await api.call('revokeSession', { params: { sessionId: id }, body: {} });
    sessions.refresh();
  });
  return (
    <section aria-labelledby="sessions-title">
      <h2 id="sessions-title">Where you are logged in</h2>
      <p>A browser session ends 30 days after you log in, or after a week unused.</p>
      <ul>
        {sessions.data?.sessions.map((s) => (
          <li key={s.id}>
            {s.name.replace(/^browser: /, '')}
            {s.current ? ' (this browser)' : ''}, logged in <Time iso={s.createdAt} />, last used <Time iso={s.lastUsedAt} />, ends{' '}
            <Time iso={s.expiresAt} />{' '}
            <button type="button" class="secondary" onClick={() => void end.run(s.id, s.current)} aria-label={`Log out session ${s.name}`}>
              Log out
            </button>
          </li>
        ))}
      </ul>
      <ErrorText problem={sessions.problem ?? end.problem} />
    </section>
  );
}
