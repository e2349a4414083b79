// The HTTP side of sign-in: who a request is from, what it may do, and the
// /api/v1/auth/* and /api/v1/users* routes (docs/ui.md, "Roles").
//
//   POST   /api/v1/auth/login   {user, password} → {user, role, csrf} + session cookie (open)
//   POST   /api/v1/auth/logout  ends the session
//   GET    /api/v1/auth/me      {user, role, via, csrf}
//   GET    /api/v1/users        the users (admin)
//   POST   /api/v1/users        {name, role, password}: create or replace (admin)
//   DELETE /api/v1/users/NAME   (admin)
import type { IncomingMessage, ServerResponse } from "node:http";
import { readJson } from "./query.js";
import {
  AuthError,
  LoginLimiter,
  Sessions,
  isRole,
  roleAtLeast,
  safeEqual,
  sessionCookie,
  sessionFrom,
  type Principal,
  type Role,
  type UserStore,
} from "./auth.js";
import { checkBearer } from "./token.js";

export interface AuthOptions {
  users: UserStore;
  /** Session lifetime. */
  sessionTtlMs: number;
  /** Add Secure to the cookie (the UI is reached over https, e.g. behind a proxy). */
  secureCookies: boolean;
}

/**
 * POSTs that change nothing (queries, logout, cancelling one's own query):
 * open to viewers. Every other non-GET request needs an editor.
 */
function readOnlyPost(path: string): boolean {
  return (
    path === "/api/v1/sql" ||
    path.startsWith("/api/v1/sql/") ||
    path === "/api/v1/flows/query" ||
    path === "/api/v1/auth/logout" ||
    // Running a saved query or a dashboard widget reads only (src/content/routes.ts).
    /^\/api\/v1\/queries\/[^/]+\/run$/.test(path) ||
    /^\/api\/v1\/dashboards\/[^/]+\/widgets\/[^/]+\/run$/.test(path)
  );
}

export function requiredRole(method: string, path: string): Role {
  if (path === "/api/v1/users" || path.startsWith("/api/v1/users/")) return "admin";
  if (method === "GET" || method === "HEAD") return "viewer";
  return readOnlyPost(path) ? "viewer" : "editor";
}

type Reply = (status: number, body: unknown, headers?: Record<string, string>) => void;

export class HttpAuth {
  readonly users: UserStore;
  readonly sessions: Sessions;
  private readonly ttlMs: number;
  private readonly secure: boolean;
  private readonly limiter = new LoginLimiter();

  constructor(opts: AuthOptions) {
    this.users = opts.users;
    this.ttlMs = opts.sessionTtlMs;
    this.secure = opts.secureCookies;
    this.sessions = new Sessions(opts.sessionTtlMs);
  }

  /**
   * The principal of an /api request, checked against the route's role and,
   * for a cookie session's state-changing request, the CSRF header. Writes
   * 401/403 and returns null when refused.
   */
  authorize(
    req: IncomingMessage,
    token: string,
    method: string,
    path: string,
    reply: Reply,
  ): Principal | null {
    let who: Principal | null = null;
    if (checkBearer(req.headers.authorization, token))
      who = { user: "api-token", role: "admin", via: "token" };
    else {
      const s = sessionFrom(req, this.sessions);
      if (s) who = { user: s.user, role: s.role, via: "session", session: s };
    }
    if (!who) {
      reply(
        401,
        { error: "sign in (session cookie) or send the bearer token (dataDir/api-token)" },
        {
          "WWW-Authenticate": 'Bearer realm="nagare"',
        },
      );
      return null;
    }
    if (who.session && method !== "GET" && method !== "HEAD") {
      const h = req.headers["x-csrf-token"];
      if (typeof h !== "string" || !safeEqual(h, who.session.csrf)) {
        reply(403, { error: "missing or wrong X-CSRF-Token header" });
        return null;
      }
    }
    const need = requiredRole(method, path);
    if (!roleAtLeast(who.role, need)) {
      reply(403, { error: `needs the ${need} role (you are ${who.role})` });
      return null;
    }
    return who;
  }

  /** POST /api/v1/auth/login (no principal needed). */
  async login(req: IncomingMessage, res: ServerResponse, reply: Reply): Promise<void> {
    // A JSON content type cannot be sent cross-site without a CORS preflight,
    // which this server never grants: a forged login form cannot post here.
    if (!/^application\/json\b/i.test(req.headers["content-type"] ?? ""))
      return reply(415, { error: "Content-Type must be application/json" });
    const addr = req.socket.remoteAddress ?? "?";
    if (this.limiter.blocked(addr)) return reply(429, { error: "too many failed sign-ins; wait a minute" });
    let body: Record<string, unknown>;
    try {
      body = await readJson(req, 64 * 1024);
    } catch (err) {
      return reply(400, { error: err instanceof Error ? err.message : String(err) });
    }
    const { user, password } = body;
    if (typeof user !== "string" || typeof password !== "string")
      return reply(400, { error: "user and password (strings) are required" });
    const u = await this.users.verify(user, password);
    if (!u) {
      this.limiter.fail(addr);
      return reply(401, { error: "wrong user or password" });
    }
    this.limiter.ok(addr);
    const s = this.sessions.create(u.name, u.role);
    res.setHeader("Set-Cookie", sessionCookie(s.id, Math.floor(this.ttlMs / 1000), this.secure));
    reply(200, { user: u.name, role: u.role, csrf: s.csrf });
  }

  /** The other /api/v1/auth/* and /api/v1/users* routes; false when the path is not one of them. */
  async route(
    who: Principal,
    method: string,
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
    reply: Reply,
  ): Promise<boolean> {
    if (path === "/api/v1/auth/me" && method === "GET") {
      reply(200, { user: who.user, role: who.role, via: who.via, csrf: who.session?.csrf ?? null });
      return true;
    }
    if (path === "/api/v1/auth/logout" && method === "POST") {
      if (who.session) this.sessions.delete(who.session.id);
      res.setHeader("Set-Cookie", sessionCookie("", 0, this.secure));
      reply(200, { ok: true });
      return true;
    }
    if (path === "/api/v1/users" && method === "GET") {
      reply(200, this.users.list());
      return true;
    }
    try {
      if (path === "/api/v1/users" && method === "POST") {
        const b = await readJson(req, 64 * 1024);
        const { name, role, password } = b;
        if (typeof name !== "string" || typeof password !== "string" || !isRole(role))
          throw new AuthError(400, "name, password (strings) and role (viewer, editor, admin) are required");
        const existed = this.users.get(name) !== null;
        await this.users.set(name, role, password);
        // A changed role or password must not leave old sessions with the old rights.
        this.sessions.deleteUser(name);
        reply(existed ? 200 : 201, this.users.get(name));
        return true;
      }
      const m = /^\/api\/v1\/users\/([^/]+)$/.exec(path);
      if (m && method === "DELETE") {
        let name: string;
        try {
          name = decodeURIComponent(m[1]!);
        } catch {
          throw new AuthError(400, "bad user name in the path");
        }
        if (name === who.user) throw new AuthError(400, "you cannot delete yourself");
        if (!this.users.remove(name)) throw new AuthError(404, `no user ${name}`);
        this.sessions.deleteUser(name);
        reply(200, { ok: true });
        return true;
      }
    } catch (err) {
      if (err instanceof AuthError) {
        reply(err.status, { error: err.message });
        return true;
      }
      const status = (err as { status?: unknown }).status;
      if (typeof status === "number") {
        reply(status, { error: (err as Error).message });
        return true;
      }
      throw err;
    }
    return false;
  }
}
