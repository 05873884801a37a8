import type { ApiClient } from '@p2pvps/protocol/client';
import type { ServerInfo, User } from '@p2pvps/protocol/schemas';
import { createContext, type ComponentChildren } from 'preact';
import { useContext } from 'preact/hooks';

// The session every view reads, apart from app.tsx (which provides it and imports the
// views), so views do not import the app back.

/** What every view needs: the API client (with the session's CSRF token), who is logged in, the server, and the live-update counter. */
export interface Session {
  api: ApiClient;
  user: User;
  server: ServerInfo;
  /** Goes up whenever the server says something of ours changed, and every minute (balances move): views reload on it (not the statement, which is long). */
  version: number;
  navigate(path: string): void;
  logout(): Promise<void>;
}

export const SessionContext = createContext<Session | null>(null);
export const useSession = () => useContext(SessionContext)!;

/** A link the app handles itself (a normal link for the browser: middle-click and keyboard still work). */
export function Link({ href, children, class: cls }: { href: string; children: ComponentChildren; class?: string }) {
  const { navigate } = useSession();
  return (
    <a
      href={href}
      class={cls}
      aria-current={location.pathname === href ? 'page' : undefined}
      onClick={(e) => {
        if (e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(href);
      }}
    >
      {children}
    </a>
  );
}
