// 24 simulated hours of attack-free traffic with the daily cycle (trough
// before dawn, peak at 21:00) through the DDoS detector with the scenario
// config: not one attack. Simulated time (FlowBatches with simulated
// time_received, advance() every second), so a day runs in seconds.
import assert from "node:assert/strict";
import { test } from "node:test";
import { simDetectConfig, simulate } from "../src/detect/sim.js";

test("24 simulated hours with daily seasonality, no attack: zero attacks", () => {
  const startMs = Date.UTC(2026, 0, 6, 0, 0); // a Tuesday
  const r = simulate({ config: simDetectConfig(), startMs, seconds: 86_400, rate: 30, cycle: true });
  const d = r.service.detector;
  console.log(
    `24 h: ${r.flows} flows, ${d.seconds} seconds closed, ${d.hosts.size} hosts, in ${Math.round(r.elapsedMs)} ms`,
  );
  assert.equal(d.seconds, 86_400);
  assert.ok(r.flows > 2_000_000, `flows ${r.flows}`);
  assert.equal(r.attackFlows, 0);
  assert.deepEqual(
    r.events.map((e) => ("attack" in e ? `${e.type} ${e.attack.target.prefix} ${e.attack.reason}` : e.type)),
    [],
  );
  // The baselines did learn: the busiest host has every hour of the day.
  assert.equal(d.baselineReady, true);
});
