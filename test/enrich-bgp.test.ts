// BGP listener mode against a real BGP speaker: Debian's gobgpd connects to
// our passive listener on loopback (iBGP, so its attributes arrive as
// announced), announces and withdraws routes with the gobgp CLI, then stops.
// Then raw sessions for what gobgpd never does: malformed UPDATEs, an
// unknown neighbor, a silent neighbor (hold timer). Fails when gobgpd is missing.
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { test } from "node:test";
import { formatIp, parseIp } from "../src/collector/ip.js";
import { encodeOpen } from "../src/enrich/routing/bgp.js";
import type { RoutingSource } from "../src/enrich/routing/index.js";
import { gobgpdFixture, waitFor } from "./helpers/gobgpd.js";

const kit = gobgpdFixture();

const ip = (s: string): Uint8Array => parseIp(s)!;

const listener = (bgp: Record<string, unknown>): Promise<RoutingSource> =>
  kit.routing({
    bgp: {
      listen: "127.0.0.1:0",
      asn: 65001,
      routerId: "10.255.0.100",
      neighbors: [{ address: "127.0.0.1", asn: 65001, name: "gobgp" }],
      ...bgp,
    },
  });

const neighborState = (src: RoutingSource, a = "127.0.0.1") => src.state().find((s) => s.name === `bgp:${a}`);

test("gobgpd peers with the listener: routes in, withdrawals, session end drops them", async () => {
  const src = await listener({ keepMs: 0, holdTimeSec: 30 });
  const g = await kit.gobgpd({
    as: 65001,
    routerId: "10.255.0.1",
    neighbors: [{ address: "127.0.0.1", peerAs: 65001, remotePort: src.ports().bgp }],
  });
  await waitFor("Established", () => neighborState(src)?.detail?.fsm === "Established");
  await g.announce("10.1.0.0/16", {
    nexthop: "192.0.2.9",
    "local-pref": 250,
    community: "65000:100",
    aspath: "65010,65020",
    "large-community": "65000:1:2",
  });
  await g.announce("10.1.2.0/24", { nexthop: "192.0.2.10", aspath: "65030,{65040,65041}" });
  await g.announce("2001:db8:1::/48", { nexthop: "2001:db8::9", aspath: "4200000000" });
  await g.announce("0.0.0.0/0", { nexthop: "192.0.2.1" });
  await waitFor("4 routes", () => src.routes() === 4);

  const a = src.lookup("127.0.0.1", ip("10.1.200.1"), 0);
  assert.ok(a);
  assert.equal(a.prefixLen, 16);
  assert.equal(a.asPath, "65010 65020");
  assert.equal(a.originAs, 65020);
  assert.equal(a.localPref, 250);
  assert.equal(a.communities, "65000:100");
  assert.equal(a.largeCommunities, "65000:1:2");
  assert.equal(formatIp(a.nextHop, 0), "192.0.2.9");
  const set = src.lookup("127.0.0.1", ip("10.1.2.99"), 0);
  assert.equal(set?.prefixLen, 24);
  assert.equal(set?.asPath, "65030 {65040 65041}");
  assert.equal(set?.originAs, 65041);
  const v6 = src.lookup("127.0.0.1", ip("2001:db8:1::1"), 0);
  assert.equal(v6?.originAs, 4200000000);
  assert.equal(formatIp(v6!.nextHop, 0), "2001:db8::9");
  const dflt = src.lookup("127.0.0.1", ip("8.8.8.8"), 0);
  assert.equal(dflt?.prefixLen, 0);
  assert.equal(src.lookup("127.0.0.1", ip("2001:db9::1"), 0), null);

  const st = neighborState(src)!;
  assert.equal(st.status, "loaded");
  assert.equal(st.detail?.routesV4, 3);
  assert.equal(st.detail?.routesV6, 1);
  assert.equal(st.detail?.peerAs, 65001);
  assert.equal(st.detail?.holdTimeSec, 9, "min(ours 30, gobgpd's 9)");
  assert.equal(st.errors, 0);

  await g.withdraw("10.1.2.0/24");
  await g.withdraw("2001:db8:1::/48");
  await waitFor("withdrawals", () => src.routes() === 2);
  assert.equal(src.lookup("127.0.0.1", ip("10.1.2.99"), 0)?.prefixLen, 16);
  assert.equal(src.lookup("127.0.0.1", ip("2001:db8:1::1"), 0), null);

  await g.stop();
  await waitFor("session end", () => src.routes() === 0);
  assert.equal(neighborState(src)?.status, "error");
  assert.equal(neighborState(src)?.detail?.fsm, "Idle");
  assert.equal(src.lookup("127.0.0.1", ip("10.1.200.1"), 0), null);
});

/** A raw BGP session to the listener that collects the messages it gets. */
async function raw(port: number, localAddress = "127.0.0.1") {
  const sock: Socket = connect({ port, host: "127.0.0.1", localAddress });
  const msgs: { type: number; body: Buffer }[] = [];
  let buf = Buffer.alloc(0);
  sock.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 19 && buf.length >= buf.readUInt16BE(16)) {
      const len = buf.readUInt16BE(16);
      msgs.push({ type: buf[18]!, body: buf.subarray(19, len) });
      buf = buf.subarray(len);
    }
  });
  const closed = new Promise<void>((r) => sock.once("close", () => r()));
  sock.on("error", () => {});
  await new Promise<void>((r) => sock.once("connect", () => r()));
  return { sock, msgs, closed };
}

const notification = (msgs: { type: number; body: Buffer }[]): string | undefined => {
  const n = msgs.find((m) => m.type === 3);
  return n ? `${n.body[0]}/${n.body[1]}` : undefined;
};

function update(attrs: number[], nlri: number[]): Buffer {
  const body = [0, 0, attrs.length >> 8, attrs.length & 0xff, ...attrs, ...nlri];
  return Buffer.from([...new Array(16).fill(0xff), 0, 19 + body.length, 2, ...body]);
}
const KEEPALIVE = Buffer.from([...new Array(16).fill(0xff), 0, 19, 4]);

test("raw sessions: malformed UPDATE → NOTIFICATION 3/11, unknown neighbor → 6/5, silent neighbor → hold timer 4/0", async () => {
  const src = await listener({ keepMs: 0, holdTimeSec: 3 });
  const port = src.ports().bgp;

  // A good session first, then a route, then an AS_PATH with segment type 9.
  const s = await raw(port);
  s.sock.write(encodeOpen({ asn: 65001, holdTime: 90, bgpId: "10.0.0.1" }));
  s.sock.write(KEEPALIVE);
  await waitFor("Established", () => neighborState(src)?.detail?.fsm === "Established");
  assert.equal(s.msgs[0]?.type, 1, "our OPEN first");
  const origin = [0x40, 1, 1, 0];
  const nh = [0x40, 3, 4, 192, 0, 2, 1];
  s.sock.write(update([...origin, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9, ...nh], [24, 203, 0, 113]));
  await waitFor("route", () => src.routes() === 1);
  assert.equal(src.lookup("127.0.0.1", ip("203.0.113.1"), 0)?.originAs, 65001);
  s.sock.write(update([...origin, 0x40, 2, 6, 9, 1, 0, 0, 0xfd, 0xe9, ...nh], [24, 198, 51, 100]));
  await s.closed;
  assert.equal(notification(s.msgs), "3/11", "Malformed AS_PATH");
  assert.equal(src.routes(), 0, "session closed: routes dropped");
  const st = neighborState(src)!;
  assert.equal(st.errors, 1);
  assert.match(String(st.lastError), /AS_PATH segment type 9/);

  // Wrong AS in OPEN → 2/2 Bad Peer AS.
  const w = await raw(port);
  w.sock.write(encodeOpen({ asn: 65099, holdTime: 90, bgpId: "10.0.0.1" }));
  await w.closed;
  assert.equal(notification(w.msgs), "2/2");

  // Not a configured neighbor → Cease / Connection Rejected.
  const u = await raw(port, "127.0.0.3");
  await u.closed;
  assert.equal(notification(u.msgs), "6/5");
  assert.match(String(src.state().find((x) => x.name === "bgp")?.lastError), /127\.0\.0\.3/);

  // OPEN with hold time 3, then silence → Hold Timer Expired after ~3 s.
  const h = await raw(port);
  h.sock.write(encodeOpen({ asn: 65001, holdTime: 3, bgpId: "10.0.0.1" }));
  h.sock.write(KEEPALIVE);
  const t0 = Date.now();
  await h.closed;
  assert.equal(notification(h.msgs), "4/0");
  assert.ok(Date.now() - t0 >= 2500, `closed after ${Date.now() - t0} ms`);
  assert.equal(neighborState(src)?.errors, 3);
});
