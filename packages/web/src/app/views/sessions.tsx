import { useSession } from '../session.tsx';
import { useState } from 'preact/hooks';
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

/** Until the address is confirmed, the server mails it nothing but the link: say so, and offer the link again. */
export function EmailUnverified() {
  const { api, user } = useSession();
  const [sent, setSent] = useState(false);
  const resend = useAction(async () => {
    await api.call('resendEmailVerification', { body: {} });
    setSent(true);
  });
  if (user.emailVerified) return null;
  return (
    <section aria-labelledby="verify-title" class="notice">
      <h2 id="verify-title">Confirm your email address</h2>
      <p>
        We mailed a link to {user.email}. Until you open it, the server sends you no mail about your rentals and devices (their passwords,
        endings, outages).
      </p>
      <button type="button" class="secondary" disabled={resend.busy} onClick={() => void resend.run()}>
        Send the link again
      </button>
      {sent && <p role="status">Sent (at most one a minute). Look in your inbox.</p>}
      <ErrorText problem={resend.problem} />
    </section>
  );
}
