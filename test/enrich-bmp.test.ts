// BMP station against a real BMP client: Debian's gobgpd (router A) streams
// to our station what it learns from a second gobgpd (peer B), on loopback.
//
//   gobgpd B (AS 65002, 127.0.0.2) ──BGP, ADD-PATH──▶ gobgpd A (AS 65001) ──BMP──▶ our station
//
// Routes are announced and withdrawn on B with the gobgp CLI; we check our
// lookups, Peer Down, the session close, and malformed messages. Fails (does
// not skip) when gobgpd is missing.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { test } from "node:test";
import { formatIp, parseIp } from "../src/collector/ip.js";
import type { RoutingSource } from "../src/enrich/routing/index.js";
import { freePort, gobgpdFixture, waitFor, type Gobgpd } from "./helpers/gobgpd.js";

const kit = gobgpdFixture();

const ip = (s: string): Uint8Array => parseIp(s)!;

const routing = (bmp: Record<string, unknown>, routers?: Record<string, unknown>): Promise<RoutingSource> =>
  kit.routing({ bmp: { listen: "127.0.0.1:0", ...bmp }, routers });

async function pair(bmpPort: number, policy: string): Promise<{ a: Gobgpd; b: Gobgpd }> {
  const pb = await freePort("127.0.0.2");
  const b = await kit.gobgpd({
    as: 65002,
    routerId: "10.255.0.2",
    port: pb,
    listenAddress: "127.0.0.2",
    neighbors: [{ address: "127.0.0.1", peerAs: 65001, passive: true, addPaths: { sendMax: 8 } }],
  });
  const a = await kit.gobgpd({
    as: 65001,
    routerId: "10.255.0.1",
    neighbors: [
      {
        address: "127.0.0.2",
        peerAs: 65002,
        remotePort: pb,
        localAddress: "127.0.0.1",
        addPaths: { receive: true },
      },
    ],
    bmp: [{ port: bmpPort, policy }],
  });
  return { a, b };
}

function routerState(src: RoutingSource, router = "127.0.0.1") {
  return src.state().find((s) => s.name === `bmp:${router}`);
}

test("gobgpd BMP (post-policy view of ADD-PATH routes): v4/v6 attributes, ADD-PATH, withdrawals, Peer Down, exporter map", async () => {
  // Our station keeps only pre-policy views although gobgpd sends everything ("all").
  const src = await routing(
    { keepMs: 0, policy: "pre" },
    { map: { "192.0.2.50": "127.0.0.1" }, fallback: false },
  );
  const { b } = await pair(src.ports().bmp, "all");
  await b.announce("10.1.0.0/16", {
    nexthop: "192.0.2.9",
    community: "65000:100,65000:200",
    aspath: "65010,65020",
    "large-community": "65000:1:2,4200000000:3:4",
  });
  await b.announce("10.1.2.0/24", { nexthop: "192.0.2.9", aspath: "4200000001" });
  await b.announce("2001:db8:1::/48", { nexthop: "2001:db8::9", aspath: "65030" });
  // Two paths for one prefix (RFC 7911): only parseable if the Peer Up OPENs are honoured.
  await b.announce("10.2.0.0/24", { nexthop: "192.0.2.9", aspath: "65100", identifier: 1 });
  await b.announce("10.2.0.0/24", { nexthop: "192.0.2.9", aspath: "65200,65201", identifier: 2 });
  await waitFor("5 routes over BMP", () => src.routes() === 5).catch((e: Error) => {
    throw new Error(`${e.message}: ${JSON.stringify(src.state())}`);
  });

  const hit = src.lookup("127.0.0.1", ip("10.1.9.9"), 0);
  assert.ok(hit);
  assert.equal(hit.prefixLen, 16);
  // A is eBGP to B, so B's AS leads the path A received.
  assert.equal(hit.asPath, "65002 65010 65020");
  assert.equal(hit.originAs, 65020);
  assert.equal(hit.communities, "65000:100 65000:200");
  assert.equal(hit.largeCommunities, "65000:1:2 4200000000:3:4");
  assert.equal(formatIp(hit.nextHop, 0), "192.0.2.9");
  const more = src.lookup("127.0.0.1", ip("10.1.2.3"), 0);
  assert.equal(more?.prefixLen, 24);
  assert.equal(more?.originAs, 4200000001, "4-byte AS (RFC 6793)");
  const v6 = src.lookup("127.0.0.1", ip("2001:db8:1:ffff::1"), 0);
  assert.equal(v6?.prefixLen, 48);
  assert.equal(v6?.asPath, "65002 65030");
  assert.equal(formatIp(v6!.nextHop, 0), "2001:db8::9");
  assert.equal(src.lookup("127.0.0.1", ip("2001:db8:2::1"), 0), null);
  assert.equal(src.lookup("127.0.0.1", ip("10.3.0.1"), 0), null);
  // Both paths kept; the shorter AS path wins.
  assert.equal(src.lookup("127.0.0.1", ip("10.2.0.1"), 0)?.asPath, "65002 65100");

  // The exporter map: a flow exporter that is not the BMP router itself.
  assert.equal(src.lookup("192.0.2.50", ip("10.1.9.9"), 0)?.prefixLen, 16);
  assert.equal(src.lookup("198.51.100.1", ip("10.1.9.9"), 0), null, "no fallback configured");

  const st = routerState(src)!;
  assert.equal(st.status, "loaded");
  assert.equal(st.errors, 0, String(st.lastError));
  assert.equal(st.detail?.routesV4, 4);
  assert.equal(st.detail?.routesV6, 1);
  assert.equal(st.detail?.peersUp, 1);
  assert.equal(st.detail?.sysName, "GoBGP");

  // Withdrawals.
  await b.withdraw("10.1.2.0/24");
  await b.withdraw("10.2.0.0/24", { identifier: 1 });
  await waitFor("withdrawals", () => src.routes() === 3);
  assert.equal(src.lookup("127.0.0.1", ip("10.1.2.3"), 0)?.prefixLen, 16);
  assert.equal(src.lookup("127.0.0.1", ip("10.2.0.1"), 0)?.asPath, "65002 65200 65201");

  // Peer B goes away: A sends Peer Down, its routes go.
  await b.stop();
  await waitFor("peer down", () => src.routes() === 0);
  assert.equal(src.lookup("127.0.0.1", ip("10.1.9.9"), 0), null);
  assert.equal(routerState(src)?.detail?.peersUp, 0);
  assert.equal(routerState(src)?.detail?.connected, 1);
});

test("gobgpd BMP (Loc-RIB, RFC 9069): routes kept for keepMs after a close, replaced on reconnect, then dropped", async () => {
  const src = await routing({ keepMs: 4000 }, { fallback: true });
  const bmpTo = [{ port: src.ports().bmp, policy: "local-rib" }];
  const a = await kit.gobgpd({ as: 65001, routerId: "10.255.0.1", bmp: bmpTo });
  await a.announce("198.51.100.0/24", { nexthop: "192.0.2.1", community: "65001:7" });
  await a.announce("2001:db8:ab::/48", { nexthop: "2001:db8::1" });
  await waitFor("Loc-RIB routes", () => src.routes() === 2);
  const r = src.lookup("203.0.113.9", ip("198.51.100.20"), 0);
  assert.equal(r?.communities, "65001:7", "fallback: an unknown exporter uses the router with routes");
  assert.equal(r?.originAs, 0, "a local route has an empty AS path");
  assert.equal(r?.asPath, "");

  await a.stop();
  await waitFor("session closed", () => routerState(src)?.detail?.connected === 0);
  assert.equal(src.routes(), 2, "kept during the grace period");
  assert.equal(routerState(src)?.status, "error");

  // The router comes back within the grace period with a different table: the
  // old routes answer until the new session re-announces, then only the new ones stay.
  const a2 = await kit.gobgpd({ as: 65001, routerId: "10.255.0.1", bmp: bmpTo });
  await a2.announce("198.51.100.0/24", { nexthop: "192.0.2.1", community: "65001:8" });
  await waitFor(
    "new session's routes",
    () => src.lookup("127.0.0.1", ip("198.51.100.20"), 0)?.communities === "65001:8",
  );
  await waitFor("old routes replaced", () => src.routes() === 1);
  assert.equal(src.lookup("127.0.0.1", ip("2001:db8:ab::1"), 0), null);
  assert.equal(routerState(src)?.status, "loaded");

  await a2.stop();
  await waitFor("closed again", () => routerState(src)?.detail?.connected === 0);
  await waitFor("grace period over", () => src.routes() === 0, 8000);
  assert.equal(routerState(src), undefined);
});

/** A BMP message: common header (RFC 7854 §4.1) around `body`. */
function bmp(type: number, body: number[]): Buffer {
  const len = 6 + body.length;
  return Buffer.from([3, len >>> 24, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff, type, ...body]);
}

const peerHeader = [
  0,
  0,
  ...new Array(8).fill(0),
  ...new Array(12).fill(0),
  192,
  0,
  2,
  1,
  0,
  0,
  0xfd,
  0xe8,
  192,
  0,
  2,
  1,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
  0,
];

test("malformed BMP: a bad UPDATE is counted and skipped, a bad version closes the session", async () => {
  const src = await routing({ keepMs: 0, policy: "pre" });
  const sock = connect({ port: src.ports().bmp, host: "127.0.0.1" });
  await new Promise<void>((r) => sock.once("connect", () => r()));
  const closed = new Promise<void>((r) => sock.once("close", () => r()));
  // Initiation with sysName "raw".
  sock.write(bmp(4, [0, 2, 0, 3, 0x72, 0x61, 0x77]));
  // Route Monitoring whose UPDATE claims 50 bytes of attributes but has 2.
  const update = [0, 0, 0, 50, 0x40, 1];
  const bgp = [...new Array(16).fill(0xff), 0, 19 + update.length, 2, ...update];
  sock.write(bmp(0, [...peerHeader, ...bgp]));
  // Route Monitoring with a good UPDATE after it: 192.0.2.0/24 from AS 65000.
  const attrs = [0x40, 1, 1, 0, 0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe8, 0x40, 3, 4, 192, 0, 2, 1];
  const good = [0, 0, 0, attrs.length, ...attrs, 24, 192, 0, 2];
  sock.write(bmp(0, [...peerHeader, ...new Array(16).fill(0xff), 0, 19 + good.length, 2, ...good]));
  // The same as a post-policy view (L flag): not kept with policy "pre".
  const post = [...peerHeader];
  post[1] = 0x40;
  const good2 = [0, 0, 0, attrs.length, ...attrs, 24, 198, 51, 100];
  sock.write(bmp(0, [...post, ...new Array(16).fill(0xff), 0, 19 + good2.length, 2, ...good2]));
  await waitFor("good route after the bad one", () => src.routes() === 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(src.routes(), 1, "post-policy view filtered out");
  assert.equal(src.lookup("127.0.0.1", ip("198.51.100.1"), 0), null);
  assert.equal(src.lookup("127.0.0.1", ip("192.0.2.77"), 0)?.originAs, 65000);
  let st = routerState(src)!;
  assert.equal(st.errors, 1);
  assert.match(String(st.lastError), /malformed/);
  assert.equal(st.detail?.sysName, "raw");
  // Version 2: the stream cannot be trusted any more.
  sock.write(Buffer.from([2, 0, 0, 0, 6, 4]));
  await closed;
  await waitFor("router dropped", () => routerState(src) === undefined);
  st = src.state().find((s) => s.name === "bmp")!;
  assert.equal(st.entries, 0);
});
