// Security tests of the HTTP API's sign-in: a real HttpApi on loopback with
// HttpAuth and the live aggregator, spoken to with fetch (no mocks).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { parseListen, type ListenAddress } from "../config/address.js";
import { CollectorStats } from "../collector/stats.js";
import { LiveAggregator } from "../live/aggregator.js";
import { HttpAuth, requiredRole } from "./auth-http.js";
import { Sessions, UserStore, ensureAdmin, hashPassword, verifyPassword } from "./auth.js";
import { HttpApi } from "./server.js";

const TOKEN = "t".repeat(24);
let dir = "";
let api: HttpApi;
let base = "";
let webDir = "";
const live = new LiveAggregator();

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "nagare-auth-"));
  webDir = join(dir, "web");
  const { mkdirSync } = await import("node:fs");
  mkdirSync(webDir);
  writeFileSync(join(webDir, "index.html"), "<!doctype html><title>ui</title>");
  writeFileSync(join(dir, "secret.txt"), "outside the web dir");
  const users = new UserStore(join(dir, "data"));
  await ensureAdmin(users, "admin-password", undefined);
  await users.set("ed", "editor", "editor-password");
  await users.set("vi", "viewer", "viewer-password");
  const stats = new CollectorStats();
  stats.exporter("192.0.2.1").packets = 5;
  api = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: TOKEN,
    stats,
    auth: new HttpAuth({ users, sessionTtlMs: 3600_000, secureCookies: false }),
    live,
    webDir,
  });
  await api.start();
  base = `http://${api.address}`;
});

after(async () => {
  await api.stop();
  await live.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Signed {
  cookie: string;
  csrf: string;
  setCookie: string;
}

async function login(user: string, password: string): Promise<Signed> {
  const r = await fetch(base + "/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user, password }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  const setCookie = r.headers.get("set-cookie") ?? "";
  const body = (await r.json()) as { csrf: string; role: string; user: string };
  assert.equal(body.user, user);
  return { cookie: setCookie.split(";")[0]!, csrf: body.csrf, setCookie };
}

function call(
  path: string,
  opts: { method?: string; cookie?: string; csrf?: string; bearer?: string; body?: unknown } = {},
): Promise<Response> {
  const headers: Record<string, string> = {};
  if (opts.cookie) headers.Cookie = opts.cookie;
  if (opts.csrf) headers["X-CSRF-Token"] = opts.csrf;
  if (opts.bearer) headers.Authorization = `Bearer ${opts.bearer}`;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  return fetch(base + path, {
    method: opts.method ?? "GET",
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
}

test("auth: no session or token → 401 on every API path; /healthz and the UI shell stay open", async () => {
  for (const p of [
    "/api/v1/exporters",
    "/api/v1/live?dim=protocol",
    "/api/v1/auth/me",
    "/api/v1/users",
    "/api/v1/nothing",
  ]) {
    const r = await call(p);
    assert.equal(r.status, 401, p);
    assert.match(r.headers.get("www-authenticate") ?? "", /Bearer/);
  }
  assert.equal((await call("/api/v1/users", { method: "POST", body: { name: "x" } })).status, 401);
  assert.equal((await call("/api/v1/exporters", { bearer: "wrong-token-wrong-token" })).status, 401);
  assert.equal((await call("/api/v1/exporters", { cookie: "nagare_session=forged" })).status, 401);
  assert.equal((await call("/healthz")).status, 200);
  const ui = await call("/");
  assert.equal(ui.status, 200);
  assert.match(ui.headers.get("content-security-policy") ?? "", /default-src 'self'.*frame-ancestors 'none'/);
  assert.match(await ui.text(), /<title>ui<\/title>/);
  // No escaping the web directory.
  assert.equal((await call("/..%2fsecret.txt")).status, 404);
  assert.equal((await call("/%2e%2e/secret.txt")).status, 404);
});

test("auth: the bearer token keeps working (as admin, no CSRF needed)", async () => {
  const r = await call("/api/v1/exporters", { bearer: TOKEN });
  assert.equal(r.status, 200);
  assert.equal(((await r.json()) as { exporter: string }[])[0]!.exporter, "192.0.2.1");
  const me = (await (await call("/api/v1/auth/me", { bearer: TOKEN })).json()) as {
    role: string;
    via: string;
  };
  assert.deepEqual([me.role, me.via], ["admin", "token"]);
  const created = await call("/api/v1/users", {
    method: "POST",
    bearer: TOKEN,
    body: { name: "script-made", role: "viewer", password: "script-password" },
  });
  assert.equal(created.status, 201);
});

test("auth: login sets a hardened cookie; wrong passwords and non-JSON logins are refused", async () => {
  const s = await login("admin", "admin-password");
  assert.match(s.setCookie, /^nagare_session=[A-Za-z0-9_-]{40,};/);
  assert.match(s.setCookie, /; HttpOnly/);
  assert.match(s.setCookie, /; SameSite=Strict/);
  assert.match(s.setCookie, /; Path=\//);
  assert.doesNotMatch(s.setCookie, /Secure/, "Secure only with http.secureCookies");
  const bad = await fetch(base + "/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: "admin", password: "nope-nope" }),
  });
  assert.equal(bad.status, 401);
  assert.equal(bad.headers.get("set-cookie"), null);
  const unknown = await fetch(base + "/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ user: "nobody", password: "nope-nope" }),
  });
  assert.equal(unknown.status, 401);
  // A cross-site HTML form can only send form encodings: refused.
  const form = await fetch(base + "/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: "user=admin&password=admin-password",
  });
  assert.equal(form.status, 415);
  const me = (await (await call("/api/v1/auth/me", { cookie: s.cookie })).json()) as {
    user: string;
    csrf: string;
  };
  assert.deepEqual([me.user, me.csrf], ["admin", s.csrf]);
});

test("auth: state-changing requests with a session need the CSRF token (missing or wrong → 403)", async () => {
  const s = await login("admin", "admin-password");
  const body = { name: "csrf-victim", role: "admin", password: "whatever-123" };
  const none = await call("/api/v1/users", { method: "POST", cookie: s.cookie, body });
  assert.equal(none.status, 403);
  assert.match(((await none.json()) as { error: string }).error, /CSRF/);
  const wrong = await call("/api/v1/users", {
    method: "POST",
    cookie: s.cookie,
    csrf: s.csrf.slice(1) + "x",
    body,
  });
  assert.equal(wrong.status, 403);
  // Another session's token does not do either.
  const other = await login("ed", "editor-password");
  assert.equal(
    (await call("/api/v1/users", { method: "POST", cookie: s.cookie, csrf: other.csrf, body })).status,
    403,
  );
  assert.equal((await call("/api/v1/users", { bearer: TOKEN })).status, 200);
  assert.ok(
    !((await (await call("/api/v1/users", { bearer: TOKEN })).json()) as { name: string }[]).some(
      (u) => u.name === "csrf-victim",
    ),
  );
  const ok = await call("/api/v1/users", { method: "POST", cookie: s.cookie, csrf: s.csrf, body });
  assert.equal(ok.status, 201);
  // Logout is state-changing too.
  assert.equal((await call("/api/v1/auth/logout", { method: "POST", cookie: s.cookie })).status, 403);
});

test("auth: viewers (and editors, for users) cannot write: 403 from the server", async () => {
  const v = await login("vi", "viewer-password");
  const tries: [string, string, unknown?][] = [
    ["POST", "/api/v1/users", { name: "evil", role: "admin", password: "evil-password" }],
    ["DELETE", "/api/v1/users/admin"],
    ["POST", "/api/v1/dashboards", {}],
    ["PUT", "/api/v1/queries/1", {}],
  ];
  for (const [method, path, body] of tries) {
    const r = await call(path, { method, cookie: v.cookie, csrf: v.csrf, body });
    assert.equal(r.status, 403, `${method} ${path}`);
  }
  assert.equal(
    (await call("/api/v1/users", { cookie: v.cookie })).status,
    403,
    "the user list is admin-only",
  );
  // Reads work for a viewer.
  assert.equal((await call("/api/v1/exporters", { cookie: v.cookie })).status, 200);
  const e = await login("ed", "editor-password");
  assert.equal(
    (
      await call("/api/v1/users", {
        method: "POST",
        cookie: e.cookie,
        csrf: e.csrf,
        body: { name: "z", role: "viewer", password: "zzzzzzzz" },
      })
    ).status,
    403,
  );
  assert.equal(requiredRole("POST", "/api/v1/sql"), "viewer");
  assert.equal(requiredRole("POST", "/api/v1/flows/query"), "viewer");
  assert.equal(requiredRole("POST", "/api/v1/dashboards"), "editor");
  assert.equal(requiredRole("GET", "/api/v1/users"), "admin");
});

test("auth: logout invalidates the session; deleting or changing a user ends theirs", async () => {
  const s = await login("admin", "admin-password");
  assert.equal((await call("/api/v1/exporters", { cookie: s.cookie })).status, 200);
  const out = await call("/api/v1/auth/logout", { method: "POST", cookie: s.cookie, csrf: s.csrf });
  assert.equal(out.status, 200);
  assert.match(out.headers.get("set-cookie") ?? "", /nagare_session=; .*Max-Age=0/);
  assert.equal((await call("/api/v1/exporters", { cookie: s.cookie })).status, 401);

  const admin = await login("admin", "admin-password");
  await call("/api/v1/users", {
    method: "POST",
    cookie: admin.cookie,
    csrf: admin.csrf,
    body: { name: "temp", role: "editor", password: "temp-password" },
  });
  const t = await login("temp", "temp-password");
  assert.equal((await call("/api/v1/exporters", { cookie: t.cookie })).status, 200);
  // Demoted: the old (editor) session is gone.
  await call("/api/v1/users", {
    method: "POST",
    cookie: admin.cookie,
    csrf: admin.csrf,
    body: { name: "temp", role: "viewer", password: "temp-password" },
  });
  assert.equal((await call("/api/v1/exporters", { cookie: t.cookie })).status, 401);
  const t2 = await login("temp", "temp-password");
  const del = await call("/api/v1/users/temp", { method: "DELETE", cookie: admin.cookie, csrf: admin.csrf });
  assert.equal(del.status, 200);
  assert.equal((await call("/api/v1/exporters", { cookie: t2.cookie })).status, 401);
  const self = await call("/api/v1/users/admin", {
    method: "DELETE",
    cookie: admin.cookie,
    csrf: admin.csrf,
  });
  assert.equal(self.status, 400);
});

test("auth: users.json holds scrypt hashes only, mode 0600; sessions expire", async () => {
  const path = join(dir, "data", "users.json");
  const text = readFileSync(path, "utf8");
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.doesNotMatch(text, /admin-password|viewer-password|editor-password/);
  assert.match(text, /"hash": "scrypt\$16384\$8\$1\$/);
  const h = await hashPassword("correct horse");
  assert.ok(await verifyPassword("correct horse", h));
  assert.ok(!(await verifyPassword("correct horsE", h)));
  let now = 1_000;
  const sessions = new Sessions(500, () => now);
  const s = sessions.create("a", "viewer");
  assert.equal(sessions.get(s.id)?.user, "a");
  now = 1_600;
  assert.equal(sessions.get(s.id), null);
});

test("auth: first start generates an admin password once; config and env win", async () => {
  const d = mkdtempSync(join(tmpdir(), "nagare-admin-"));
  try {
    const u1 = new UserStore(join(d, "a"));
    const first = await ensureAdmin(u1, "", undefined);
    assert.equal(first.source, "generated");
    assert.ok(first.generated && first.generated.length >= 12);
    assert.equal((await u1.verify("admin", first.generated))?.role, "admin");
    const again = await ensureAdmin(new UserStore(join(d, "a")), "", undefined);
    assert.deepEqual(again, { generated: null, source: "existing" });
    const u2 = new UserStore(join(d, "b"));
    assert.equal((await ensureAdmin(u2, "", "from-the-env")).source, "env");
    assert.ok(await u2.verify("admin", "from-the-env"));
    const u3 = new UserStore(join(d, "c"));
    assert.equal((await ensureAdmin(u3, "from-config", "from-the-env")).source, "config");
    assert.ok(await u3.verify("admin", "from-config"));
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test("auth: secureCookies adds Secure", async () => {
  const users = new UserStore(join(dir, "secure"));
  await ensureAdmin(users, "secure-password", undefined);
  const a = new HttpApi({
    listen: parseListen("127.0.0.1:0") as ListenAddress,
    token: TOKEN,
    stats: new CollectorStats(),
    auth: new HttpAuth({ users, sessionTtlMs: 60_000, secureCookies: true }),
  });
  await a.start();
  try {
    const r = await fetch(`http://${a.address}/api/v1/auth/login`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "admin", password: "secure-password" }),
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get("set-cookie") ?? "", /; Secure$/);
    assert.match(r.headers.get("set-cookie") ?? "", /Max-Age=60;/);
  } finally {
    await a.stop();
  }
});
