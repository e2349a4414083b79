// The API client: session cookie + the CSRF token on every state-changing request.
export interface Me {
  user: string;
  role: "viewer" | "editor" | "admin";
  csrf: string | null;
}

export const session: { me: Me | null } = { me: null };

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Called on 401: the session ended (logout elsewhere, restart, expiry). */
export let onUnauthorized: () => void = () => undefined;
export function setOnUnauthorized(fn: () => void): void {
  onUnauthorized = fn;
}

export async function api<T>(path: string, opts: { method?: string; body?: unknown } = {}): Promise<T> {
  const method = opts.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.me?.csrf) headers["X-CSRF-Token"] = session.me.csrf;
  const res = await fetch(path, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: "same-origin",
  });
  const text = await res.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text };
  }
  if (!res.ok) {
    if (res.status === 401 && path !== "/api/v1/auth/login") onUnauthorized();
    const msg = (data as { error?: string } | null)?.error ?? `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return data as T;
}
