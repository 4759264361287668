// The signed-in user: a development token from the gateway's POST /dev/token, kept in
// sessionStorage so a reload keeps the session but a new tab starts signed out.

const KEY = "shop.session";

/** A signed-in user and their bearer token. */
export interface Session {
  user: string;
  token: string;
  expiresAt: string;
}

/** The stored session, if present and not expired. */
export function currentSession(): Session | undefined {
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return undefined;
  const session = JSON.parse(raw) as Session;
  if (Date.parse(session.expiresAt) <= Date.now()) {
    sessionStorage.removeItem(KEY);
    return undefined;
  }
  return session;
}

/** Asks the gateway for a development token for `user` and stores it. */
export async function signIn(user: string): Promise<Session> {
  const response = await fetch("/dev/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user }),
  });
  const body = (await response.json().catch(() => ({}))) as Partial<Session> & { message?: string };
  if (!response.ok || !body.token) {
    throw new Error(
      response.status === 404
        ? "Sign-in is not available: this gateway has development tokens turned off."
        : `Sign-in failed: ${body.message ?? response.statusText}`,
    );
  }
  const session: Session = {
    user: body.user ?? user,
    token: body.token,
    expiresAt: body.expiresAt ?? new Date(Date.now() + 3_600_000).toISOString(),
  };
  sessionStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

/** Forgets the session. */
export function signOut(): void {
  sessionStorage.removeItem(KEY);
}
