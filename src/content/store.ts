// Saved queries, dashboards and share links, persisted as JSON under
// <dataDir>/content/:
//
//   queries/<id>.json      {"versions": [SavedQuery v1, v2, …]}  every version kept
//   dashboards/<id>.json   {"versions": [Dashboard v1, v2, …]}
//   shares.json            [ShareLink, …]  (revoked ones kept, marked)
//   state.json             {"overviewCreated": true}  (a deleted Overview stays deleted)
//   results/<id>.json      the scheduled refresh's last result (schedule.ts)
//
// Every write is a whole file written to a temporary name and renamed over
// the old one, so a crash leaves the old or the new file, never half of one.
// Everything is loaded at start and served from memory: content is small
// (people write it by hand) and reads are far more frequent than writes.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { silentLogger, type Logger } from "../log.js";
import type {
  Dashboard,
  DashboardSummary,
  SavedQuery,
  SavedQuerySummary,
  ShareLink,
  VersionInfo,
} from "./types.js";
import {
  ContentError,
  ID_RE,
  dashboardFields,
  queryFields,
  type DashboardFields,
  type QueryFields,
} from "./validate.js";

/** A short random url-safe id (72 bits). */
export function newId(): string {
  return randomBytes(9).toString("base64url");
}

/** Write `data` to `path` atomically (temporary file in the same directory, then rename). */
export function writeAtomic(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

interface Versioned {
  id: string;
  version: number;
  updatedAt: string;
  updatedBy: string;
  name: string;
}

/** One kind of versioned content: a file per object holding all its versions. */
class Collection<T extends Versioned> {
  readonly items = new Map<string, T[]>();

  constructor(
    readonly dir: string,
    private readonly log: Logger,
  ) {}

  load(): void {
    mkdirSync(this.dir, { recursive: true });
    for (const f of readdirSync(this.dir)) {
      if (!f.endsWith(".json")) continue;
      const id = f.slice(0, -5);
      if (!ID_RE.test(id)) continue;
      try {
        const v = JSON.parse(readFileSync(join(this.dir, f), "utf8")) as { versions?: T[] };
        if (Array.isArray(v.versions) && v.versions.length > 0) this.items.set(id, v.versions);
      } catch (err) {
        // One damaged file must not take the others down; it stays on disk for a human.
        this.log.error("content file unreadable, skipped", { file: join(this.dir, f), error: String(err) });
      }
    }
  }

  current(id: string): T | null {
    const v = this.items.get(id);
    return v ? v[v.length - 1]! : null;
  }

  versions(id: string): T[] | null {
    return this.items.get(id) ?? null;
  }

  save(item: T): void {
    const list = this.items.get(item.id) ?? [];
    list.push(item);
    this.items.set(item.id, list);
    writeAtomic(join(this.dir, `${item.id}.json`), JSON.stringify({ versions: list }, null, 1) + "\n");
  }

  delete(id: string): boolean {
    if (!this.items.delete(id)) return false;
    rmSync(join(this.dir, `${id}.json`), { force: true });
    return true;
  }

  /** The object by id, else ContentError 404. */
  need(id: string, what: string): T {
    const c = ID_RE.test(id) ? this.current(id) : null;
    if (!c) throw new ContentError(404, `no ${what} ${id}`);
    return c;
  }

  info(id: string): VersionInfo[] | null {
    const v = this.items.get(id);
    if (!v) return null;
    return v
      .map((x) => ({ version: x.version, updatedAt: x.updatedAt, updatedBy: x.updatedBy, name: x.name }))
      .reverse();
  }
}

function checkBase(current: { version: number }, base: number | undefined, what: string): void {
  if (base !== undefined && base !== current.version)
    throw new ContentError(
      409,
      `${what} changed since version ${base} (now version ${current.version}): reload and edit again`,
    );
}

export class ContentStore {
  readonly dir: string;
  readonly queries: Collection<SavedQuery>;
  readonly dashboards: Collection<Dashboard>;
  private shares: ShareLink[] = [];
  private state: { overviewCreated?: boolean } = {};
  private readonly log: Logger;

  constructor(dir: string, log: Logger = silentLogger) {
    this.dir = dir;
    this.log = log;
    this.queries = new Collection(join(dir, "queries"), log);
    this.dashboards = new Collection(join(dir, "dashboards"), log);
  }

  get resultsDir(): string {
    return join(this.dir, "results");
  }

  /** Read everything from disk (creating the directories). */
  load(): void {
    mkdirSync(this.resultsDir, { recursive: true });
    this.queries.load();
    this.dashboards.load();
    this.shares = this.readJson<ShareLink[]>("shares.json", []);
    this.state = this.readJson<{ overviewCreated?: boolean }>("state.json", {});
  }

  private readJson<V>(name: string, fallback: V): V {
    const p = join(this.dir, name);
    if (!existsSync(p)) return fallback;
    try {
      return JSON.parse(readFileSync(p, "utf8")) as V;
    } catch (err) {
      this.log.error("content file unreadable, ignored", { file: p, error: String(err) });
      return fallback;
    }
  }

  // ---- saved queries ----

  listQueries(q = "", tag = ""): SavedQuerySummary[] {
    const needle = q.trim().toLowerCase();
    const out: SavedQuerySummary[] = [];
    for (const id of this.queries.items.keys()) {
      const s = this.queries.current(id)!;
      if (tag && !s.tags.includes(tag)) continue;
      if (needle) {
        const hay = [s.name, s.description, s.sql, ...s.tags].join("\n").toLowerCase();
        if (!hay.includes(needle)) continue;
      }
      out.push({
        id: s.id,
        name: s.name,
        description: s.description,
        tags: s.tags,
        version: s.version,
        updatedAt: s.updatedAt,
        updatedBy: s.updatedBy,
      });
    }
    return out.sort((a, b) => b.updatedAt.localeCompare(a.updatedAt) || a.name.localeCompare(b.name));
  }

  getQuery(id: string): SavedQuery {
    return this.queries.need(id, "query");
  }

  private newQuery(f: QueryFields, user: string, forkedFrom: string | null): SavedQuery {
    const now = new Date().toISOString();
    const q: SavedQuery = {
      id: newId(),
      ...f,
      version: 1,
      createdBy: user,
      createdAt: now,
      updatedBy: user,
      updatedAt: now,
      forkedFrom,
    };
    this.queries.save(q);
    return q;
  }

  createQuery(body: Record<string, unknown>, user: string): SavedQuery {
    return this.newQuery(queryFields(body), user, null);
  }

  private nextQuery(cur: SavedQuery, f: QueryFields, user: string): SavedQuery {
    const q: SavedQuery = {
      ...cur,
      ...f,
      version: cur.version + 1,
      updatedBy: user,
      updatedAt: new Date().toISOString(),
    };
    this.queries.save(q);
    return q;
  }

  updateQuery(id: string, body: Record<string, unknown>, user: string, base?: number): SavedQuery {
    const cur = this.getQuery(id);
    checkBase(cur, base, "query");
    return this.nextQuery(cur, queryFields(body, cur), user);
  }

  deleteQuery(id: string): void {
    this.getQuery(id);
    this.queries.delete(id);
    rmSync(join(this.resultsDir, `${id}.json`), { force: true });
  }

  forkQuery(id: string, user: string): SavedQuery {
    const src = this.getQuery(id);
    const name = `Copy of ${src.name}`.slice(0, 200);
    return this.newQuery({ ...pickQuery(src), name, schedule: null }, user, src.id);
  }

  queryVersions(id: string): VersionInfo[] {
    this.getQuery(id);
    return this.queries.info(id)!;
  }

  queryVersion(id: string, v: number): SavedQuery {
    const found = this.queries.versions(this.getQuery(id).id)!.find((x) => x.version === v);
    if (!found) throw new ContentError(404, `query ${id} has no version ${v}`);
    return found;
  }

  restoreQuery(id: string, v: number, user: string): SavedQuery {
    const old = this.queryVersion(id, v);
    return this.nextQuery(this.getQuery(id), pickQuery(old), user);
  }

  // ---- dashboards ----

  listDashboards(q = "", tag = ""): DashboardSummary[] {
    const needle = q.trim().toLowerCase();
    const out: DashboardSummary[] = [];
    for (const id of this.dashboards.items.keys()) {
      const d = this.dashboards.current(id)!;
      if (tag && !d.tags.includes(tag)) continue;
      if (needle && ![d.name, ...d.tags].join("\n").toLowerCase().includes(needle)) continue;
      out.push({
        id: d.id,
        name: d.name,
        tags: d.tags,
        version: d.version,
        updatedAt: d.updatedAt,
        updatedBy: d.updatedBy,
      });
    }
    return out.sort((a, b) =>
      a.id === "overview" ? -1 : b.id === "overview" ? 1 : a.name.localeCompare(b.name),
    );
  }

  getDashboard(id: string): Dashboard {
    return this.dashboards.need(id, "dashboard");
  }

  /** A new dashboard; `id` only for the built-in ones (Overview). */
  createDashboard(body: Record<string, unknown>, user: string, id = newId()): Dashboard {
    const f = dashboardFields(body);
    if (this.dashboards.current(id)) throw new ContentError(409, `dashboard ${id} exists`);
    const d: Dashboard = {
      id,
      ...f,
      version: 1,
      createdBy: user,
      updatedBy: user,
      updatedAt: new Date().toISOString(),
    };
    this.dashboards.save(d);
    return d;
  }

  updateDashboard(id: string, body: Record<string, unknown>, user: string, base?: number): Dashboard {
    const cur = this.getDashboard(id);
    checkBase(cur, base, "dashboard");
    return this.nextDashboard(cur, dashboardFields(body, cur), user);
  }

  private nextDashboard(cur: Dashboard, f: DashboardFields, user: string): Dashboard {
    const d: Dashboard = {
      ...cur,
      ...f,
      version: cur.version + 1,
      updatedBy: user,
      updatedAt: new Date().toISOString(),
    };
    this.dashboards.save(d);
    return d;
  }

  deleteDashboard(id: string): void {
    this.getDashboard(id);
    this.dashboards.delete(id);
    // Its share links die with it (a later dashboard never reuses the id, but be explicit).
    let changed = false;
    for (const s of this.shares) {
      if (s.dashboardId === id && !s.revoked) {
        s.revoked = true;
        changed = true;
      }
    }
    if (changed) this.saveShares();
  }

  dashboardVersions(id: string): VersionInfo[] {
    this.getDashboard(id);
    return this.dashboards.info(id)!;
  }

  dashboardVersion(id: string, v: number): Dashboard {
    const found = this.dashboards.versions(this.getDashboard(id).id)!.find((x) => x.version === v);
    if (!found) throw new ContentError(404, `dashboard ${id} has no version ${v}`);
    return found;
  }

  restoreDashboard(id: string, v: number, user: string): Dashboard {
    const old = this.dashboardVersion(id, v);
    const { name, tags, timeRange, refreshSec, params, filter, widgets } = old;
    return this.nextDashboard(
      this.getDashboard(id),
      { name, tags, timeRange, refreshSec, params, filter, widgets },
      user,
    );
  }

  /** Create the built-in Overview once, on the first start (a deleted one is not brought back). */
  ensureOverview(make: () => Record<string, unknown>): boolean {
    if (this.state.overviewCreated || this.dashboards.current("overview")) return false;
    this.createDashboard(make(), "nagare", "overview");
    this.state.overviewCreated = true;
    writeAtomic(join(this.dir, "state.json"), JSON.stringify(this.state) + "\n");
    return true;
  }

  // ---- share links ----

  private saveShares(): void {
    writeAtomic(join(this.dir, "shares.json"), JSON.stringify(this.shares, null, 1) + "\n");
  }

  createShare(dashboardId: string, user: string): ShareLink {
    this.getDashboard(dashboardId);
    // 192 bits: the token is the only credential of a share link.
    const s: ShareLink = {
      token: randomBytes(24).toString("base64url"),
      dashboardId,
      createdBy: user,
      createdAt: new Date().toISOString(),
      revoked: false,
    };
    this.shares.push(s);
    this.saveShares();
    return s;
  }

  listShares(dashboardId: string): ShareLink[] {
    this.getDashboard(dashboardId);
    return this.shares.filter((s) => s.dashboardId === dashboardId).map((s) => ({ ...s }));
  }

  revokeShare(dashboardId: string, token: string): ShareLink {
    const s = this.shares.find((x) => x.token === token && x.dashboardId === dashboardId);
    if (!s) throw new ContentError(404, "no such share link on this dashboard");
    if (!s.revoked) {
      s.revoked = true;
      this.saveShares();
    }
    return { ...s };
  }

  /** The live (not revoked) share link with this token and its dashboard, else null. */
  share(token: string): { link: ShareLink; dashboard: Dashboard } | null {
    const s = this.shares.find((x) => x.token === token);
    if (!s || s.revoked) return null;
    const d = this.dashboards.current(s.dashboardId);
    return d ? { link: { ...s }, dashboard: d } : null;
  }
}

function pickQuery(q: SavedQuery): QueryFields {
  const { name, description, sql, tags, params, visualizations, schedule } = q;
  return { name, description, sql, tags, params, visualizations, schedule };
}
