// SNMP interface poller against Debian's real net-snmp agent (snmpd 5.9.3)
// started here on a free loopback UDP port, unprivileged config generated
// per run: a v2c community, a v3 authPriv user (SHA / AES), and one ifAlias
// set through a rw community so descriptions are not all empty. The agent
// serves the machine's real interfaces (lo, eth0 …): what the poller reads
// must equal what Debian's snmpwalk reads from the same agent.
// Fails (never skips) when snmpd or snmpwalk is missing: .ci/setup.d/50-snmpd.sh installs them.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { defaultInterfacesConfig, type InterfacesConfig } from "../src/enrich/interfaces/config.js";
import { createInterfaceSource } from "../src/enrich/interfaces/index.js";
import { IF_OIDS, SnmpPoller, type IfColumn, type SnmpRow } from "../src/enrich/interfaces/snmp.js";

const run = promisify(execFile);
const SNMPD = process.env.NAGARE_SNMPD ?? "/usr/sbin/snmpd";
const SNMPWALK = process.env.NAGARE_SNMPWALK ?? "/usr/bin/snmpwalk";
const SNMPSET = join(SNMPWALK, "..", "snmpset");
const SNMPGET = join(SNMPWALK, "..", "snmpget");
const COMMUNITY = "nagare-ro";
const RW = "nagare-rw";
const V3 = { user: "nagareuser", authKey: "authpass-1234", privKey: "privpass-5678" };
const ALIAS = "Transit: NTT [10G] cid 4711";
// No MIB files: numeric OIDs only, and no warnings about missing MIBs.
const ENV = { ...process.env, MIBS: "", MIBDIRS: "/nonexistent" };

let dir = "";
let port = 0;
let snmpd: ChildProcess | null = null;
let snmpdLog = "";
let silent: Socket | null = null;
let silentPort = 0;

async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

async function startSnmpd(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), "nagare-snmpd-"));
  port = await freeUdpPort();
  const conf = join(dir, "snmpd.conf");
  writeFileSync(
    conf,
    [
      `rocommunity ${COMMUNITY} 127.0.0.1`,
      `rocommunity6 ${COMMUNITY} ::1`,
      `rwcommunity ${RW} 127.0.0.1`,
      `createUser ${V3.user} SHA "${V3.authKey}" AES "${V3.privKey}"`,
      `rouser ${V3.user} priv`,
      "",
    ].join("\n"),
  );
  // -f foreground, -Lo log to stdout, -C only our config; the persistent
  // directory (v3 engine boots, localized user keys) lives in the temp dir.
  snmpd = spawn(SNMPD, ["-f", "-Lo", "-C", "-c", conf, `udp:127.0.0.1:${port},udp6:[::1]:${port}`], {
    env: { ...ENV, SNMP_PERSISTENT_DIR: join(dir, "persist") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  snmpd.stdout!.on("data", (b: Buffer) => (snmpdLog += b.toString()));
  snmpd.stderr!.on("data", (b: Buffer) => (snmpdLog += b.toString()));
  // Ready when it answers a get.
  for (let i = 0; i < 50; i++) {
    try {
      await run(
        SNMPGET,
        ["-v2c", "-c", COMMUNITY, "-t", "0.2", "-r", "0", "-On", `127.0.0.1:${port}`, "1.3.6.1.2.1.1.3.0"],
        {
          env: ENV,
        },
      );
      return;
    } catch {
      if (snmpd.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`snmpd did not start on 127.0.0.1:${port}:\n${snmpdLog}`);
}

/** snmpwalk one column: ifIndex → value (numbers for Gauge/Integer, text for STRING). */
async function snmpwalk(col: IfColumn, args: string[]): Promise<Map<number, string | number>> {
  const { stdout } = await run(SNMPWALK, [...args, "-On", "-Oe", `127.0.0.1:${port}`, IF_OIDS[col]], {
    env: ENV,
  });
  const out = new Map<number, string | number>();
  for (const line of stdout.split("\n")) {
    const m = /^\.([\d.]+) = (?:([\w-]+): )?(.*)$/.exec(line);
    if (!m || !m[1]!.startsWith(IF_OIDS[col] + ".")) continue;
    const idx = Number(m[1]!.slice(IF_OIDS[col].length + 1));
    const type = m[2] ?? "STRING";
    let v: string | number = m[3]!;
    if (type === "STRING") v = v.startsWith('"') ? v.slice(1, -1).replace(/\\"/g, '"') : v;
    else v = Number(v);
    out.set(idx, typeof v === "string" ? v.trim() : v);
  }
  return out;
}

const V2_ARGS = ["-v2c", "-c", COMMUNITY];
const V3_ARGS = [
  "-v3",
  "-l",
  "authPriv",
  "-u",
  V3.user,
  "-a",
  "SHA",
  "-A",
  V3.authKey,
  "-x",
  "AES",
  "-X",
  V3.privKey,
];

/** Every column of the poller's rows equals snmpwalk's answer for the same column. */
async function assertSameAsSnmpwalk(rows: ReadonlyMap<number, SnmpRow>, args: string[]): Promise<void> {
  for (const col of Object.keys(IF_OIDS) as IfColumn[]) {
    const walked = await snmpwalk(col, args);
    const ours = new Map<number, string | number>();
    for (const [idx, r] of rows) if (r[col] !== undefined) ours.set(idx, r[col]!);
    assert.deepEqual(ours, walked, `column ${col}`);
  }
}

function cfg(over: (c: InterfacesConfig) => void): InterfacesConfig {
  const c = defaultInterfacesConfig();
  c.snmp.enabled = true;
  c.snmp.timeoutMs = 500;
  c.snmp.retries = 0;
  c.snmp.requestsPerSecond = 1000;
  over(c);
  return c;
}

before(async () => {
  for (const tool of [SNMPD, SNMPWALK, SNMPSET, SNMPGET])
    assert.ok(existsSync(tool), `${tool} is missing: install snmpd and snmp (.ci/setup.d/50-snmpd.sh)`);
  await startSnmpd();
  // An operator description on the last interface (ifAlias is writable in net-snmp's IF-MIB).
  const { stdout } = await run(SNMPWALK, [...V2_ARGS, "-On", `127.0.0.1:${port}`, IF_OIDS.ifName], {
    env: ENV,
  });
  const last = stdout.trim().split("\n").at(-1)!;
  const idx = /\.(\d+) = /.exec(last)![1]!;
  await run(SNMPSET, ["-v2c", "-c", RW, `127.0.0.1:${port}`, `${IF_OIDS.ifAlias}.${idx}`, "s", ALIAS], {
    env: ENV,
  });
  // Something that receives and never answers (the timeout case).
  silent = createSocket("udp4");
  await new Promise<void>((r) => silent!.bind(0, "127.0.0.1", () => r()));
  silentPort = silent.address().port;
});

after(() => {
  snmpd?.kill("SIGTERM");
  silent?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("SNMP interface poller against snmpd", () => {
  test("v2c: reads the same five IF-MIB columns as snmpwalk; lookup merges them", async () => {
    const exporter = "192.0.2.10";
    const src = createInterfaceSource(
      cfg((c) => {
        c.snmp.credentials = { "192.0.2.0/24": { version: "2c", community: COMMUNITY } };
        c.snmp.agents = { [exporter]: `127.0.0.1:${port}` };
      }),
    );
    await src.snmp.pollNow(exporter);
    const rows = src.snmp.rows(exporter)!;
    assert.ok(rows.size >= 1, "at least lo");
    await assertSameAsSnmpwalk(rows, V2_ARGS);
    // lo is ifIndex 1 on Linux; its ifHighSpeed is 10 (Mbps).
    const names = [...rows.values()].map((r) => r.ifName);
    assert.ok(names.includes("lo"), `interfaces: ${names.join(", ")}`);
    const loIdx = [...rows].find(([, r]) => r.ifName === "lo")![0];
    const lo = src.lookup(exporter, loIdx)!;
    assert.equal(lo.name, "lo");
    const loRow = rows.get(loIdx)!;
    assert.equal(lo.speedBps, loRow.ifHighSpeed! > 0 ? loRow.ifHighSpeed! * 1e6 : loRow.ifSpeed);
    const aliased = [...rows].find(([, r]) => r.ifAlias === ALIAS);
    assert.ok(aliased, "the ifAlias set through snmpset is read back");
    assert.equal(src.lookup(exporter, aliased[0])!.description, ALIAS);
    assert.equal(src.lookup(exporter, 999_999), null);
    const st = src.state().find((s) => s.name === `snmp:${exporter}`)!;
    assert.equal(st.status, "loaded");
    assert.equal(st.entries, rows.size);
    assert.equal(st.errors, 0);
    assert.equal(st.detail?.agent, `127.0.0.1:${port}`);
    assert.equal(st.detail?.version, "2c");
    assert.equal(src.state().find((s) => s.name === "snmp")!.status, "loaded");
    await src.stop();
  });

  test("v2c over IPv6: an IPv6 exporter mapped to an agent on [::1]", async () => {
    const exporter = "2001:db8::10";
    const src = createInterfaceSource(
      cfg((c) => {
        c.snmp.community = COMMUNITY;
        c.snmp.agents = { [exporter]: `[::1]:${port}` };
      }),
    );
    await src.snmp.pollNow(exporter);
    const st = src.state().find((s) => s.name === `snmp:${exporter}`)!;
    assert.equal(st.status, "loaded", String(st.lastError));
    assert.equal(st.detail?.agent, `[::1]:${port}`);
    await assertSameAsSnmpwalk(src.snmp.rows(exporter)!, V2_ARGS);
    await src.stop();
  });

  test("v3 authPriv (SHA / AES): same data as snmpwalk -v3", async () => {
    const exporter = "127.0.0.1";
    const src = createInterfaceSource(
      cfg((c) => {
        c.snmp.port = port;
        c.snmp.community = "not-this-one";
        c.snmp.credentials = {
          "127.0.0.0/8": {
            version: "3",
            user: V3.user,
            level: "authPriv",
            authProtocol: "sha",
            authKey: V3.authKey,
            privProtocol: "aes",
            privKey: V3.privKey,
            context: "",
          },
        };
      }),
    );
    await src.snmp.pollNow(exporter);
    const st = src.state().find((s) => s.name === `snmp:${exporter}`)!;
    assert.equal(st.status, "loaded", String(st.lastError));
    assert.equal(st.detail?.version, "3");
    await assertSameAsSnmpwalk(src.snmp.rows(exporter)!, V3_ARGS);
    await src.stop();
  });

  test("v3 with a wrong auth key: error state, no data", async () => {
    const src = createInterfaceSource(
      cfg((c) => {
        c.snmp.agents = { "192.0.2.11": `127.0.0.1:${port}` };
        c.snmp.credentials = {
          "192.0.2.11": {
            version: "3",
            user: V3.user,
            level: "authPriv",
            authProtocol: "sha",
            authKey: "wrong-auth-key",
            privProtocol: "aes",
            privKey: V3.privKey,
            context: "",
          },
        };
      }),
    );
    await src.snmp.pollNow("192.0.2.11");
    const st = src.state().find((s) => s.name === "snmp:192.0.2.11")!;
    assert.equal(st.status, "error");
    assert.equal(st.errors, 1);
    assert.equal(st.entries, 0);
    assert.match(st.lastError!, /Wrong Digest/);
    assert.equal(src.list("192.0.2.11").size, 0);
    await src.stop();
  });

  test("wrong community: error state, counted, no data; the agent counted a bad community", async () => {
    const badCommunities = async (): Promise<number> => {
      // SNMPv2-MIB snmpInBadCommunityNames.0
      const { stdout } = await run(
        SNMPGET,
        [...V2_ARGS, "-On", "-Oqv", `127.0.0.1:${port}`, "1.3.6.1.2.1.11.4.0"],
        {
          env: ENV,
        },
      );
      return Number(stdout.trim());
    };
    const before = await badCommunities();
    const exporter = "192.0.2.12";
    const src = createInterfaceSource(
      cfg((c) => {
        c.snmp.agents = { [exporter]: `127.0.0.1:${port}` };
        c.snmp.community = "wrong-community";
      }),
    );
    await src.snmp.pollNow(exporter);
    const st = src.state().find((s) => s.name === `snmp:${exporter}`)!;
    assert.equal(st.status, "error");
    assert.equal(st.errors, 1);
    assert.equal(st.entries, 0);
    assert.match(st.lastError!, /timeout: no answer .*community/);
    assert.equal(src.lookup(exporter, 1), null);
    assert.ok((await badCommunities()) > before, "snmpd saw the wrong community");
    const summary = src.state().find((s) => s.name === "snmp")!;
    assert.equal(summary.status, "error");
    assert.match(summary.lastError!, /^192\.0\.2\.12: timeout/);
    await src.stop();
  });

  test("timeout: an agent that never answers fails after (retries + 1) × timeout", async () => {
    const poller = new SnmpPoller(
      cfg((c) => {
        c.snmp.agents = { "192.0.2.13": `127.0.0.1:${silentPort}` };
        c.snmp.timeoutMs = 300;
        c.snmp.retries = 1;
      }).snmp,
    );
    let received = 0;
    silent!.on("message", () => received++);
    const t0 = Date.now();
    await poller.pollNow("192.0.2.13");
    const took = Date.now() - t0;
    const [st] = poller.states();
    assert.equal(st!.status, "error");
    assert.match(st!.lastError!, /after 2 tries of 300 ms/);
    assert.ok(took >= 550 && took < 5000, `took ${took} ms`);
    assert.equal(received, 2, "one request and one retry reached the socket");
    await poller.stop();
  });

  test("rate limit: requests to one agent are spaced by 1/requestsPerSecond", async () => {
    const poller = new SnmpPoller(
      cfg((c) => {
        c.snmp.agents = { "192.0.2.14": `127.0.0.1:${port}` };
        c.snmp.community = COMMUNITY;
        c.snmp.requestsPerSecond = 5;
        c.snmp.maxRepetitions = 1; // one row per column per request: several requests
      }).snmp,
    );
    const t0 = Date.now();
    await poller.pollNow("192.0.2.14");
    const took = Date.now() - t0;
    const [st] = poller.states();
    assert.equal(st!.status, "loaded", String(st!.lastError));
    const requests = Number(st!.detail?.requests);
    assert.ok(requests >= 2, `requests ${requests}`);
    assert.ok(took >= (requests - 1) * 200 - 20, `${requests} requests in ${took} ms`);
    await poller.stop();
  });

  test("maxConcurrentPolls 1: two agents are polled one after the other", async () => {
    const poller = new SnmpPoller(
      cfg((c) => {
        c.snmp.agents = { "192.0.2.16": `127.0.0.1:${port}`, "192.0.2.17": `127.0.0.1:${port}` };
        c.snmp.community = COMMUNITY;
        c.snmp.requestsPerSecond = 10;
        c.snmp.maxRepetitions = 1;
        c.snmp.maxConcurrentPolls = 1;
      }).snmp,
    );
    const t0 = Date.now();
    await Promise.all([poller.pollNow("192.0.2.16"), poller.pollNow("192.0.2.17")]);
    const took = Date.now() - t0;
    const states = poller.states();
    assert.deepEqual(
      states.map((s) => s.status),
      ["loaded", "loaded"],
    );
    // Each poll alone takes at least (requests - 1) × 100 ms; serialized, the sum.
    const alone = states.map((s) => (Number(s.detail?.requests) - 1) * 100);
    assert.ok(
      took >= alone[0]! + alone[1]! - 20,
      `two polls took ${took} ms, each alone ≥ ${alone.join(", ")} ms`,
    );
    const [a, b] = states.map((s) => ({
      end: Number(s.detail?.lastPollMs),
      dur: Number(s.detail?.lastDurationMs),
    }));
    assert.ok(b!.end - b!.dur >= a!.end - 5, "the second started when the first ended");
    await poller.stop();
  });

  test("cache file: the last good poll survives a restart without a new poll", async () => {
    const exporter = "192.0.2.18";
    const snmpCacheFile = join(dir, "cache", "snmp-interfaces.json");
    const c = cfg((c) => {
      c.snmp.agents = { [exporter]: `127.0.0.1:${port}` };
      c.snmp.community = COMMUNITY;
    });
    const first = createInterfaceSource(c, { snmpCacheFile });
    await first.snmp.pollNow(exporter);
    const rows = first.snmp.rows(exporter)!;
    assert.ok(rows.size >= 1);
    await first.stop(); // writes the cache
    assert.ok(existsSync(snmpCacheFile));

    const second = createInterfaceSource(c, { snmpCacheFile });
    await second.start();
    const st = second.state().find((s) => s.name === `snmp:${exporter}`)!;
    assert.equal(st.status, "loaded");
    assert.equal(st.detail?.polls, 0, "served from the cache, next poll when due");
    assert.ok(
      Number(st.detail?.nextPollMs) > Date.now() + 3_000_000,
      "next poll about pollIntervalSec after the cached one",
    );
    assert.deepEqual(second.snmp.rows(exporter), rows);
    assert.deepEqual(second.list(exporter), first.list(exporter));
    await second.stop();
  });

  test("first seen → polled, then again every pollIntervalSec; a failed poll keeps the old data", async () => {
    const exporter = "192.0.2.15";
    const c = cfg((c) => {
      c.snmp.agents = { [exporter]: `127.0.0.1:${port}` };
      c.snmp.community = COMMUNITY;
    });
    c.snmp.pollIntervalSec = 0.3; // below the validated minimum: a test-only speed-up
    c.snmp.retryIntervalSec = 0.3;
    const src = createInterfaceSource(c);
    await src.start();
    assert.equal(src.lookup(exporter, 1), null, "not polled yet: unknown, never a wait");
    const state = () => src.state().find((s) => s.name === `snmp:${exporter}`)!;
    for (let i = 0; i < 100 && Number(state().detail?.polls ?? 0) < 2; i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(Number(state().detail?.polls) >= 2, "polled at least twice");
    const known = src.list(exporter);
    assert.ok(known.size >= 1);
    assert.equal(src.lookup(exporter, [...known.keys()][0]!)?.name, [...known.values()][0]!.name);
    // The agent goes away: the next polls fail, the data stays.
    snmpd!.kill("SIGTERM");
    await new Promise<void>((r) => snmpd!.once("exit", () => r()));
    for (let i = 0; i < 100 && state().status !== "error"; i++) await new Promise((r) => setTimeout(r, 50));
    assert.equal(state().status, "error");
    assert.equal(state().entries, known.size, "old data still served");
    assert.equal(src.list(exporter).size, known.size);
    await src.stop();
  });
});
