import { ApiClient } from '@p2pvps/protocol/client';
import type { ServerInfo, User } from '@p2pvps/protocol/schemas';
import { useEffect, useState } from 'preact/hooks';
import { AccountView } from './views/account.tsx';
import { AdminView } from './views/admin.tsx';
import { AuthView } from './views/auth.tsx';
import { DevicesView } from './views/devices.tsx';
import { MarketView } from './views/market.tsx';
import { RentalsView } from './views/rentals.tsx';
import { VerifyEmailView } from './views/verify-email.tsx';
import { Link, SessionContext, type Session } from './session.tsx';

const base = new ApiClient({ baseUrl: location.origin });

function usePath(): [string, (path: string) => void] {
  const [path, setPath] = useState(location.pathname);
  useEffect(() => {
    const onPop = () => setPath(location.pathname);
    addEventListener('popstate', onPop);
    return () => removeEventListener('popstate', onPop);
  }, []);
  const navigate = (to: string) => {
    if (to !== location.pathname) history.pushState(null, '', to);
    setPath(to);
    scrollTo(0, 0);
  };
  return [path, navigate];
}

export function App() {
  const [path, navigate] = usePath();
  const [server, setServer] = useState<ServerInfo>();
  const [auth, setAuth] = useState<{ user: User; csrfToken: string } | null | undefined>(undefined);
  const [version, setVersion] = useState(0);

  useEffect(() => {
    base.call('serverInfo').then(setServer, () => {});
    base.call('getSession').then(setAuth, () => setAuth(null));
  }, []);

  // Live updates: the server nudges us when one of our devices or rentals changes.
  useEffect(() => {
    if (!auth) return;
    const events = new EventSource('/api/v1/events');
    // A burst of changes (a tunnel coming up, then the rental starting) is one reload.
    let soon: ReturnType<typeof setTimeout> | undefined;
    events.addEventListener('changed', () => {
      soon ??= setTimeout(() => {
        soon = undefined;
        setVersion((v) => v + 1);
      }, 500);
    });
    const minute = setInterval(() => setVersion((v) => v + 1), 60_000);
    return () => {
      events.close();
      clearInterval(minute);
      clearTimeout(soon);
    };
  }, [auth]);

  if (!server || auth === undefined) return <p class="loading">Loading…</p>;
  // The link in the verification mail works logged in or not.
  if (path === '/verify-email') return <VerifyEmailView api={base} loggedIn={auth !== null} navigate={navigate} />;
  if (!auth) {
    return (
      <AuthView
        server={server}
        api={base}
        mode={path === '/signup' ? 'signup' : 'login'}
        navigate={navigate}
        onSession={(s) => {
          setAuth(s);
          if (path === '/login' || path === '/signup' || path === '/') navigate('/market');
        }}
      />
    );
  }
  const session: Session = {
    api: base.withCsrfToken(auth.csrfToken),
    user: auth.user,
    server,
    version,
    navigate,
    logout: async () => {
      await base.withCsrfToken(auth.csrfToken).call('endSession', { body: {} });
      setAuth(null);
      navigate('/login');
    },
  };
  const view = (() => {
    if (path === '/' || path === '/market' || path === '/login' || path === '/signup') return <MarketView />;
    if (path.startsWith('/rentals')) return <RentalsView focus={path.split('/')[2]} />;
    if (path.startsWith('/devices')) return <DevicesView />;
    if (path === '/account') return <AccountView />;
    if (path === '/admin' && auth.user.isAdmin) return <AdminView />;
    return (
      <section>
        <h1>Not found</h1>
        <p>There is no page at {path}.</p>
      </section>
    );
  })();
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header>
        <nav aria-label="Main">
          <span class="brand">{server.name}</span>
          <Link href="/market">Marketplace</Link>
          <Link href="/rentals">Rentals</Link>
          <Link href="/devices">My devices</Link>
          <Link href="/account">Account</Link>
          {auth.user.isAdmin && <Link href="/admin">Operator</Link>}
          <span class="who">
            {auth.user.email}{' '}
            <button type="button" class="link" onClick={() => void session.logout()}>
              Log out
            </button>
          </span>
        </nav>
      </header>
      <main id="main">{view}</main>
    </SessionContext.Provider>
  );
}
