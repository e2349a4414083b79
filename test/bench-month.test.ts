// The month benchmark (bench/month.ts) end to end at a tiny scale, against
// the real nfcapd/nfdump: the same generated flows written into the store and
// sent as IPFIX to nfcapd must give the same answers on both sides (top 10 by
// dst AS, dst port, exporter/interface, dst IP; per-minute and per-second
// series against nfdump's window totals), and nfcapd must have stored every
// flow. Fails (does not skip) when nfcapd or nfdump is missing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { runMonth } from "../bench/month.js";

test("month benchmark: Nagare and nfdump agree on the same 30 000 flows", { timeout: 300_000 }, async () => {
  const r = await runMonth({ flows: 30_000, days: 30, runs: 1, seed: 3 });
  assert.equal(r.flows, 30_000);
  assert.equal(r.nfdump.storedFlows, 30_000);
  assert.deepEqual(r.mismatches, []);
  assert.deepEqual(
    r.queries.map((q) => [q.name, q.nagare.table]),
    [
      // Whole days from the 1-day rollups, the hours at the month's edges from the 1-hour ones,
      // the last (open) hour from flows_raw.
      ["top dst AS, month", "dst_as_1d+dst_as_1h+flows_raw"],
      ["top dst port, month", "dst_port_1d+dst_port_1h+flows_raw"],
      ["top exporter/interface, month", "flows_1d+flows_1h+flows_raw"],
      ["top dst IP, month", "dst_addr_1d+flows_raw"],
      ["per-minute series, one day", "flows_1m"],
      ["per-second series, 10 minutes", "flows_1s"],
      // A filter: raw flows (the in-memory per-second totals hold the unfiltered total only).
      ["per-second series, 10 minutes, UDP only", "flows_raw"],
    ],
  );
  for (const q of r.queries) {
    assert.ok(q.agree, `${q.name}: ${q.check}`);
    assert.ok(q.nagare.medianMs > 0 && q.nfdump.medianMs > 0, q.name);
  }
  // TopN rows compared: 10 each (the model has well over 10 ASes, ports, addresses and interfaces).
  for (const q of r.queries.slice(0, 4)) assert.match(q.check, /^top 10 equal/);
  assert.equal(r.nagare.rows.flows_raw, 30_000);
  assert.ok(r.nagare.fileBytes > 0 && r.nfdump.fileBytes > 0);
});
