// The GeoIP tree walker (MmdbTree: search tree walked from the 16-byte
// address, records memoized per data pointer) against mmdb-lib's own
// text-address lookup, on .mmdb files written by MaxMind's writer
// (test/tools/mmdbgen, NAGARE_MMDBGEN: .ci/setup.d/45-mmdb.sh) with every
// record size and both tree kinds, over random and edge addresses.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatIp, parseIp } from "../collector/ip.js";
import { writeMmdb } from "../../test/helpers/mmdb.js";
import { GeoIp, MmdbTree, geoFromRecord } from "./geoip.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-geoip-walk-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let seed = 12345;
const rnd = (): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};
const ip4 = (w: number): string => `${w >>> 24}.${(w >>> 16) & 255}.${(w >>> 8) & 255}.${w & 255}`;
const hex = (n: number): string => (n & 0xffff).toString(16);
const ip6 = (): string => `2001:db8:${hex(rnd())}:${hex(rnd())}::${hex(rnd())}`;

function networks(v6: boolean): { prefix: string; data: unknown }[] {
  const out = new Map<string, unknown>();
  const cc = ["JP", "US", "DE", "FR", "BR"];
  // Nested and adjacent prefixes, the edges of the space, host routes.
  const fixed = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "10.1.0.0/16",
    "10.1.2.0/24",
    "10.1.2.3/32",
    "255.255.255.255/32",
    "128.0.0.0/1",
  ];
  for (const p of fixed) out.set(p, null);
  for (let i = 0; i < 400; i++) {
    const len = 8 + (rnd() % 25);
    const w = (rnd() & (len === 0 ? 0 : (~0 << (32 - len)) >>> 0)) >>> 0;
    out.set(`${ip4(w)}/${len}`, null);
  }
  if (v6) {
    for (const p of ["2001:db8::/32", "2001:db8:1::/48", "2001:db8:1:2::1/128", "ffff::/16", "2c0f::/16"])
      out.set(p, null);
    for (let i = 0; i < 200; i++) out.set(`2001:db8:${hex(rnd())}::/${33 + (rnd() % 60)}`, null);
  }
  let i = 0;
  return [...out.keys()].map((prefix) => {
    i++;
    // A few shared records (as in a Country database) and a few distinct (as in ASN).
    const data =
      i % 3 === 0
        ? { autonomous_system_number: 64500 + (i % 50), autonomous_system_organization: `ORG ${i % 50}` }
        : {
            country: { iso_code: cc[i % cc.length], geoname_id: i % 5 },
            registered_country: { iso_code: "ZZ" },
          };
    return { prefix, data };
  });
}

function addresses(v6: boolean): Uint8Array[] {
  const texts: string[] = [
    "0.0.0.0", "0.255.255.255", "1.0.0.0", "10.0.0.0", "10.1.2.2", "10.1.2.3", "10.1.2.4", "10.1.255.255",
    "127.255.255.255", "128.0.0.0", "255.255.255.254", "255.255.255.255",
  ]; // prettier-ignore
  for (let i = 0; i < 3000; i++) texts.push(ip4(rnd()));
  if (v6) {
    texts.push(
      "::",
      "::1",
      "2001:db8::",
      "2001:db8:1:2::1",
      "2001:db8:1:2::2",
      "ffff::1",
      "ffff:ffff::",
      "2c0f:ffff::1",
    );
    for (let i = 0; i < 2000; i++) texts.push(ip6());
  }
  return texts.map((t) => parseIp(t)!);
}

for (const ipVersion of [4, 6] as const)
  for (const recordSize of [24, 28, 32] as const)
    test(`walker = mmdb-lib (IPv${ipVersion} tree, ${recordSize}-bit records)`, () => {
      const path = join(dir, `t${ipVersion}-${recordSize}.mmdb`);
      writeMmdb(path, { databaseType: "Test", ipVersion, recordSize, networks: networks(ipVersion === 6) });
      const tree = new MmdbTree(readFileSync(path));
      assert.equal(tree.recordSize, recordSize);
      assert.equal(tree.ipVersion, ipVersion);
      let hits = 0;
      let misses = 0;
      for (const a of addresses(ipVersion === 6)) {
        const text = formatIp(a, 0);
        const want = tree.reader.get(text);
        assert.deepEqual(tree.record(a, 0), want, text);
        const got = tree.lookup(a, 0);
        assert.deepEqual(got, want ? geoFromRecord(want) : null, text);
        // Memoized: the same object the second time.
        assert.equal(tree.lookup(a, 0), got);
        if (want) hits++;
        else misses++;
      }
      // The address mix must exercise both answers.
      assert.ok(hits > 500 && misses > 500, `hits ${hits} misses ${misses}`);
    });

test("GeoIp merges databases field by field, with stable answer objects", async () => {
  const country = join(dir, "c.mmdb");
  const asn = join(dir, "a.mmdb");
  writeMmdb(country, {
    databaseType: "GeoLite2-Country",
    networks: [{ prefix: "192.0.2.0/24", data: { country: { iso_code: "JP" } } }],
  });
  writeMmdb(asn, {
    databaseType: "GeoLite2-ASN",
    networks: [
      {
        prefix: "192.0.2.0/25",
        data: { autonomous_system_number: 2914, autonomous_system_organization: "NTT" },
      },
      {
        prefix: "2001:db8::/32",
        data: { autonomous_system_number: 64500, autonomous_system_organization: "X" },
      },
    ],
  });
  const g = new GeoIp([country, asn], 0);
  for (const d of g.dbs) await d.start();
  try {
    const a = parseIp("192.0.2.1")!;
    const one = g.lookup(a, 0);
    assert.deepEqual(one, { country: "JP", asn: 2914, asName: "NTT" });
    assert.equal(g.lookup(parseIp("192.0.2.100")!, 0), one);
    assert.deepEqual(g.lookup(parseIp("192.0.2.200")!, 0), { country: "JP", asn: 0, asName: "" });
    assert.deepEqual(g.lookup(parseIp("2001:db8::1")!, 0), { country: "", asn: 64500, asName: "X" });
    assert.deepEqual(g.lookup(parseIp("198.51.100.1")!, 0), { country: "", asn: 0, asName: "" });
  } finally {
    for (const d of g.dbs) await d.stop();
  }
});
