// DDoS detector, per vector, in simulated time: generator background traffic
// (1-in-200 sampling) with one injected attack, fed as FlowBatches through
// the DetectService; each vector must be found with its target, vector,
// trigger and fingerprint, and end after the quiet period.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FlowBatch } from "../collector/batch.js";
import { putIpv4 } from "../collector/ip.js";
import type { AttackKind } from "../gen/model.js";
import { defaultDetectConfig, validateDetectConfig } from "./config.js";
import { DdosDetector } from "./ddos.js";
import { SLOT_BYTES, U32Index } from "./counters.js";
import { simDetectConfig, simulate } from "./sim.js";
import type { Attack, AttackVector, DetectEvent } from "./types.js";

const START = Date.UTC(2026, 0, 5, 12); // a Monday, noon UTC
const ATTACK_AT = START + 40_500;

function run(kind: AttackKind, rate: number): { events: DetectEvent[]; started: Attack[]; ended: Attack[] } {
  const r = simulate({
    config: simDetectConfig(),
    startMs: START,
    seconds: 60,
    rate: 100,
    attacks: [{ kind, startMs: ATTACK_AT, durationMs: 5000, rate }],
  });
  const started = r.events
    .filter((e) => e.type === "attack_started")
    .map((e) => (e as { attack: Attack }).attack);
  const ended = r.events
    .filter((e) => e.type === "attack_ended")
    .map((e) => (e as { attack: Attack }).attack);
  return { events: r.events, started, ended };
}

interface Case {
  kind: AttackKind;
  /** Attack flows/s: small (over the baseline floor only) and large (over a static threshold). */
  small: number;
  large: number;
  target: string;
  vector: AttackVector;
  srcPort?: number;
  protocol: number;
}

const CASES: Case[] = [
  { kind: "udp", small: 60, large: 500, target: "100.64.0.1/32", vector: "udp_flood", protocol: 17 },
  { kind: "syn", small: 620, large: 3000, target: "100.64.0.1/32", vector: "syn_flood", protocol: 6 },
  {
    kind: "dns",
    small: 35,
    large: 210,
    target: "100.64.0.1/32",
    vector: "dns_amplification",
    srcPort: 53,
    protocol: 17,
  },
  {
    kind: "ntp",
    small: 35,
    large: 210,
    target: "100.64.0.1/32",
    vector: "ntp_amplification",
    srcPort: 123,
    protocol: 17,
  },
  {
    kind: "memcached",
    small: 35,
    large: 210,
    target: "100.64.0.1/32",
    vector: "memcached_amplification",
    srcPort: 11211,
    protocol: 17,
  },
  {
    kind: "carpet",
    small: 70,
    large: 470,
    target: "100.64.0.0/24",
    vector: "dns_amplification",
    srcPort: 53,
    protocol: 17,
  },
  { kind: "v6", small: 60, large: 500, target: "2001:db8::1/128", vector: "udp_flood", protocol: 17 },
];

for (const c of CASES) {
  test(`${c.kind}: detected at two sizes with target ${c.target}, vector ${c.vector}, fingerprint and mitigation`, () => {
    for (const size of ["small", "large"] as const) {
      const { started, ended } = run(c.kind, c[size]);
      assert.equal(
        started.length,
        1,
        `${size}: one attack, got ${started.map((a) => a.target.prefix).join(", ")}`,
      );
      const a = started[0]!;
      assert.equal(a.target.prefix, c.target, size);
      assert.equal(a.target.group, c.kind === "v6" ? "customers-v6" : "customers");
      assert.equal(a.fingerprint.vectors[0], c.vector, `${size}: vectors ${a.fingerprint.vectors.join(",")}`);
      // Detected at the close of the first or second attack second (1 s granularity).
      const delay = a.detectedMs - ATTACK_AT;
      assert.ok(delay > 0 && delay < 3000, `${size}: delay ${delay} ms`);
      assert.ok(a.peak.pps >= 150_000, `${size}: peak ${a.peak.pps}`);
      if (c.kind === "carpet") assert.equal(a.trigger, "baseline");
      else if (size === "large") assert.equal(a.trigger, "static", a.reason);
      else assert.equal(a.trigger, "baseline", a.reason);
      // Fingerprint: sampling, protocol, ports, sources, ingress.
      const fp = a.fingerprint;
      assert.deepEqual(fp.samplingRates, [200]);
      assert.equal(fp.protocols[0], c.protocol);
      if (c.srcPort !== undefined) assert.equal(fp.topSrcPorts[0]?.key, String(c.srcPort));
      if (c.kind === "syn") assert.ok((fp.tcpFlags["S"] ?? 0) > 0.5, JSON.stringify(fp.tcpFlags));
      assert.ok(fp.topSources.length >= 5 && fp.topSrcAs.length >= 5);
      assert.ok(fp.ingress.length >= 1 && fp.ingress[0]!.exporter.startsWith("192.0.2."));
      assert.ok(fp.packetSize > 0);
      // Mitigation text names the target; amplification filters its reflector port.
      assert.match(a.mitigation.flowspec, new RegExp(`destination ${c.target.replace(/\./g, "\\.")};`));
      if (c.srcPort !== undefined)
        assert.match(a.mitigation.flowspec, new RegExp(`source-port =${c.srcPort};`));
      if (c.kind === "syn") assert.match(a.mitigation.flowspec, /tcp-flags \[ syn \]/);
      assert.equal(
        a.mitigation.rtbh,
        `announce route ${c.target} next-hop self community [ 65535:666 no-export ]`,
      );
      // Ended after quietSeconds (3) without a second over threshold.
      assert.equal(ended.length, 1, `${size}: ended`);
      const e = ended[0]!;
      assert.equal(e.id, a.id);
      assert.equal(e.state, "ended");
      assert.ok(e.endMs! > e.startMs && e.endMs! <= ATTACK_AT + 5000 + 2000, `end ${e.endMs! - ATTACK_AT}`);
    }
  });
}

test("attack series: 60 s before the start, then every second of the attack", () => {
  const r = simulate({
    config: simDetectConfig(),
    startMs: START,
    seconds: 50,
    rate: 100,
    attacks: [{ kind: "ntp", startMs: ATTACK_AT, durationMs: 5000, rate: 120 }],
  });
  const a = r.service.attacks("ended")[0]!;
  const s = r.service.series(a.id)!;
  assert.equal(s.target, "100.64.0.1/32");
  assert.equal(s.points[0]!.t, a.startMs - 60_000);
  for (let i = 1; i < s.points.length; i++) assert.equal(s.points[i]!.t - s.points[i - 1]!.t, 1000);
  const during = s.points.filter((p) => p.t >= a.startMs && p.t <= a.lastMs);
  assert.ok(
    during.every((p) => p.pps >= 100_000),
    JSON.stringify(during.map((p) => p.pps)),
  );
  const peak = Math.max(...s.points.map((p) => p.pps));
  assert.equal(Math.round(peak), Math.round(a.peak.pps));
});

test("baselines do not learn the attack: a long attack stays detected until it stops", () => {
  const r = simulate({
    config: simDetectConfig(),
    startMs: START,
    seconds: 200,
    rate: 100,
    attacks: [{ kind: "udp", startMs: START + 30_000, durationMs: 150_000, rate: 80 }],
  });
  const started = r.events.filter((e) => e.type === "attack_started");
  assert.equal(started.length, 1, "one attack for the whole flood, not one per re-learn");
  const a = r.service.attacks("ended")[0]!;
  assert.ok(a.lastMs - a.startMs >= 145_000, `lasted ${(a.lastMs - a.startMs) / 1000} s`);
});

test("no attack from background traffic alone (10 simulated minutes at the daily peak)", () => {
  const r = simulate({
    config: simDetectConfig(),
    startMs: Date.UTC(2026, 0, 5, 20, 50),
    seconds: 600,
    rate: 100,
    cycle: true,
  });
  assert.equal(r.events.length, 0, JSON.stringify(r.events.slice(0, 2)));
});

test("static per-network thresholds: a stricter group fires where the default does not", () => {
  const strict = simDetectConfig({
    networks: [
      { prefix: "100.64.0.0/24", group: "fragile", thresholds: { host: { pps: 50_000 } } },
      { prefix: "100.64.0.0/10", group: "customers" },
    ],
    baseline: { enabled: false },
  });
  const r = simulate({
    config: strict,
    startMs: START,
    seconds: 50,
    rate: 100,
    attacks: [{ kind: "udp", startMs: ATTACK_AT, durationMs: 4000, rate: 25 }],
  });
  const a = r.service.attacks()[0];
  assert.ok(a, "attack");
  assert.equal(a.target.group, "fragile");
  assert.equal(a.trigger, "static");
  assert.match(a.reason, /> 50\.0k \(host threshold\)/);
});

test("memory: a scan of 1 million destinations stays within maxHosts × SLOT_BYTES", () => {
  const cfg = validateDetectConfig({ maxHosts: 65_536, maxPrefixes: 16_384 }, defaultDetectConfig());
  const d = new DdosDetector({ config: cfg, now: () => 0 });
  const b = new FlowBatch(4096);
  const c = b.cols;
  const t0 = Date.UTC(2026, 0, 5);
  let sent = 0;
  const before = process.memoryUsage().arrayBuffers;
  // 1 M distinct destinations (10.0.0.0/12 …), 100 k per second, one packet each.
  while (sent < 1_000_000) {
    b.length = 0;
    for (let i = 0; i < b.capacity && sent < 1_000_000; i++, sent++) {
      putIpv4(c.dst_addr, i * 16, (10 << 24) + sent);
      c.protocol[i] = 6;
      c.tcp_flags[i] = 2;
      c.bytes[i] = 60;
      c.packets[i] = 1;
      c.sampling_rate[i] = 1;
      c.time_received[i] = t0 + Math.floor(sent / 100_000) * 1000;
      b.length++;
    }
    d.consume(b);
  }
  d.closeUntil(t0 + 20_000);
  assert.ok(d.hosts.size <= 65_536, `hosts ${d.hosts.size}`);
  assert.ok(d.prefixes.size <= 16_384, `prefixes ${d.prefixes.size}`);
  assert.ok(d.hosts.evictions > 0, "the scan evicted");
  const bound = 65_536 * SLOT_BYTES + 16_384 * SLOT_BYTES + 4 * 1024 * 1024;
  assert.ok(d.memoryBytes <= bound, `counters ${d.memoryBytes} B > bound ${bound} B`);
  const grew = process.memoryUsage().arrayBuffers - before;
  assert.ok(grew <= bound * 1.5, `typed arrays grew ${grew} B`);
});

test("U32Index: insert, find, delete with backward shift", () => {
  const ix = new U32Index(8);
  const keys = Array.from({ length: 5000 }, (_, i) => (i * 2654435761) >>> 0);
  keys.forEach((k, i) => ix.set(k, i));
  keys.forEach((k, i) => assert.equal(ix.get(k), i));
  for (let i = 0; i < keys.length; i += 2) ix.delete(keys[i]!);
  keys.forEach((k, i) => assert.equal(ix.get(k), i % 2 ? i : -1));
  assert.equal(ix.size, 2500);
});

test("config: defaults validate, errors name the key", () => {
  assert.equal(validateDetectConfig({}).enabled, true);
  assert.throws(
    () => validateDetectConfig({ thresholds: { host: { vectors: { ntp_amplification: { pps: -1 } } } } }),
    {
      message: /detect\.thresholds\.host\.vectors\.ntp_amplification\.pps/,
    },
  );
  assert.throws(() => validateDetectConfig({ networks: [{ prefix: "300.1.2.0/24" }] }), {
    message: /detect\.networks\[0\]\.prefix/,
  });
  assert.throws(() => validateDetectConfig({ baseline: { kk: 3 } }), {
    message: /detect\.baseline\.kk: unknown key/,
  });
  assert.throws(() => validateDetectConfig({ hooks: { webhook: "ftp://x" } }), {
    message: /detect\.hooks\.webhook/,
  });
  const c = validateDetectConfig({ networks: ["192.0.2.0/24"], quietSeconds: 5 });
  assert.deepEqual(c.networks, [{ prefix: "192.0.2.0/24", group: "" }]);
  assert.equal(c.quietSeconds, 5);
});

test("default config at the demo's scale (3000 flows/s, 1-in-1000): quiet traffic stays quiet, a flood is found", () => {
  const startMs = Date.UTC(2026, 0, 5, 20, 0);
  const r = simulate({
    config: defaultDetectConfig(),
    model: { seed: 1 },
    startMs,
    seconds: 150,
    rate: 3000,
    cycle: true,
    attacks: [{ kind: "udp", startMs: startMs + 120_000, durationMs: 10_000, rate: 1500 }],
  });
  const started = r.events
    .filter((e) => e.type === "attack_started")
    .map((e) => (e as { attack: Attack }).attack);
  assert.deepEqual(
    started.map((a) => `${a.target.prefix} ${a.fingerprint.vectors[0]}`),
    ["100.64.0.1/32 udp_flood"],
    started.map((a) => a.reason).join("; "),
  );
  assert.ok(started[0]!.startMs >= startMs + 120_000);
});

test("baseline persistence: with baseline.seconds 2, one second over is pending, two fire", () => {
  const cfg = simDetectConfig({ baseline: { ...simDetectConfig().baseline, seconds: 2 } });
  const one = simulate({
    config: cfg,
    startMs: START,
    seconds: 50,
    rate: 100,
    attacks: [{ kind: "udp", startMs: START + 40_000, durationMs: 1000, rate: 60 }],
  });
  assert.equal(one.events.length, 0, "a single second over the baseline is not an attack");
  const two = simulate({
    config: cfg,
    startMs: START,
    seconds: 50,
    rate: 100,
    attacks: [{ kind: "udp", startMs: START + 40_000, durationMs: 3000, rate: 60 }],
  });
  const a = two.service.attacks()[0]!;
  assert.equal(a.trigger, "baseline");
  assert.equal(a.startMs, START + 40_000, "starts at the first second over");
  assert.ok(a.detectedMs >= START + 42_000, "detected at the close of the second one");
  const pts = two.service.series(a.id)!.points;
  assert.equal(pts[0]!.t, a.startMs - 60_000);
  assert.ok(pts.find((p) => p.t === START + 40_000)!.pps >= 150_000, "the pending second is in the series");
});
