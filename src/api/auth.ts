// Sign-in, sessions and roles for the web UI and the API (docs/ui.md).
//
// Users live in dataDir/users.json (mode 0600): name, role and an scrypt hash
// (N=2^14, r=8, p=1, 16-byte salt, 64-byte key; the parameters are stored
// with each hash so they can be raised later without breaking old ones).
// On first start, when the file does not exist, an "admin" user is created
// with http.adminPassword, else NAGARE_ADMIN_PASSWORD, else a generated
// password that the caller prints once.
//
// Sessions are in memory (a restart signs everyone out) and carry a CSRF
// token. The session cookie is HttpOnly + SameSite=Strict (+ Secure with
// http.secureCookies); every state-changing request made with the cookie must
// also send the session's token in X-CSRF-Token, which a cross-site page
// cannot read. Scripts use the bearer token (src/api/token.ts) instead: it
// acts as an admin and needs no CSRF token, since browsers never attach it
// on their own.
import { createHash, randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import { dirname, join } from "node:path";

export const ROLES = ["viewer", "editor", "admin"] as const;
export type Role = (typeof ROLES)[number];

export function isRole(s: unknown): s is Role {
  return typeof s === "string" && (ROLES as readonly string[]).includes(s);
}

/** Whether `have` is at least `need` (viewer < editor < admin). */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

interface UserRecord {
  name: string;
  role: Role;
  /** "scrypt$N$r$p$salt$hash" (base64url salt and hash). */
  hash: string;
  created: string;
}

export interface PublicUser {
  name: string;
  role: Role;
  created: string;
}

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 64 };

function scryptAsync(pw: string, salt: Buffer, keylen: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(pw, salt, keylen, { ...o, maxmem: 64 * 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export async function hashPassword(pw: string): Promise<string> {
  const salt = randomBytes(16);
  const { N, r, p, keylen } = SCRYPT;
  const key = await scryptAsync(pw, salt, keylen, { N, r, p });
  return `scrypt$${N}$${r}$${p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function verifyPassword(pw: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = parts.slice(1, 4).map(Number) as [number, number, number];
  const salt = Buffer.from(parts[4]!, "base64url");
  const want = Buffer.from(parts[5]!, "base64url");
  const got = await scryptAsync(pw, salt, want.length, { N, r, p });
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A user name: letters, digits, . _ - @, 1-64 characters. */
export const USER_NAME = /^[A-Za-z0-9._@-]{1,64}$/;
export const MIN_PASSWORD = 8;

export class UserStore {
  readonly path: string;
  private users = new Map<string, UserRecord>();
  /** A hash to verify against when the user does not exist (same time as a real check). */
  private dummy: Promise<string> | null = null;

  constructor(dataDir: string) {
    this.path = join(dataDir, "users.json");
  }

  /** Load the file; false when it does not exist yet. */
  load(): boolean {
    let text: string;
    try {
      text = readFileSync(this.path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
      throw err;
    }
    const v = JSON.parse(text) as { users?: UserRecord[] };
    this.users.clear();
    for (const u of v.users ?? []) {
      if (typeof u.name === "string" && isRole(u.role) && typeof u.hash === "string")
        this.users.set(u.name, u);
    }
    return true;
  }

  private save(): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = this.path + ".tmp";
    writeFileSync(tmp, JSON.stringify({ users: [...this.users.values()] }, null, 2) + "\n", { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.path);
  }

  list(): PublicUser[] {
    return [...this.users.values()]
      .map(({ name, role, created }) => ({ name, role, created }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): PublicUser | null {
    const u = this.users.get(name);
    return u ? { name: u.name, role: u.role, created: u.created } : null;
  }

  get size(): number {
    return this.users.size;
  }

  /** Create or replace a user. Throws on a bad name, role or password. */
  async set(name: string, role: Role, password: string): Promise<void> {
    if (!USER_NAME.test(name)) throw new AuthError(400, "user name must be 1-64 of A-Z a-z 0-9 . _ @ -");
    if (!isRole(role)) throw new AuthError(400, `role must be one of ${ROLES.join(", ")}`);
    if (password.length < MIN_PASSWORD)
      throw new AuthError(400, `password must be at least ${MIN_PASSWORD} characters`);
    const prev = this.users.get(name);
    this.users.set(name, {
      name,
      role,
      hash: await hashPassword(password),
      created: prev?.created ?? new Date().toISOString(),
    });
    this.save();
  }

  remove(name: string): boolean {
    const had = this.users.delete(name);
    if (had) this.save();
    return had;
  }

  /** The user when the password matches, else null (same cost for unknown users). */
  async verify(name: string, password: string): Promise<PublicUser | null> {
    const u = this.users.get(name);
    if (!u) {
      this.dummy ??= hashPassword(randomBytes(8).toString("hex"));
      await verifyPassword(password, await this.dummy);
      return null;
    }
    return (await verifyPassword(password, u.hash)) ? this.get(name) : null;
  }
}

export class AuthError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export interface AdminBootstrap {
  /** The password to print once (null: none was generated; it came from config/env or users exist). */
  generated: string | null;
  source: "existing" | "config" | "env" | "generated";
}

/** Load users; on first start create "admin" (see the file comment). */
export async function ensureAdmin(
  users: UserStore,
  configured: string,
  env: string | undefined,
): Promise<AdminBootstrap> {
  if (users.load() && users.size > 0) return { generated: null, source: "existing" };
  if (configured) {
    await users.set("admin", "admin", configured);
    return { generated: null, source: "config" };
  }
  if (env) {
    await users.set("admin", "admin", env);
    return { generated: null, source: "env" };
  }
  const pw = randomBytes(12).toString("base64url");
  await users.set("admin", "admin", pw);
  return { generated: pw, source: "generated" };
}

export interface Session {
  id: string;
  user: string;
  role: Role;
  csrf: string;
  expires: number;
}

/** Who a request is from. */
export interface Principal {
  user: string;
  role: Role;
  via: "session" | "token";
  session?: Session;
}

export const SESSION_COOKIE = "nagare_session";

export class Sessions {
  private readonly byHash = new Map<string, Session>();
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  // Keyed by a hash of the id, so a timing side channel in Map lookup says nothing about live ids.
  private static key(id: string): string {
    return createHash("sha256").update(id).digest("base64url");
  }

  create(user: string, role: Role): Session {
    this.sweep();
    const s: Session = {
      id: randomBytes(32).toString("base64url"),
      user,
      role,
      csrf: randomBytes(24).toString("base64url"),
      expires: this.now() + this.ttlMs,
    };
    this.byHash.set(Sessions.key(s.id), s);
    return s;
  }

  get(id: string): Session | null {
    const k = Sessions.key(id);
    const s = this.byHash.get(k);
    if (!s) return null;
    if (s.expires <= this.now()) {
      this.byHash.delete(k);
      return null;
    }
    return s;
  }

  delete(id: string): void {
    this.byHash.delete(Sessions.key(id));
  }

  /** End every session of a user (deleted, or role changed). */
  deleteUser(user: string): void {
    for (const [k, s] of this.byHash) if (s.user === user) this.byHash.delete(k);
  }

  private sweep(): void {
    const now = this.now();
    for (const [k, s] of this.byHash) if (s.expires <= now) this.byHash.delete(k);
  }

  get size(): number {
    return this.byHash.size;
  }
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

export function sessionCookie(id: string, maxAgeS: number, secure: boolean): string {
  return (
    `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAgeS}` +
    (secure ? "; Secure" : "")
  );
}

/** Constant-time string equality (hash both sides so lengths do not leak). */
export function safeEqual(a: string, b: string): boolean {
  const x = createHash("sha256").update(a).digest();
  const y = createHash("sha256").update(b).digest();
  return timingSafeEqual(x, y);
}

export function sessionFrom(req: IncomingMessage, sessions: Sessions): Session | null {
  const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
  return id ? sessions.get(id) : null;
}

/**
 * Failed sign-ins per client address: after `max` failures within the window,
 * further attempts are refused (429) until it passes. Bounded map.
 */
export class LoginLimiter {
  private readonly fails = new Map<string, { n: number; until: number }>();
  constructor(
    private readonly max = 10,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  blocked(addr: string): boolean {
    const e = this.fails.get(addr);
    if (!e) return false;
    if (e.until <= this.now()) {
      this.fails.delete(addr);
      return false;
    }
    return e.n >= this.max;
  }

  fail(addr: string): void {
    const e = this.fails.get(addr);
    if (e && e.until > this.now()) e.n++;
    else {
      if (this.fails.size >= 10_000) this.fails.clear();
      this.fails.set(addr, { n: 1, until: this.now() + this.windowMs });
    }
  }

  ok(addr: string): void {
    this.fails.delete(addr);
  }
}
