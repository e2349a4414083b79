// The attack kinds added for the DDoS detector: udp flood, carpet bombing
// across the target's /24 (or /64), IPv6 flood to the customer's IPv6 host.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatIp, parseIp } from "../collector/ip.js";
import { cloneFlow, newFlow, TrafficModel, ATTACK_KINDS, type Flow } from "./model.js";

function flows(kind: (typeof ATTACK_KINDS)[number], target: string, n = 2000): Flow[] {
  const m = new TrafficModel({ seed: 3, customers: 20 });
  const f = newFlow();
  const out: Flow[] = [];
  for (let i = 0; i < n; i++) {
    m.attackFlow(f, kind, parseIp(target)!, 1000 + i);
    out.push(cloneFlow(f));
  }
  return out;
}

test("udp: random high ports, 1200-byte packets, to the target", () => {
  const fs = flows("udp", "100.64.0.1");
  assert.ok(
    fs.every((f) => f.protocol === 17 && f.bytes === f.packets * 1200 && formatIp(f.dst, 0) === "100.64.0.1"),
  );
  assert.ok(fs.every((f) => f.srcPort >= 1024 && f.dstPort >= 1024));
  assert.ok(new Set(fs.map((f) => f.srcPort)).size > 1000);
  assert.equal(fs[0]!.attack, 1 + ATTACK_KINDS.indexOf("udp"));
});

test("carpet: DNS reflection spread over the target's /24 (and /64 for IPv6)", () => {
  const fs = flows("carpet", "100.64.4.9");
  const dsts = new Set(fs.map((f) => formatIp(f.dst, 0)));
  assert.ok(dsts.size > 200, `${dsts.size} hosts`);
  assert.ok([...dsts].every((d) => d.startsWith("100.64.4.")));
  assert.ok(fs.every((f) => f.protocol === 17 && f.srcPort === 53 && f.bytes === f.packets * 1400));
  const v6 = flows("carpet", "2001:db8:3::5", 500);
  const d6 = new Set(v6.map((f) => formatIp(f.dst, 0)));
  assert.ok(d6.size > 450);
  assert.ok(v6.every((f) => f.v6 && formatIp(f.dst, 0).startsWith("2001:db8:3:0:")));
});

test("v6: an IPv4 target becomes the same host number in its customer's IPv6 /48", () => {
  // Customer 1 owns 100.64.4.0/22 and 2001:db8:1::/48; host number 0x109 = 265.
  const fs = flows("v6", "100.64.5.9", 50);
  assert.ok(fs.every((f) => f.v6 && formatIp(f.dst, 0) === "2001:db8:1::109"));
  assert.ok(
    fs.every((f) => f.protocol === 17 && f.bytes === f.packets * 1200 && formatIp(f.src, 0).includes(":")),
  );
  const direct = flows("v6", "2001:db8:7::42", 5);
  assert.ok(direct.every((f) => formatIp(f.dst, 0) === "2001:db8:7::42"));
});
