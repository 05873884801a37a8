import type { ApiClient } from '@p2pvps/protocol/client';
import { useEffect, useState } from 'preact/hooks';
import { problemOf, type Problem } from '../ui.tsx';

/** Where the verification mail's link lands: hands its token to the API and says how it went. */
export function VerifyEmailView({ api, loggedIn, navigate }: { api: ApiClient; loggedIn: boolean; navigate: (path: string) => void }) {
  const [done, setDone] = useState<string | null>(null);
  const [problem, setProblem] = useState<Problem | null>(null);
  useEffect(() => {
    const token = new URLSearchParams(location.search).get('token') ?? '';
    api.call('verifyEmail', { body: { token } }).then(
      (r) => setDone(r.email),
      (err) => setProblem(problemOf(err)),
    );
  }, []);
  return (
    <main id="main" class="auth">
      <h1>Email address</h1>
      {done && <p role="status">Thank you: {done} is confirmed. The server will mail you about your rentals and devices.</p>}
      {problem && (
        <p class="error" role="alert">
          {problem.message}
        </p>
      )}
      {!done && !problem && <p>Confirming…</p>}
      <button type="button" onClick={() => navigate(loggedIn ? '/account' : '/login')}>
        {loggedIn ? 'To your account' : 'Log in'}
      </button>
    </main>
  );
}
