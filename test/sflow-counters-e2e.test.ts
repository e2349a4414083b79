// Interface counters end to end: the real service (App: UDP → FlowDecoder →
// sFlow decoder → RecordSink.counters → CounterStore → HTTP API) receives
// the 30 real datagrams of tcpdump__sflow_multiple_counter_30_pdus.pcap
// (25 sFlow with 142 generic-counter samples from 7 agents, 5 NetFlow v5)
// on its sFlow port; /api/v1/interfaces, /api/v1/interfaces/:agent/:ifIndex
// and /metrics must say what tcpdump's golden output says. 48 interfaces are
// sampled twice, 2 s apart by the agents' uptime: their rates are the golden
// counter differences over the golden uptime difference.
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { App } from "../src/app.js";
import { readCapture } from "../src/collector/capture.js";
import type { CounterPoint, CounterRates, SeriesSummary } from "../src/collector/counters.js";
import { validateConfig } from "../src/config/schema.js";

const CAPTURES = "/work/shared/captures";
const PCAP = join(CAPTURES, "tcpdump__sflow_multiple_counter_30_pdus.pcap");
const GOLDEN = join(CAPTURES, "tcpdump__sflow_multiple_counter_30_pdus.golden.tcpdump.out");

interface GoldenSample {
  agent: string;
  uptime: number;
  seq: number;
  ifIndex: number;
  ifType: number;
  ifSpeed: number;
  ifStatus: number;
  c: Record<string, number>;
}

/** Every generic-counter record of tcpdump's verbose golden output, in order. */
function golden(): GoldenSample[] {
  const out: GoldenSample[] = [];
  let agent = "";
  let uptime = 0;
  let seq = 0;
  let cur: GoldenSample | undefined;
  for (const line of readFileSync(GOLDEN, "utf8").split("\n")) {
    let m: RegExpExecArray | null;
    if ((m = /IPv4 agent ([\d.]+), agent-id \d+, seqnum \d+, uptime (\d+)/.exec(line))) {
      agent = m[1]!;
      uptime = Number(m[2]);
    } else if ((m = /counter sample \(\d\), length \d+, seqnum (\d+)/.exec(line))) {
      seq = Number(m[1]);
    } else if ((m = /ifindex (\d+), iftype (\d+), ifspeed (\d+)/.exec(line))) {
      cur = {
        agent,
        uptime,
        seq,
        ifIndex: Number(m[1]),
        ifType: Number(m[2]),
        ifSpeed: Number(m[3]),
        ifStatus: 0,
        c: {},
      };
      out.push(cur);
    } else if (cur && (m = /ifstatus (\d+)/.exec(line))) {
      cur.ifStatus = Number(m[1]);
    } else if (
      cur &&
      (m =
        /(In|Out) octets (\d+), unicast pkts (\d+), multicast pkts (\d+), broadcast pkts (\d+), discards (\d+)/.exec(
          line,
        ))
    ) {
      const d = m[1]!.toLowerCase();
      cur.c[`${d}Octets`] = Number(m[2]);
      cur.c[`${d}UcastPkts`] = Number(m[3]);
      cur.c[`${d}MulticastPkts`] = Number(m[4]);
      cur.c[`${d}BroadcastPkts`] = Number(m[5]);
      cur.c[`${d}Discards`] = Number(m[6]);
    } else if (cur && (m = /(In|Out) errors (\d+)/.exec(line))) {
      cur.c[`${m[1]!.toLowerCase()}Errors`] = Number(m[2]);
    }
  }
  return out;
}

function send(sock: Socket, data: Uint8Array, port: number): Promise<void> {
  return new Promise((resolve, reject) =>
    sock.send(data, port, "127.0.0.1", (err) => (err ? reject(err) : resolve())),
  );
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const noop = (): void => {};
const silent = { debug: noop, info: noop, warn: noop, error: noop, limited: noop };

test("real sFlow counter samples over UDP → /api/v1/interfaces and /metrics match tcpdump's golden", async () => {
  const samples = golden();
  assert.equal(samples.length, 142, "golden: 142 generic counter records");
  const byKey = new Map<string, GoldenSample[]>();
  for (const s of samples) {
    const k = `${s.agent}/${s.ifIndex}`;
    byKey.set(k, [...(byKey.get(k) ?? []), s]);
  }
  assert.equal(byKey.size, 94);
  const twice = [...byKey.values()].filter((v) => v.length === 2);
  assert.equal(twice.length, 48);

  const dir = mkdtempSync(join(tmpdir(), "nagare-counters-"));
  const config = validateConfig({
    collector: {
      listen: ["127.0.0.1:0"],
      sflowListen: ["127.0.0.1:0"],
      receiveBufferBytes: 1 << 20,
      counters: { retentionSeconds: 3600, maxSeries: 1000, maxPoints: 10_000, metricsMaxSeries: 1000 },
    },
    http: { listen: "127.0.0.1:0" },
    dataDir: join(dir, "data"),
    demo: { enabled: false },
  });
  const app = new App({ config, log: { ...silent } });
  await app.start();
  const sock = createSocket("udp4");
  try {
    const sflowPort = app.collector.bound[1]!.port;
    assert.notEqual(sflowPort, app.collector.bound[0]!.port);
    const datagrams = readCapture(PCAP);
    assert.equal(datagrams.length, 30);
    // One at a time, as the agents sent them (the store relies on order within a data source).
    for (const d of datagrams) {
      await send(sock, d.payload, sflowPort);
      await new Promise((r) => setTimeout(r, 2));
    }
    await until("142 counter samples", () => app.counters.snapshot().samples >= 142);

    const base = `http://${app.http.address}`;
    const token = readFileSync(join(dir, "data", "api-token"), "utf8").trim();
    const auth = { headers: { Authorization: `Bearer ${token}` } };
    const get = async <T>(path: string): Promise<T> => {
      const res = await fetch(base + path, auth);
      assert.equal(res.status, 200, path);
      return (await res.json()) as T;
    };

    // Same bearer-token rule as /api/v1/exporters.
    assert.equal((await fetch(`${base}/api/v1/interfaces`)).status, 401);
    assert.equal((await fetch(`${base}/api/v1/interfaces/15.184.1.195/4`)).status, 401);

    const list = await get<{ total: number; truncated: boolean; series: SeriesSummary[] }>(
      "/api/v1/interfaces?limit=1000",
    );
    assert.equal(list.total, 94);
    assert.equal(list.truncated, false);
    assert.deepEqual(list.series.map((s) => `${s.agent}/${s.ifIndex}`).sort(), [...byKey.keys()].sort());

    const expectRates = (r: CounterRates | null, a: GoldenSample, b: GoldenSample, what: string): void => {
      assert.ok(r, `${what}: rates`);
      const dt = (b.uptime - a.uptime) / 1000;
      assert.equal(r.intervalSeconds, dt, `${what}: interval from the agent uptime`);
      const rate = (k: string): number => (b.c[k]! - a.c[k]!) / dt;
      assert.equal(r.inOctetsPerSecond, rate("inOctets"), `${what} in octets/s`);
      assert.equal(r.outOctetsPerSecond, rate("outOctets"), `${what} out octets/s`);
      assert.equal(
        r.inPacketsPerSecond,
        rate("inUcastPkts") + rate("inMulticastPkts") + rate("inBroadcastPkts"),
      );
      assert.equal(r.outUcastPktsPerSecond, rate("outUcastPkts"));
      assert.equal(r.inErrorsPerSecond, rate("inErrors"));
      assert.equal(r.outDiscardsPerSecond, rate("outDiscards"));
      assert.equal(r.inUtilizationPercent, ((rate("inOctets") * 8) / b.ifSpeed) * 100);
    };

    for (const s of list.series) {
      const g = byKey.get(`${s.agent}/${s.ifIndex}`)!;
      const last = g.at(-1)!;
      const what = `${s.agent}/${s.ifIndex}`;
      assert.equal(s.ifSpeed, last.ifSpeed, `${what} speed`);
      assert.equal(s.ifType, last.ifType, `${what} type`);
      assert.equal(s.ifStatus, last.ifStatus, `${what} status`);
      assert.deepEqual(
        Object.fromEntries(Object.keys(last.c).map((k) => [k, s.latest[k as keyof typeof s.latest]])),
        last.c,
        `${what} latest counters`,
      );
      assert.equal(s.samples, g.length);
      assert.equal(s.resets, 0, `${what}: no resets in 2 s`);
      if (g.length === 1) assert.equal(s.rates, null, `${what}: one sample, no rate`);
      else expectRates(s.rates, g[0]!, g[1]!, what);
    }

    // A few interfaces spelled out (tcpdump lines for 15.184.1.195 ifindex 4, uptime 12973660 → 12975660:
    // In octets 3013636604 → 3013639728, Out octets 584566587 → 584569975).
    const one = await get<SeriesSummary & { series: CounterPoint[] }>("/api/v1/interfaces/15.184.1.195/4");
    assert.equal(one.series.length, 2);
    assert.equal(one.series[0]!.rates, null);
    assert.equal(one.series[0]!.uptimeMs, 12_973_660);
    assert.equal(one.series[0]!.inOctets, 3_013_636_604);
    assert.equal(one.series[1]!.inOctets, 3_013_639_728);
    assert.equal(one.series[1]!.rates!.inOctetsPerSecond, (3_013_639_728 - 3_013_636_604) / 2);
    assert.equal(one.series[1]!.rates!.outOctetsPerSecond, (584_569_975 - 584_566_587) / 2);
    assert.deepEqual(one.rates, one.series[1]!.rates);
    // 10 Gb/s uplink of the same agent, and an agent seen once (15.184.8.4 ifindex 55).
    const up = await get<SeriesSummary & { series: CounterPoint[] }>("/api/v1/interfaces/15.184.1.195/50");
    assert.equal(up.ifSpeed, 10_000_000_000);
    const g50 = byKey.get("15.184.1.195/50")!;
    expectRates(up.rates, g50[0]!, g50[1]!, "15.184.1.195/50");
    const single = await get<SeriesSummary & { series: CounterPoint[] }>("/api/v1/interfaces/15.184.8.4/55");
    assert.equal(single.series.length, 1);
    assert.equal(single.latest.inOctets, 820_721);
    assert.equal(single.latest.outBroadcastPkts, 2_213_534);
    assert.equal(single.rates, null);
    assert.equal((await fetch(`${base}/api/v1/interfaces/15.184.8.4/9999`, auth)).status, 404);
    assert.equal((await fetch(`${base}/api/v1/interfaces/15.184.8.4/x`, auth)).status, 400);
    assert.equal(
      (await get<{ total: number }>("/api/v1/interfaces?agent=15.184.1.194")).total,
      [...byKey.keys()].filter((k) => k.startsWith("15.184.1.194/")).length,
    );

    // /metrics: one in/out gauge per interface with a rate (the 48 sampled twice).
    const metrics = await (await fetch(`${base}/metrics`)).text();
    const inLines = metrics.match(/^nagare_interface_in_octets_per_second\{.*$/gm) ?? [];
    assert.equal(inLines.length, 48);
    assert.match(
      metrics,
      /^nagare_interface_in_octets_per_second\{agent="15\.184\.1\.195",if_index="4"\} 1562$/m,
    );
    assert.match(
      metrics,
      /^nagare_interface_out_octets_per_second\{agent="15\.184\.1\.195",if_index="4"\} 1694$/m,
    );
    assert.match(metrics, /^nagare_interface_series 94$/m);
    assert.match(metrics, /^nagare_interface_points 142$/m);
    assert.match(metrics, /^nagare_interface_counter_samples_total 142$/m);
    assert.match(metrics, /^nagare_collector_counter_records_total\{exporter="127\.0\.0\.1"\} 142$/m);
  } finally {
    sock.close();
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
