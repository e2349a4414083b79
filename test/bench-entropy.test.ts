// bench/entropy.ts: the disk floor's terms are exact sums over the model's
// distributions; check them against the model's own draws.
import assert from "node:assert/strict";
import { test } from "node:test";
import { entropyBits, flowEntropyTerms, packetsDistribution } from "../bench/entropy.js";
import { TrafficModel, newFlow } from "../src/gen/model.js";

test("packets law: a distribution (sums to 1) with the model's mean", () => {
  for (const m of [1, 20, 40]) {
    const d = packetsDistribution(m);
    let sum = 0;
    let mean = 0;
    for (const [k, p] of d) {
      sum += p;
      mean += k * p;
    }
    assert.ok(Math.abs(sum - 1) < 1e-9, `m ${m}: sum ${sum}`);
    // E[max(1, round(m X))] with X exponential (truncated at −ln 1e−4): m plus a little from the max(1, ·).
    assert.ok(mean >= m * 0.99 && mean <= m + 0.5, `m ${m}: mean ${mean}`);
  }
  assert.equal(entropyBits([1, 1, 1, 1]), 2);
});

test("the remote AS and ephemeral port terms agree with 200 000 flows drawn from the model", () => {
  const model = new TrafficModel({ seed: 7 });
  const terms = flowEntropyTerms(model);
  const term = (prefix: string): number => terms.find((t) => t.name.startsWith(prefix))!.bits;
  const f = newFlow();
  const as = new Map<number, number>();
  const ports = new Map<number, number>();
  let nPorts = 0;
  const n = 200_000;
  for (let i = 0; i < n; i++) {
    model.regular(f, 1_800_000_000_000);
    const customer = (a: number): boolean => (a >= 64512 && a < 65512) || a >= 4_200_000_000;
    const download = !customer(f.srcAs);
    const remote = download ? f.srcAs : f.dstAs;
    as.set(remote, (as.get(remote) ?? 0) + 1);
    if (f.protocol !== 1 && f.protocol !== 58) {
      const p = download ? f.dstPort : f.srcPort;
      ports.set(p, (ports.get(p) ?? 0) + 1);
      nPorts++;
    }
  }
  // Plug-in estimates run low by about (K − 1) / (2 N ln 2) bits (Miller–Madow): corrected.
  const plug = (m: Map<number, number>): number => {
    let total = 0;
    for (const c of m.values()) total += c;
    return entropyBits([...m.values()]) + (m.size - 1) / (2 * total * Math.LN2);
  };
  assert.ok(Math.abs(plug(as) - term("remote AS")) < 0.05, `remote AS ${plug(as)} vs ${term("remote AS")}`);
  // The term is the port's entropy weighted by the share of non-ICMP flows.
  const nonIcmp = nPorts / n;
  assert.ok(
    Math.abs(plug(ports) * nonIcmp - term("ephemeral port")) < 0.05,
    `ephemeral port ${plug(ports) * nonIcmp} vs ${term("ephemeral port")}`,
  );
});
