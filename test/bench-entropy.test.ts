// bench/entropy.ts: the disk floor's terms are exact sums over the model's
// distributions; check them against the model's own draws.
import assert from "node:assert/strict";
import { test } from "node:test";
import { entropyBits, flowEntropyTerms, packetsDistribution, sampleDraws, term } from "../bench/entropy.js";
import { TrafficModel } from "../src/gen/model.js";

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
  const drawn = sampleDraws(model, 200_000);
  // Plug-in estimates run low by about (K − 1) / (2 N ln 2) bits (Miller–Madow): corrected.
  const plug = (m: Map<number, number>): number => {
    let total = 0;
    for (const c of m.values()) total += c;
    return entropyBits([...m.values()]) + (m.size - 1) / (2 * total * Math.LN2);
  };
  const remote = term(terms, "remote AS");
  assert.ok(Math.abs(plug(drawn.remoteAs) - remote) < 0.05, `remote AS ${plug(drawn.remoteAs)} vs ${remote}`);
  // The term is the port's entropy weighted by the share of non-ICMP flows.
  let nPorts = 0;
  for (const c of drawn.ephemeralPort.values()) nPorts += c;
  const nonIcmp = nPorts / 200_000;
  const port = term(terms, "ephemeral port");
  assert.ok(
    Math.abs(plug(drawn.ephemeralPort) * nonIcmp - port) < 0.05,
    `ephemeral port ${plug(drawn.ephemeralPort) * nonIcmp} vs ${port}`,
  );
});
