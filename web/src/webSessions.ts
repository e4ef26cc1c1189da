import { randomBytes } from 'node:crypto';

/** What the gateway keeps for one signed-in browser; never sent to it. */
export type WebSession = {
  id: string;
  accessToken: string;
  /** Epoch ms at which the access token expires. */
  accessExpiresAt: number;
  /** A password sign-in's refresh token (rotated on each refresh). */
  refreshToken?: string;
  /** An API-key sign-in keeps the key to sign in again when the access token runs out. */
  apiKey?: string;
  email?: string;
  subject: string;
  tenantId: string | null;
  role: string;
  scopes: string[];
  lastSeenAt: number;
  /** A refresh under way: concurrent requests wait for it instead of rotating twice. */
  renewing?: Promise<void>;
};

export type WebSessionStore = ReturnType<typeof createWebSessionStore>;

/**
 * Sessions in this process's memory, keyed by a 256-bit random id (the cookie's value). A
 * restart signs everyone out, which is the safe direction; an idle session ends after
 * `idleMs`, and past `maxSessions` the least recently used one is dropped.
 */
export function createWebSessionStore(options: { idleMs: number; maxSessions: number; now?: () => number }) {
  const now = options.now ?? Date.now;
  // A Map keeps insertion order: touching a session moves it to the end, so the first is the stalest.
  const sessions = new Map<string, WebSession>();

  return {
    create(fields: Omit<WebSession, 'id' | 'lastSeenAt'>): WebSession {
      const session: WebSession = { ...fields, id: randomBytes(32).toString('base64url'), lastSeenAt: now() };
      sessions.set(session.id, session);
      while (sessions.size > options.maxSessions) {
        const stalest = sessions.keys().next().value;
        if (stalest === undefined) break;
        sessions.delete(stalest);
      }
      return session;
    },
    get(id: string | undefined): WebSession | undefined {
      if (!id) return undefined;
      const session = sessions.get(id);
      if (!session) return undefined;
      if (now() - session.lastSeenAt > options.idleMs) {
        sessions.delete(id);
        return undefined;
      }
      session.lastSeenAt = now();
      sessions.delete(id);
      sessions.set(id, session);
      return session;
    },
    delete(id: string): void {
      sessions.delete(id);
    },
    get size(): number {
      return sessions.size;
    },
  };
}

/** The claims of an access token the gateway shows the page (it never verifies: the APIs do). */
export function claimsOf(token: string): {
  subject: string;
  tenantId: string | null;
  role: string;
  scopes: string[];
  expiresAt: number;
} {
  const payload = token.split('.')[1] ?? '';
  let claims: Record<string, unknown> = {};
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    // An unreadable token: the APIs will refuse it; show nothing of it.
  }
  return {
    subject: typeof claims['sub'] === 'string' ? claims['sub'] : '',
    tenantId: typeof claims['tenant_id'] === 'string' ? claims['tenant_id'] : null,
    role: typeof claims['role'] === 'string' ? claims['role'] : '',
    scopes: typeof claims['scope'] === 'string' ? claims['scope'].split(' ').filter(Boolean) : [],
    expiresAt: typeof claims['exp'] === 'number' ? claims['exp'] * 1000 : 0,
  };
}
