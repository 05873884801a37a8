import type { ApiClient } from '@p2pvps/protocol/client';
import type { ServerInfo, User } from '@p2pvps/protocol/schemas';
import { useState } from 'preact/hooks';
import { Field, FormError, submitWith, useAction } from '../ui.tsx';

/** Log in or sign up; on success the server sets the session cookie and we get the CSRF token. */
export function AuthView(props: {
  server: ServerInfo;
  api: ApiClient;
  mode: 'login' | 'signup';
  navigate: (path: string) => void;
  onSession: (s: { user: User; csrfToken: string }) => void;
}) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const signup = props.mode === 'signup';
  const submit = useAction(async () => {
    const session = await props.api.call('startSession', { body: { email, password, ...(signup ? { signup: true } : {}) } });
    props.onSession(session);
  });
  return (
    <main id="main" class="auth">
      <h1>{signup ? `Sign up to ${props.server.name}` : `Log in to ${props.server.name}`}</h1>
      <p>Rent small computers by the hour, or rent yours out.</p>
      <form onSubmit={submitWith(submit)}>
        <Field
          label="Email"
          name="email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onInput={(e) => setEmail(e.currentTarget.value)}
          problem={submit.problem}
        />
        <Field
          label="Password"
          name="password"
          type="password"
          autoComplete={signup ? 'new-password' : 'current-password'}
          required
          minLength={signup ? 10 : undefined}
          hint={signup ? 'At least 10 characters.' : undefined}
          value={password}
          onInput={(e) => setPassword(e.currentTarget.value)}
          problem={submit.problem}
        />
        <FormError problem={submit.problem} />
        <button type="submit" disabled={submit.busy}>
          {signup ? 'Sign up' : 'Log in'}
        </button>
      </form>
      <p>
        {signup ? 'Have an account? ' : 'New here? '}
        <a
          href={signup ? '/login' : '/signup'}
          onClick={(e) => {
            e.preventDefault();
            props.navigate(signup ? '/login' : '/signup');
          }}
        >
          {signup ? 'Log in' : 'Sign up'}
        </a>
      </p>
    </main>
  );
}
