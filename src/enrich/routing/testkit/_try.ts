import { createRoutingSource, validateRoutingConfig } from "../index.js";
import { startGobgpd, waitFor, freePort } from "./gobgpd.js";
import { createLogger } from "../../../log.js";
import { parseIp, formatIp } from "../../../collector/ip.js";
const cfg = validateRoutingConfig({ bmp: { listen: "127.0.0.1:0", keepMs: 0 } });
const src = createRoutingSource(cfg, createLogger({ level: "debug" }));
await src.start();
const pb = await freePort();
const B = await startGobgpd({
  as: 65002,
  routerId: "10.255.0.2",
  port: pb,
  listenAddress: "127.0.0.2",
  neighbors: [{ address: "127.0.0.1", peerAs: 65001, passive: true }],
});
const A = await startGobgpd({
  as: 65001,
  routerId: "10.255.0.1",
  neighbors: [{ address: "127.0.0.2", peerAs: 65002, remotePort: pb, localAddress: "127.0.0.1" }],
  bmp: [{ port: src.ports().bmp, policy: process.argv[2] ?? "pre-policy" }],
});
await B.cli([
  "global",
  "rib",
  "add",
  "10.1.0.0/16",
  "-a",
  "ipv4",
  "nexthop",
  "192.0.2.9",
  "community",
  "65000:100",
  "aspath",
  "65010,65020",
  "large-community",
  "65000:1:2",
]);
await B.cli([
  "global",
  "rib",
  "add",
  "2001:db8:1::/48",
  "-a",
  "ipv6",
  "nexthop",
  "2001:db8::9",
  "aspath",
  "65030",
]);
await A.cli(["global", "rib", "add", "10.9.0.0/16", "-a", "ipv4", "nexthop", "192.0.2.10"]);
try {
  await waitFor("routes", () => src.routes() >= 2, 15000);
} catch (e) {
  console.log(String(e));
}
console.log(JSON.stringify(src.state(), null, 1));
const r = src.lookup("127.0.0.1", parseIp("10.1.2.3")!, 0);
console.log(r, r && formatIp(r.nextHop, 0));
const r6 = src.lookup("127.0.0.1", parseIp("2001:db8:1::5")!, 0);
console.log(r6, r6 && formatIp(r6.nextHop, 0));
console.log(await A.cli(["neighbor"]));
await B.stop();
await new Promise((r) => setTimeout(r, 1500));
console.log(JSON.stringify(src.state().map((s) => [s.name, s.entries, s.detail?.peersUp])));
await A.stop();
await src.stop();
