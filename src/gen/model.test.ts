// The traffic model: determinism by seed, Zipf skew, the daily cycle, attacks
// in their window, time order and exact counts, and history writer speed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FlowBatch } from "../collector/batch.js";
import { writeHistory } from "./history.js";
import { cloneFlow, ipText, newFlow, Rng, TrafficModel, type Flow, type ScheduleOptions } from "./model.js";

const DAY = 86_400_000;
// A Wednesday, 00:00 UTC.
const WED = Date.UTC(2026, 9, 7);

function drain(model: TrafficModel, opts: ScheduleOptions, limit = Infinity): Flow[] {
  const s = model.schedule(opts);
  const f = newFlow();
  const out: Flow[] = [];
  while (out.length < limit && s.next(f)) out.push(cloneFlow(f));
  return out;
}

test("same seed → same flows; another seed → other flows", () => {
  const opts = { startMs: WED, endMs: WED + DAY, flows: 2000 };
  const a = drain(new TrafficModel({ seed: 7 }), opts);
  const b = drain(new TrafficModel({ seed: 7 }), opts);
  const c = drain(new TrafficModel({ seed: 8 }), opts);
  assert.equal(a.length, 2000);
  assert.deepEqual(a, b);
  const same = a.filter((f, i) => ipText(f.dst) === ipText(c[i]!.dst) && f.bytes === c[i]!.bytes).length;
  assert.ok(same < 100, `seed 8 repeats ${same} of seed 7's flows`);
});

test("flows come in time order, exactly the requested count, inside the range", () => {
  const flows = drain(new TrafficModel({ seed: 1 }), { startMs: WED, endMs: WED + 3 * DAY, flows: 50_000 });
  assert.equal(flows.length, 50_000);
  for (let i = 1; i < flows.length; i++) assert.ok(flows[i]!.endMs >= flows[i - 1]!.endMs, `order at ${i}`);
  assert.ok(flows[0]!.endMs >= WED && flows.at(-1)!.endMs < WED + 3 * DAY, "inside the range");
  assert.ok(
    flows.every((f) => f.startMs <= f.endMs && f.packets >= 1 && f.bytes >= f.packets),
    "sane counters",
  );
});

test("realistic mix: thousands of ASes, Zipf-skewed sources and destinations, IPv6, protocols", () => {
  const flows = drain(new TrafficModel({ seed: 2 }), { startMs: WED, endMs: WED + DAY, flows: 200_000 });
  const srcAs = new Map<number, number>();
  const dst = new Map<string, number>();
  for (const f of flows) {
    if (f.inIf < 10) srcAs.set(f.srcAs, (srcAs.get(f.srcAs) ?? 0) + 1); // downloads: remote → customer
    const d = ipText(f.dst);
    dst.set(d, (dst.get(d) ?? 0) + 1);
  }
  assert.ok(srcAs.size > 1500, `${srcAs.size} distinct source ASes`);
  const asCounts = [...srcAs.values()].sort((x, y) => y - x);
  const total = asCounts.reduce((n, v) => n + v, 0);
  const top10 = asCounts.slice(0, 10).reduce((n, v) => n + v, 0);
  assert.ok(top10 / total > 0.25, `top 10 source ASes carry ${((100 * top10) / total).toFixed(1)} %`);
  // Zipf: rank 1 vs rank 10 ≈ 10^1.1 ≈ 12.6.
  const ratio = asCounts[0]! / asCounts[9]!;
  assert.ok(ratio > 7 && ratio < 20, `rank1/rank10 = ${ratio.toFixed(1)}`);
  const dstCounts = [...dst.values()].sort((x, y) => y - x);
  const top1pct = dstCounts.slice(0, Math.ceil(dstCounts.length / 100)).reduce((n, v) => n + v, 0);
  assert.ok(
    top1pct / flows.length > 0.15,
    `top 1 % of destinations: ${((100 * top1pct) / flows.length).toFixed(1)} % of flows`,
  );
  const v6 = flows.filter((f) => f.v6).length / flows.length;
  assert.ok(v6 > 0.25 && v6 < 0.35, `IPv6 share ${v6}`);
  const proto = new Map<number, number>();
  for (const f of flows) proto.set(f.protocol, (proto.get(f.protocol) ?? 0) + 1);
  for (const p of [1, 6, 17, 58]) assert.ok((proto.get(p) ?? 0) > 0, `protocol ${p}`);
  const https = flows.filter((f) => f.protocol === 6 && (f.srcPort === 443 || f.dstPort === 443)).length;
  assert.ok(https / flows.length > 0.35, `TCP 443 share ${https / flows.length}`);
  assert.ok(
    flows.some((f) => f.srcAs > 65535),
    "some 32-bit ASNs",
  );
  assert.equal(new Set(flows.map((f) => f.exporter)).size, 3);
});

test("daily cycle: evening peak, morning trough, flatter weekend", () => {
  const model = new TrafficModel({ seed: 3 });
  const flows = drain(model, { startMs: WED, endMs: WED + 7 * DAY, flows: 200_000 });
  const perHour = new Float64Array(7 * 24);
  for (const f of flows) perHour[Math.floor((f.endMs - WED) / 3_600_000)]!++;
  const wed21 = perHour[21]!;
  const wed9 = perHour[9]!;
  assert.ok(wed21 > 2.5 * wed9, `Wed 21:00 ${wed21} vs 09:00 ${wed9}`);
  // Saturday (day 3 from Wednesday): the trough is shallower than a weekday's.
  const sat9 = perHour[3 * 24 + 9]!;
  assert.ok(sat9 > 1.3 * wed9, `Sat 09:00 ${sat9} vs Wed 09:00 ${wed9}`);
});

test("an attack shows up in its window only, at its rate, towards its target", () => {
  const model = new TrafficModel({ seed: 4 });
  const start = WED + 3_600_000;
  const flows = drain(model, {
    startMs: WED,
    endMs: WED + 2 * 3_600_000,
    flows: 20_000,
    attacks: [
      { kind: "ntp", target: "100.64.0.77", startMs: start, durationMs: 300_000, rate: 50 },
      { kind: "syn", startMs: start + 600_000, durationMs: 60_000, rate: 100 },
    ],
  });
  const ntp = flows.filter((f) => f.attack === 2);
  const syn = flows.filter((f) => f.attack === 6);
  assert.equal(ntp.length, 50 * 300);
  assert.equal(syn.length, 100 * 60);
  assert.ok(
    ntp.every((f) => f.endMs >= start && f.endMs < start + 300_000),
    "NTP flows in the window",
  );
  assert.ok(ntp.every((f) => ipText(f.dst) === "100.64.0.77" && f.srcPort === 123 && f.protocol === 17));
  assert.ok(
    syn.every((f) => f.protocol === 6 && f.tcpFlags === 0x02 && ipText(f.dst) === model.defaultTarget()),
    "SYN flood to the default target",
  );
  assert.equal(flows.length - ntp.length - syn.length, 20_000, "regular flows unchanged in number");
  // The target is the top destination during the attack.
  const during = flows.filter((f) => f.endMs >= start && f.endMs < start + 300_000);
  const byDst = new Map<string, number>();
  for (const f of during) byDst.set(ipText(f.dst), (byDst.get(ipText(f.dst)) ?? 0) + f.bytes);
  const top = [...byDst].sort((a, b) => b[1] - a[1])[0]!;
  assert.equal(top[0], "100.64.0.77");
});

test("rate mode with periodic attacks (demo, nagare gen --attack)", () => {
  const model = new TrafficModel({ seed: 5 });
  const flows = drain(model, {
    startMs: WED,
    endMs: WED + 600_000,
    rate: 20,
    periodic: {
      firstMs: WED + 60_000,
      everyMs: 240_000,
      durationMs: 20_000,
      rate: 40,
      kinds: ["dns", "memcached"],
    },
  });
  assert.equal(flows.filter((f) => f.attack === 0).length, 20 * 600);
  const dns = flows.filter((f) => f.attack === 1);
  const mc = flows.filter((f) => f.attack === 3);
  // Windows at 60 s (dns), 300 s (memcached), 540 s (dns).
  assert.equal(dns.length, 2 * 40 * 20);
  assert.equal(mc.length, 40 * 20);
  assert.ok(
    mc.every((f) => f.endMs >= WED + 300_000 && f.endMs < WED + 320_000 && f.srcPort === 11211),
    "memcached window",
  );
});

test("history writer: exact rows into FlowBatch columns, ≥ 1 M flows per CPU-second", async () => {
  const start = WED;
  let rows = 0;
  let flushes = 0;
  let first: Record<string, string | number> | null = null;
  const sink = {
    consume(b: FlowBatch): void {
      if (!first) first = b.row(0);
      rows += b.length;
    },
    async flush(): Promise<void> {
      flushes++;
    },
  };
  const c0 = process.cpuUsage();
  const r = await writeHistory(sink, {
    startMs: start,
    endMs: start + 30 * DAY,
    flows: 2_000_000,
    seed: 9,
    flushEveryRows: 500_000,
  });
  const cpu = process.cpuUsage(c0);
  const perCpuSecond = r.rows / ((cpu.user + cpu.system) / 1e6);
  assert.equal(rows, 2_000_000);
  assert.equal(r.rows, 2_000_000);
  assert.ok(flushes >= 4, `${flushes} flushes`);
  const f = first as unknown as Record<string, string | number>;
  assert.equal(f.time_received, f.time_flow_end);
  assert.match(String(f.exporter_address), /^192\.0\.2\.\d$/);
  assert.equal(f.flows, 1);
  // CPU time, not wall time (the test machine is shared), and calibrated:
  // ≥ 1 M flows/s on a core doing ≥ 300 M PRNG draws/s (mulberry32 takes
  // 2-3 ns a draw on a current x86 core), proportionally less on a slower or
  // busier one, so the bound fails on a regression, not on a loaded machine.
  const rng = new Rng(1);
  const r0 = process.cpuUsage();
  let x = 0;
  for (let k = 0; k < 20_000_000; k++) x += rng.next();
  const rc = process.cpuUsage(r0);
  const drawsPerSecond = 20_000_000 / ((rc.user + rc.system) / 1e6);
  const need = 1e6 * Math.min(1, drawsPerSecond / 300e6);
  assert.ok(
    perCpuSecond >= need && x > 0,
    `${(perCpuSecond / 1e6).toFixed(2)} M flows per CPU-second; need ${(need / 1e6).toFixed(2)} M ` +
      `(this core: ${(drawsPerSecond / 1e6).toFixed(0)} M PRNG draws/s)`,
  );
});
