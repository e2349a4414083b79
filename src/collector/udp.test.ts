import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { parseListen, type ListenAddress } from "../config/address.js";
import { createLogger } from "../log.js";
import { sumDrops, ThreadedUdpListener, UdpListener } from "./udp.js";

const addr = (t: string): ListenAddress => parseListen(t) as ListenAddress;

test("sumDrops parses /proc/net/udp rows by port and inode", () => {
  const text = [
    "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    " 4891: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12591 2 000000000cfc7a8a 17",
    " 4892: 00000000:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12592 2 000000000cfc7a8b 5",
    " 4893: 00000000:0808 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 12593 2 000000000cfc7a8c 100",
  ].join("\n");
  assert.equal(sumDrops(text, new Set([2055]), null), 22);
  assert.equal(sumDrops(text, new Set([2055]), new Set(["12592"])), 5);
  assert.equal(sumDrops(text, new Set([2056]), null), 100);
});

test("several sockets (IPv4 and IPv6), messages delivered, kernel drops read back", async () => {
  const got: { from: string; len: number }[] = [];
  const warnings: string[] = [];
  const l = new UdpListener({
    listen: [
      { addr: addr("127.0.0.1:0") },
      { addr: addr("[::1]:0") },
      { addr: addr("192.0.2.99:0"), optional: true },
    ],
    receiveBufferBytes: 4096, // tiny on purpose: the burst below must overflow it
    log: createLogger({ write: (line) => warnings.push(line) }),
    onMessage: (msg, rinfo) => got.push({ from: rinfo.address, len: msg.length }),
  });
  const bound = await l.start();
  try {
    assert.equal(bound.length, 2, "the optional unbindable address is skipped");
    assert.match(bound[0]!.address, /^127\.0\.0\.1:\d+$/);
    assert.match(bound[1]!.address, /^\[::1\]:\d+$/);
    assert.equal(l.readKernelDrops(), 0);

    // A child process sends a burst while this process is blocked in
    // execFileSync, so nothing reads the socket: the kernel must drop.
    const port = bound[0]!.port;
    const script = `const s=require("dgram").createSocket("udp4");let n=0;const b=Buffer.alloc(1000);
      (function go(){for(let i=0;i<50;i++)s.send(b,${port},"127.0.0.1");n+=50;if(n<2000)setImmediate(go);else s.close();})();`;
    execFileSync(process.execPath, ["-e", script]);
    await new Promise((r) => setTimeout(r, 100));
    const drops = l.readKernelDrops();
    assert.ok(drops !== null && drops > 0, `kernel drops ${drops}`);
    assert.ok(got.length > 0 && got.length + drops! <= 2000, `received ${got.length}, dropped ${drops}`);

    // IPv6 socket receives too.
    const { createSocket } = await import("node:dgram");
    const s6 = createSocket("udp6");
    await new Promise<void>((r) => s6.send(Buffer.from("hello"), bound[1]!.port, "::1", () => r()));
    s6.close();
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(got.some((g) => g.from === "::1" && g.len === 5));
  } finally {
    await l.stop();
  }
});

test("a required address that cannot be bound fails start and closes the others", async () => {
  const first = new UdpListener({
    listen: [{ addr: addr("127.0.0.1:0") }],
    receiveBufferBytes: 0,
    onMessage: () => {},
  });
  const [b] = await first.start();
  const l = new UdpListener({
    listen: [{ addr: addr("127.0.0.1:0") }, { addr: addr(`127.0.0.1:${b!.port}`) }],
    receiveBufferBytes: 0,
    onMessage: () => {},
  });
  await assert.rejects(l.start(), /cannot listen on udp 127\.0\.0\.1:\d+: EADDRINUSE/);
  await first.stop();
});

test("receive thread: real datagrams arrive intact with their source, in order, on IPv4 and IPv6", async () => {
  const { readCapture, capturesDir } = await import("./capture.js");
  const { join } = await import("node:path");
  const real = readCapture(join(capturesDir(), "graylog__nprobe-netflow9-3.pcap")).map((d) => d.payload);
  const got: { from: string; data: Uint8Array; t: number }[] = [];
  const l = new ThreadedUdpListener({
    listen: [{ addr: addr("127.0.0.1:0") }, { addr: addr("[::1]:0") }],
    receiveBufferBytes: 1 << 20,
    ringBytes: 256 * 1024, // small: the 3 × 72 datagrams below wrap it
    onDatagram: (data, from, t) => got.push({ from, data: data.slice(), t }),
  });
  const bound = await l.start();
  const t0 = Date.now();
  try {
    assert.equal(bound.length, 2);
    assert.match(bound[0]!.address, /^127\.0\.0\.1:\d+$/);
    const { createSocket } = await import("node:dgram");
    const s4 = createSocket("udp4");
    for (let loop = 0; loop < 3; loop++) {
      for (const d of real)
        await new Promise<void>((r) => s4.send(d, bound[0]!.port, "127.0.0.1", () => r()));
    }
    s4.close();
    const s6 = createSocket("udp6");
    await new Promise<void>((r) => s6.send(real[0]!, bound[1]!.port, "::1", () => r()));
    s6.close();
    const end = Date.now() + 3000;
    while (got.length < 3 * real.length + 1 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got.length, 3 * real.length + 1);
    const v4 = got.filter((g) => g.from === "127.0.0.1");
    assert.equal(v4.length, 3 * real.length);
    v4.forEach((g, i) => assert.deepEqual(g.data, real[i % real.length]));
    assert.ok(got.every((g) => g.t >= t0 && g.t <= Date.now()));
    const g6 = got.find((g) => g.from === "::1");
    assert.ok(g6);
    assert.deepEqual(g6.data, real[0]);
    assert.equal(l.readKernelDrops(), 0);
    assert.equal(l.ringDrops, 0);
  } finally {
    await l.stop();
  }
});

test("receive thread: a required address that cannot be bound fails start", async () => {
  const first = new UdpListener({
    listen: [{ addr: addr("127.0.0.1:0") }],
    receiveBufferBytes: 0,
    onMessage: () => {},
  });
  const [b] = await first.start();
  const l = new ThreadedUdpListener({
    listen: [{ addr: addr("127.0.0.1:0") }, { addr: addr(`127.0.0.1:${b!.port}`) }],
    receiveBufferBytes: 0,
    onDatagram: () => {},
  });
  await assert.rejects(l.start(), /cannot listen on udp 127\.0\.0\.1:\d+: EADDRINUSE/);
  await l.stop(); // nothing to stop: must not hang or throw
  await first.stop();
});
