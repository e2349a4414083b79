// Routing configuration (enrich.bmp / enrich.bgp / enrich.routers): defaults,
// validation errors that name the key path; and the BGP UPDATE grammar cases
// gobgpd does not produce on its own (2-byte sessions with AS4_PATH, extended
// attribute lengths, ADD-PATH NLRI, junk past the prefix length).
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatIp } from "../src/collector/ip.js";
import { ConfigError } from "../src/config/schema.js";
import { parseOpen, parseUpdate, encodeOpen } from "../src/enrich/routing/bgp.js";
import { defaultRoutingConfig, validateRoutingConfig } from "../src/enrich/routing/config.js";

function configError(raw: Parameters<typeof validateRoutingConfig>[0]): string {
  try {
    validateRoutingConfig(raw);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail("expected a ConfigError");
}

test("routing config: defaults, sections switch on, errors name the key path", () => {
  const d = defaultRoutingConfig();
  assert.equal(d.bmp.enabled, false);
  assert.equal(d.bgp.enabled, false);
  assert.equal(d.bmp.listen, "0.0.0.0:10179");
  const c = validateRoutingConfig({
    bmp: { listen: "[::]:11019", keepMs: 0, policy: "post" },
    bgp: { asn: 64512, routerId: "192.0.2.7", neighbors: [{ address: "2001:db8::1", asn: 64512 }] },
    routers: { map: { "192.0.2.10": "10.0.0.1" }, fallback: false },
  });
  assert.equal(c.bmp.enabled, true);
  assert.equal(c.bmp.policy, "post");
  assert.equal(c.bgp.enabled, true);
  assert.equal(c.bgp.neighbors[0]?.address, "2001:db8::1");
  assert.equal(c.routers.map["192.0.2.10"], "10.0.0.1");
  assert.equal(c.routers.fallback, false);

  assert.match(configError({ bmp: { listen: "10179" } }), /enrich\.bmp\.listen/);
  assert.match(configError({ bmp: { lsiten: ":1" } }), /enrich\.bmp\.lsiten: unknown key/);
  assert.match(configError({ bmp: { policy: "both" } }), /enrich\.bmp\.policy/);
  assert.match(configError({ bgp: { neighbors: [] } }), /enrich\.bgp\.neighbors: at least one/);
  assert.match(
    configError({ bgp: { neighbors: [{ address: "router1" }] } }),
    /enrich\.bgp\.neighbors\[0\]\.address/,
  );
  assert.match(
    configError({ bgp: { holdTimeSec: 2, neighbors: [{ address: "192.0.2.1" }] } }),
    /enrich\.bgp\.holdTimeSec/,
  );
  assert.match(
    configError({ bgp: { routerId: "0.0.0.0", neighbors: [{ address: "192.0.2.1" }] } }),
    /routerId/,
  );
  assert.match(
    configError({ routers: { map: { "192.0.2.1": "r1" } } }),
    /enrich\.routers\.map\.192\.0\.2\.1/,
  );
});

const ctx2 = { as4: false, addPath: new Set<string>() };

test("UPDATE on a 2-byte session: AS4_PATH restores the 4-byte ASes behind AS_TRANS (RFC 6793 §4.2.3)", () => {
  // AS_PATH (2-byte): 65000 23456 23456; AS4_PATH: 4200000001 4200000002.
  const attrs = [
    0x40, 1, 1, 0,
    0x40, 2, 8, 2, 3, 0xfd, 0xe8, 0x5b, 0xa0, 0x5b, 0xa0,
    0x40, 3, 4, 192, 0, 2, 1,
    0xc0, 17, 10, 2, 2, 0xfa, 0x56, 0xea, 0x01, 0xfa, 0x56, 0xea, 0x02,
  ]; // prettier-ignore
  const body = new Uint8Array([0, 0, 0, attrs.length, ...attrs, 16, 10, 20]);
  const u = parseUpdate(body, ctx2);
  assert.equal(u.attrs?.asPath, "65000 4200000001 4200000002");
  assert.equal(u.attrs?.originAs, 4200000002);
  assert.equal(u.announced[0]?.len, 16);
  assert.equal(formatIp(u.announced[0]!.addr, 0), "10.20.0.0");
});

test("UPDATE: extended-length attribute, ADD-PATH NLRI, host bits cleared, MP_UNREACH End-of-RIB", () => {
  // 70 communities need an extended length (280 bytes > 255).
  const comms: number[] = [];
  for (let k = 0; k < 70; k++) comms.push(0xfd, 0xe8, 0, k);
  const attrs = [
    0x40,
    1,
    1,
    0,
    0x40,
    2,
    0,
    0x40,
    3,
    4,
    192,
    0,
    2,
    1,
    0xd0,
    8,
    comms.length >> 8,
    comms.length & 0xff,
    ...comms,
  ];
  // ADD-PATH: path id 7, 192.0.2.128/25 sent with host bits set (0xff).
  const nlri = [0, 0, 0, 7, 25, 192, 0, 2, 0xff];
  const u = parseUpdate(new Uint8Array([0, 0, attrs.length >> 8, attrs.length & 0xff, ...attrs, ...nlri]), {
    as4: true,
    addPath: new Set(["1/1"]),
  });
  assert.equal(u.attrs?.communities.split(" ").length, 70);
  assert.equal(u.attrs?.communities.split(" ")[69], "65000:69");
  assert.equal(u.attrs?.asPath, "");
  assert.equal(u.announced[0]?.pathId, 7);
  assert.equal(formatIp(u.announced[0]!.addr, 0), "192.0.2.128");
  // The same bytes without ADD-PATH are a different (and here invalid) grammar.
  assert.throws(() =>
    parseUpdate(new Uint8Array([0, 0, attrs.length >> 8, attrs.length & 0xff, ...attrs, ...nlri]), ctx2),
  );
  // MP_UNREACH_NLRI for IPv6 with no prefixes: End-of-RIB (RFC 4724 §2).
  const eor = parseUpdate(new Uint8Array([0, 0, 0, 6, 0x80, 15, 3, 0, 2, 1]), ctx2);
  assert.equal(eor.endOfRib, true);
  assert.equal(eor.attrs, null);
  // A prefix longer than its family: malformed.
  assert.throws(() => parseUpdate(new Uint8Array([0, 0, 0, 0, 33, 1, 2, 3, 4, 5]), ctx2), /prefix length 33/);
});

test("OPEN: our capabilities parse back; RFC 9072 extended optional parameters", () => {
  const o = parseOpen(encodeOpen({ asn: 4200000000, holdTime: 90, bgpId: "192.0.2.9" }).subarray(19));
  assert.equal(o.asn, 4200000000);
  assert.equal(o.as4, true);
  assert.deepEqual(o.multiprotocol, ["1/1", "2/1"]);
  assert.equal(o.routeRefresh, true);
  assert.equal(o.bgpId, "192.0.2.9");
  // Extended: Opt Parm Len 255, type 255, 2-byte length, params with 2-byte lengths.
  const caps = [65, 4, 0, 0, 0xfd, 0xe8, 69, 4, 0, 2, 1, 3];
  const ext = [4, 0xfd, 0xe8, 0, 90, 10, 0, 0, 1, 255, 255, 0, 3 + caps.length, 2, 0, caps.length, ...caps];
  const e = parseOpen(new Uint8Array(ext));
  assert.equal(e.asn, 65000);
  assert.equal(e.addPath.get("2/1"), 3);
});
