// Interface names from real options data (Cisco IOS XR IPFIX captures, with
// tshark as the reference), static config, the merge order, the config
// validator and the /api/v1/enrichment routes over real HTTP.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FlowDecoder } from "../src/collector/decoder.js";
import { parseIp } from "../src/collector/ip.js";
import { CollectorStats } from "../src/collector/stats.js";
import { RecordSink, type OptionsRecord } from "../src/collector/types.js";
import { ConfigError } from "../src/config/schema.js";
import { parseListen, type ListenAddress } from "../src/config/address.js";
import { HttpApi } from "../src/api/server.js";
import { HttpAuth } from "../src/api/auth-http.js";
import { UserStore } from "../src/api/auth.js";
import {
  createInterfaceSource,
  defaultInterfacesConfig,
  validateInterfacesConfig,
  type InterfaceDetail,
  type InterfacesConfig,
} from "../src/enrich/interfaces/index.js";
import { EnrichmentRoutes } from "../src/enrich/routes.js";
import type { SourceState } from "../src/enrich/types.js";
import { filePorts, readUnitDatagrams, unit } from "./helpers/captures.js";
import { TSHARK, requireTshark } from "./helpers/tshark.js";

/** Every options record of a capture unit, decoded by the product's decoder in capture order. */
function optionsOf(unitName: string): OptionsRecord[] {
  const out: OptionsRecord[] = [];
  const decoder = new FlowDecoder({ stats: new CollectorStats() });
  const sink = new RecordSink(
    () => {},
    (r) => out.push(r),
  );
  for (const d of readUnitDatagrams(unit(unitName))) {
    const exporterIp = parseIp(d.srcAddr) ?? new Uint8Array(16);
    decoder.decode(d.payload, { exporter: d.srcAddr, exporterIp, receivedMs: d.timeMs }, sink);
  }
  return out;
}

/**
 * tshark's view: (exporter, ifIndex) → [ifName, ifDescr], the last record
 * per interface winning. In these captures an options data record's scope
 * ingressInterface is the only cflow.inputint of its frame (the frames that
 * carry names carry no flows): the three lists line up, which is asserted.
 */
function tsharkNames(unitName: string): Map<string, [string, string]> {
  requireTshark();
  const u = unit(unitName);
  const out = new Map<string, [string, string]>();
  for (const f of u.files) {
    const decodeAs = filePorts(f).flatMap((p) => ["-d", `udp.port==${p.port},cflow`]);
    const text = execFileSync(
      TSHARK,
      [
        "-r",
        f.path,
        ...decodeAs,
        "-Y",
        "cflow.if_name",
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "aggregator=\x1f",
      ].concat([
        "-e",
        "ip.src",
        "-e",
        "ipv6.src",
        "-e",
        "cflow.inputint",
        "-e",
        "cflow.if_name",
        "-e",
        "cflow.if_descr",
      ]),
      { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
    );
    for (const line of text.split("\n").filter(Boolean)) {
      const [v4, v6, idx, names, descrs] = line.split("\t");
      const exporter = v4 || v6!;
      const i = idx!.split("\x1f");
      const n = names!.split("\x1f");
      const d = descrs!.split("\x1f");
      assert.equal(i.length, n.length, `frame fields line up: ${line}`);
      assert.equal(d.length, n.length, `frame fields line up: ${line}`);
      i.forEach((ix, k) => out.set(`${exporter}|${Number(ix)}`, [n[k]!, d[k]!]));
    }
  }
  return out;
}

describe("options data (real IOS XR captures)", () => {
  for (const unitName of ["pmacct__112__traffic-00", "pmacct__500__traffic-00"]) {
    test(`${unitName}: names and descriptions equal tshark's, last record per ifIndex wins`, () => {
      const src = createInterfaceSource(defaultInterfacesConfig());
      for (const r of optionsOf(unitName)) src.options(r);
      const expected = tsharkNames(unitName);
      assert.ok(expected.size >= 4, `tshark sees ${expected.size} named interfaces`);
      const ours = new Map<string, [string, string]>();
      for (const e of src.exporters())
        for (const [idx, i] of src.list(e)) ours.set(`${e}|${idx}`, [i.name, i.description]);
      assert.deepEqual(ours, expected);
      const st = src.state().find((s) => s.name === "interfaces:options")!;
      assert.equal(st.status, "loaded");
      assert.equal(st.entries, expected.size);
    });
  }

  test("pmacct 112: ifIndex 167 is re-assigned from TenGigE0/0/0/16.121 to .100 (the later record wins)", () => {
    const src = createInterfaceSource(defaultInterfacesConfig());
    const recs = optionsOf("pmacct__112__traffic-00");
    let seen121 = false;
    for (const r of recs) {
      src.options(r);
      if (src.lookup("2001:db8:90::1", 167)?.name === "TenGigE0_0_0_16.121") seen121 = true;
    }
    assert.ok(seen121, "the first assignment was served while it was current");
    assert.deepEqual(src.lookup("2001:db8:90::1", 167), {
      name: "TenGigE0_0_0_16.100",
      description: "TenGigE0/0/0/16.100",
      speedBps: 0,
    });
    const st = src.state().find((s) => s.name === "interfaces:options")!;
    assert.ok(Number(st.detail?.changes) > st.entries, "the re-assignment counted as a change");
  });

  test("options data disabled: records are ignored", () => {
    const cfg = defaultInterfacesConfig();
    cfg.options.enabled = false;
    const src = createInterfaceSource(cfg);
    for (const r of optionsOf("pmacct__500__traffic-00")) src.options(r);
    assert.deepEqual(src.exporters(), []);
    assert.equal(src.state().find((s) => s.name === "interfaces:options")!.status, "disabled");
  });

  test("NetFlow v9 scope 'interface' and a plain ingressInterface field name the ifIndex too", () => {
    const src = createInterfaceSource(defaultInterfacesConfig());
    const base = { exporter: "192.0.2.1", version: 9, observationDomainId: 0, templateId: 256 };
    src.options({ ...base, scope: { interface: 7 }, fields: { interfaceName: "Gi0/7" } });
    src.options({
      ...base,
      scope: { system: 0 },
      fields: { ingressInterface: 8, interfaceDescription: "uplink" },
    });
    src.options({ ...base, scope: { system: 0 }, fields: { interfaceName: "no index" } });
    src.options({ ...base, scope: { samplerId: 1 }, fields: { samplingInterval: 100 } });
    assert.equal(src.lookup("192.0.2.1", 7)?.name, "Gi0/7");
    assert.equal(src.lookup("192.0.2.1", 8)?.description, "uplink");
    const st = src.state().find((s) => s.name === "interfaces:options")!;
    assert.equal(st.entries, 2);
    assert.equal(st.detail?.withoutIfIndex, 1);
  });
});

describe("static config and merge order", () => {
  const EXP = "2001:db8:90::1";
  function withStatic(priority?: InterfacesConfig["priority"]): ReturnType<typeof createInterfaceSource> {
    const cfg = validateInterfacesConfig({
      ...(priority ? { priority } : {}),
      static: {
        [EXP]: {
          "55": { name: "hu-0/0/0/11", speedBps: 100_000_000_000 },
          "9999": { name: "static-only", description: "Transit: NTT", speedBps: 10_000_000_000 },
        },
      },
    });
    const src = createInterfaceSource(cfg);
    for (const r of optionsOf("pmacct__112__traffic-00")) src.options(r);
    return src;
  }

  test("static > options by default, field by field: static name and speed, options description fills", () => {
    const src = withStatic();
    assert.deepEqual(src.lookup(EXP, 55), {
      name: "hu-0/0/0/11",
      description: "HundredGigE0/0/0/11",
      speedBps: 100_000_000_000,
    });
    assert.deepEqual(src.lookup(EXP, 9999), {
      name: "static-only",
      description: "Transit: NTT",
      speedBps: 10e9,
    });
    assert.equal(src.lookup(EXP, 87)?.name, "TenGigE0_0_0_12", "options data alone");
    const d = src.details(EXP).find((x) => x.ifIndex === 55)!;
    assert.deepEqual(d.from, { name: "static", description: "options", speedBps: "static" });
    const st = src.state().find((s) => s.name === "interfaces:static")!;
    assert.equal(st.status, "loaded");
    assert.equal(st.entries, 2);
  });

  test("priority [options, static]: options names win, static still fills speed", () => {
    const src = withStatic(["options", "static"]);
    assert.deepEqual(src.lookup(EXP, 55), {
      name: "HundredGigE0_0_0_11",
      description: "HundredGigE0/0/0/11",
      speedBps: 100_000_000_000,
    });
  });

  test("priority without static: static config is not used", () => {
    const src = withStatic(["snmp", "options"]);
    assert.equal(src.lookup(EXP, 9999), null);
    assert.equal(src.lookup(EXP, 55)?.name, "HundredGigE0_0_0_11");
  });
});

describe("validateInterfacesConfig", () => {
  const bad = (raw: unknown, key: string): void => {
    assert.throws(
      () => validateInterfacesConfig(raw),
      (e: unknown) => e instanceof ConfigError && e.key === key,
      `expected an error at ${key}`,
    );
  };

  test("defaults, and a full section", () => {
    assert.deepEqual(validateInterfacesConfig(undefined), defaultInterfacesConfig());
    const c = validateInterfacesConfig(
      {
        priority: ["snmp", "static", "options"],
        options: { maxExporters: 5 },
        snmp: {
          enabled: true,
          community: "c0mm",
          pollIntervalSec: 600,
          requestsPerSecond: 5,
          maxConcurrentPolls: 2,
          agents: { "192.0.2.1": "192.0.2.101:1161", "2001:db8::1": "[2001:db8::101]:161" },
          credentials: {
            "10.0.0.0/8": { version: "2c", community: "ten" },
            "192.0.2.0/24": { version: "3", user: "u", authKey: "authauth", privKey: "privpriv" },
          },
        },
      },
      defaultInterfacesConfig(),
      "enrich.interfaces",
    );
    assert.deepEqual(c.priority, ["snmp", "static", "options"]);
    assert.equal(c.snmp.requestsPerSecond, 5);
    assert.deepEqual(c.snmp.credentials["192.0.2.0/24"], {
      version: "3",
      user: "u",
      level: "authPriv",
      authProtocol: "sha",
      authKey: "authauth",
      privProtocol: "aes",
      privKey: "privpriv",
      context: "",
    });
  });

  test("errors name the key path", () => {
    bad({ nope: 1 }, "enrich.interfaces.nope");
    bad({ priority: ["static", "static"] }, "enrich.interfaces.priority");
    bad({ priority: ["bgp"] }, "enrich.interfaces.priority[0]");
    bad({ snmp: { timeoutMs: 5 } }, "enrich.interfaces.snmp.timeoutMs");
    bad({ snmp: { frequency: 5 } }, "enrich.interfaces.snmp.frequency");
    bad({ snmp: { agents: { "192.0.2.1": "bad host!" } } }, "enrich.interfaces.snmp.agents.192.0.2.1");
    bad({ snmp: { agents: { "not-an-ip": "192.0.2.2" } } }, "enrich.interfaces.snmp.agents.not-an-ip");
    bad(
      { snmp: { credentials: { "10.0.0.0/33": { community: "x" } } } },
      "enrich.interfaces.snmp.credentials.10.0.0.0/33",
    );
    bad(
      { snmp: { credentials: { "::/0": { version: "3", user: "u", authKey: "short" } } } },
      "enrich.interfaces.snmp.credentials.::/0.authKey",
    );
    bad(
      { snmp: { credentials: { "::/0": { version: "2c", community: "x", user: "u" } } } },
      "enrich.interfaces.snmp.credentials.::/0.user",
    );
    bad({ static: { "192.0.2.1": { eth0: { name: "x" } } } }, "enrich.interfaces.static.192.0.2.1.eth0");
    bad({ static: { "192.0.2.1": { "3": { speed: 1 } } } }, "enrich.interfaces.static.192.0.2.1.3.speed");
  });

  test("exporter keys are normalized to the collector's address text", () => {
    const c = validateInterfacesConfig({
      snmp: { agents: { "2001:DB8:90:0::1": "192.0.2.9" } },
      static: { "2001:DB8:90:0:0::1": { "7": { name: "x" } }, "::ffff:192.0.2.1": { "8": { name: "y" } } },
    });
    assert.deepEqual(Object.keys(c.snmp.agents), ["2001:db8:90::1"]);
    const src = createInterfaceSource(c);
    assert.equal(src.lookup("2001:db8:90::1", 7)?.name, "x");
    assert.equal(src.lookup("192.0.2.1", 8)?.name, "y");
  });

  test("SNMP credentials: the longest prefix wins, else the default community", () => {
    const c = validateInterfacesConfig({
      snmp: {
        enabled: true,
        community: "default-c",
        credentials: {
          "10.0.0.0/8": { community: "ten" },
          "10.1.0.0/16": { community: "ten-one" },
        },
      },
    });
    const src = createInterfaceSource(c);
    assert.deepEqual(src.snmp.credentialFor("10.1.2.3"), { version: "2c", community: "ten-one" });
    assert.deepEqual(src.snmp.credentialFor("10.2.2.3"), { version: "2c", community: "ten" });
    assert.deepEqual(src.snmp.credentialFor("192.0.2.1"), { version: "2c", community: "default-c" });
  });
});

describe("/api/v1/enrichment over HTTP", () => {
  const dir = mkdtempSync(join(tmpdir(), "nagare-enrich-routes-"));
  let api: HttpApi;
  let base = "";
  let cookie = "";
  const src = createInterfaceSource(
    validateInterfacesConfig({
      static: { "192.0.2.1": { "3": { name: "xe-0/0/3", speedBps: 10_000_000_000 } } },
    }),
  );
  const extra: SourceState = {
    name: "geoip:country",
    kind: "geoip",
    status: "error",
    entries: 0,
    updatedMs: null,
    errors: 2,
    lastError: "file not found",
  };

  before(async () => {
    for (const r of optionsOf("pmacct__500__traffic-00")) src.options(r);
    const users = new UserStore(join(dir, "data"));
    await users.set("vi", "viewer", "viewer-password");
    api = new HttpApi({
      listen: parseListen("127.0.0.1:0") as ListenAddress,
      token: "t0ken-for-tests-0123456789",
      stats: new CollectorStats(),
      auth: new HttpAuth({ users, sessionTtlMs: 3600_000, secureCookies: false }),
      modules: [new EnrichmentRoutes({ states: () => [...src.state(), extra], interfaces: src })],
    });
    await api.start();
    base = `http://${api.address}`;
    const r = await fetch(base + "/api/v1/auth/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user: "vi", password: "viewer-password" }),
    });
    assert.equal(r.status, 200);
    cookie = (r.headers.get("set-cookie") ?? "").split(";")[0]!;
  });

  after(async () => {
    await api.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a viewer lists every source's state", async () => {
    const r = await fetch(base + "/api/v1/enrichment", { headers: { cookie } });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { sources: SourceState[] };
    const byName = new Map(body.sources.map((s) => [s.name, s]));
    assert.equal(byName.get("interfaces:options")?.status, "loaded");
    assert.equal(byName.get("interfaces:static")?.entries, 1);
    assert.equal(byName.get("snmp")?.status, "disabled");
    assert.deepEqual(byName.get("geoip:country"), extra);
  });

  test("interfaces per exporter, with the source of each field", async () => {
    const r = await fetch(base + "/api/v1/enrichment/interfaces", { headers: { cookie } });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { exporters: { exporter: string; interfaces: InterfaceDetail[] }[] };
    assert.deepEqual(
      body.exporters.map((e) => e.exporter),
      ["192.0.2.1", "198.51.100.54"],
    );
    const xr = body.exporters.find((e) => e.exporter === "198.51.100.54")!;
    const i42 = xr.interfaces.find((i) => i.ifIndex === 42)!;
    assert.deepEqual(i42, {
      ifIndex: 42,
      name: "TenGigE0_0_0_0",
      description: "TenGigE0/0/0/0",
      speedBps: 0,
      from: { name: "options", description: "options", speedBps: "" },
    });
    const one = await fetch(base + "/api/v1/enrichment/interfaces?exporter=192.0.2.1", {
      headers: { cookie },
    });
    assert.equal(one.status, 200);
    const b1 = (await one.json()) as { exporters: { interfaces: InterfaceDetail[] }[] };
    assert.equal(b1.exporters[0]!.interfaces[0]!.name, "xe-0/0/3");
    const none = await fetch(base + "/api/v1/enrichment/interfaces?exporter=203.0.113.9", {
      headers: { cookie },
    });
    assert.equal(none.status, 404);
  });

  test("signed out: 401; a write: 403/405", async () => {
    assert.equal((await fetch(base + "/api/v1/enrichment")).status, 401);
    const w = await fetch(base + "/api/v1/enrichment", {
      method: "POST",
      headers: { authorization: "Bearer t0ken-for-tests-0123456789" },
    });
    assert.equal(w.status, 405);
  });
});
