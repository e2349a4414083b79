// DatagramRing: records come out in order and intact across many wrap-arounds,
// a full ring drops (and counts) instead of overwriting, and a consumer parked
// in waitForData is woken by publish() from another thread.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { Worker } from "node:worker_threads";
import { capturesDir, readCapture } from "./capture.js";
import { DatagramRing, KIND_ADDR, KIND_DATA } from "./ring.js";

/** Real export datagrams (NetFlow v9 from nProbe: 72 datagrams of 80-820 bytes). */
const REAL = readCapture(join(capturesDir(), "graylog__nprobe-netflow9-3.pcap")).map((d) => d.payload);

test("datagrams come out in order and byte-identical across wrap-arounds", () => {
  // 64 KiB: the 72-datagram stream (~90 KB) wraps on every loop.
  const ring = new DatagramRing(64 * 1024);
  assert.ok(REAL.length > 50);
  let sent = 0;
  let got = 0;
  assert.ok(ring.pushAddress(7, "192.0.2.10"));
  ring.publish();
  const addrs: string[] = [];
  for (let loop = 0; loop < 20; loop++) {
    for (const d of REAL) {
      // Consume when full, as the main thread would.
      while (!ring.pushDatagram(7, d, 1_700_000_000_000 + sent)) {
        ring.publish();
        got += drainCheck();
      }
      sent++;
    }
  }
  ring.publish();
  got += drainCheck();
  assert.equal(got, sent);
  assert.deepEqual(addrs, ["192.0.2.10"]);

  function drainCheck(): number {
    let n = 0;
    ring.drain(1e9, (kind, a, payload, receivedMs) => {
      if (kind === KIND_ADDR) {
        addrs.push(new TextDecoder().decode(payload));
        return;
      }
      assert.equal(kind, KIND_DATA);
      assert.equal(a, 7);
      const i = got + n;
      assert.equal(receivedMs, 1_700_000_000_000 + i);
      assert.deepEqual(payload, REAL[i % REAL.length]);
      n++;
    });
    return n;
  }
});

test("a full ring drops and counts instead of overwriting unread records", () => {
  const ring = new DatagramRing(4096);
  const d = REAL.reduce((a, b) => (b.length > a.length ? b : a));
  assert.equal(d.length, 820);
  let ok = 0;
  for (let i = 0; i < 20; i++) if (ring.pushDatagram(1, d, i)) ok++;
  ring.publish();
  // 24-byte record header + 820 bytes, 8-aligned = 848 bytes: 4 fit in 4096.
  assert.equal(ok, 4);
  assert.equal(ring.drops, 20 - ok);
  const seen: number[] = [];
  ring.drain(1e9, (_k, _a, payload, t) => {
    assert.deepEqual(payload, d);
    seen.push(t);
  });
  assert.deepEqual(
    seen,
    Array.from({ length: ok }, (_, i) => i),
  );
  assert.ok(ring.empty);
  // Space is free again.
  assert.ok(ring.pushDatagram(1, d, 99));
});

test("a consumer parked in waitForData is woken by a producer thread", async () => {
  const ring = new DatagramRing(8 * 1024 * 1024); // never full here: drops must stay 0
  const wait = ring.waitForData();
  assert.ok(wait, "nothing queued: the consumer parks");
  const url = new URL(import.meta.url.endsWith(".ts") ? "./ring.ts" : "./ring.js", import.meta.url);
  const code = `
    const { workerData } = require("node:worker_threads");
    (${import.meta.url.endsWith(".ts") ? 'import("tsx/esm/api").then((t) => (t.register(), import(workerData.url)))' : "import(workerData.url)"})
      .then(({ DatagramRing }) => {
        const ring = new DatagramRing(workerData.sab);
        const d = new Uint8Array(workerData.len).map((_, i) => i & 255);
        let sent = 0;
        const t0 = Date.now();
        while (sent < workerData.n && Date.now() - t0 < 5000) if (ring.pushDatagram(3, d, sent)) { sent++; ring.publish(); }
        setInterval(() => {}, 1000); // stay alive (as the receive thread does) until terminated
      });`;
  const w = new Worker(code, {
    eval: true,
    workerData: { sab: ring.sab, url: url.href, n: 5000, len: 1200 },
  });
  await wait;
  let n = 0;
  const end = Date.now() + 10_000;
  while (n < 5000 && Date.now() < end) {
    ring.drain(1e9, (_k, a, payload, t) => {
      assert.equal(a, 3);
      assert.equal(payload.length, 1200);
      assert.equal(payload[1199], 1199 & 255);
      assert.equal(t, n);
      n++;
    });
    const p = n < 5000 ? ring.waitForData() : null;
    if (p) await p;
  }
  await w.terminate();
  assert.equal(n, 5000);
  assert.equal(ring.drops, 0);
});
