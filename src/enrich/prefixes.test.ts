// The networks-file longest-prefix match (PrefixTable: flattened intervals,
// binary search over Uint32Array starts) against a naive reference (every
// prefix checked bit by bit, longest wins), on random nested prefixes and
// addresses, IPv4 and IPv6, including the edges of the address space.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatIp, parseIp } from "../collector/ip.js";
import { PrefixTable, parsePrefixText, type ParsedPrefix } from "./prefixes.js";

let seed = 987654321;
const rnd = (n: number): number => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) % n;
};

/** Bit i of a prefix's family address (IPv4: bytes 12-15 of the mapped form). */
function bit(b: Uint8Array, v4: boolean, i: number): number {
  const byte = (v4 ? 12 : 0) + (i >> 3);
  return (b[byte]! >> (7 - (i & 7))) & 1;
}

function isV4(a: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  return a[10] === 0xff && a[11] === 0xff;
}

/** Naive longest match: the last-set value of the longest covering prefix. */
function naive(list: { p: ParsedPrefix; v: number }[], a: Uint8Array): number | null {
  const v4 = isV4(a);
  let best: { len: number; v: number } | null = null;
  for (const { p, v } of list) {
    if (p.v4 !== v4) continue;
    let ok = true;
    for (let i = 0; i < p.len && ok; i++) if (bit(p.bytes, v4, i) !== bit(a, v4, i)) ok = false;
    if (ok && (best === null || p.len >= best.len)) best = { len: p.len, v };
  }
  return best?.v ?? null;
}

function randomV4(): string {
  return `${rnd(4) === 0 ? 10 : rnd(256)}.${rnd(4)}.${rnd(256)}.${rnd(256)}`;
}
function randomV6(): string {
  const h = (): string => rnd(65536).toString(16);
  return rnd(2) === 0 ? `2001:db8:${rnd(4)}:${h()}::${h()}` : `${h()}:${h()}::${h()}:${h()}`;
}

test("PrefixTable = naive longest match (random nested prefixes, IPv4 and IPv6, edges)", () => {
  for (let round = 0; round < 5; round++) {
    const table = new PrefixTable<number>();
    const list: { p: ParsedPrefix; v: number }[] = [];
    const add = (text: string): void => {
      const p = parsePrefixText(text);
      assert.ok(typeof p !== "string", text);
      const v = list.length;
      table.set(p, v);
      // A re-added prefix replaces the old value: keep the reference in step.
      const same = list.findIndex(
        (x) =>
          x.p.v4 === p.v4 &&
          x.p.len === p.len &&
          [...Array(p.len).keys()].every((i) => bit(x.p.bytes, p.v4, i) === bit(p.bytes, p.v4, i)),
      );
      if (same >= 0) list.splice(same, 1);
      list.push({ p, v });
    };
    if (round > 0) add("0.0.0.0/0");
    if (round > 1) add("::/0");
    for (const t of [
      "255.255.255.255/32",
      "255.255.255.0/24",
      "0.0.0.0/32",
      "128.0.0.0/1",
      "ffff::/16",
      "::/128",
    ])
      add(t);
    for (let i = 0; i < 300; i++) add(`${randomV4()}/${rnd(33)}`);
    for (let i = 0; i < 200; i++) add(`${randomV6()}/${rnd(129)}`);
    // Host bits set on purpose: they are ignored.
    add("10.1.2.3/16");
    table.build();
    const texts = [
      "0.0.0.0", "255.255.255.255", "255.255.254.255", "127.255.255.255", "128.0.0.0", "10.1.0.0", "10.1.255.255",
      "::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff::", "2001:db8::",
    ]; // prettier-ignore
    for (let i = 0; i < 4000; i++) texts.push(randomV4(), randomV6());
    const addrs = texts.map((t) => parseIp(t)!);
    // Each prefix's first and last address, and the ones just outside.
    for (const { p } of list.slice(0, 200)) {
      const lo = p.bytes.slice();
      const base = p.v4 ? 12 : 0;
      const bits = p.v4 ? 32 : 128;
      for (let i = p.len; i < bits; i++) lo[base + (i >> 3)]! &= ~(0x80 >> (i & 7));
      const hi = lo.slice();
      for (let i = p.len; i < bits; i++) hi[base + (i >> 3)]! |= 0x80 >> (i & 7);
      addrs.push(lo, hi);
    }
    const buf = new Uint8Array(16 * 3);
    for (const a of addrs) {
      // At an offset inside a column, as the service calls it.
      buf.set(a, 16);
      assert.equal(table.lookup(buf, 16), naive(list, a), `${formatIp(a, 0)} (round ${round})`);
    }
  }
});

test("PrefixTable: IPv4 prefixes never answer IPv6 addresses and the other way round", () => {
  const t = new PrefixTable<string>();
  t.set(parsePrefixText("0.0.0.0/0") as ParsedPrefix, "v4-default");
  t.build();
  assert.equal(t.lookup(parseIp("192.0.2.1")!, 0), "v4-default");
  assert.equal(t.lookup(parseIp("2001:db8::1")!, 0), null);
  assert.equal(t.lookup(parseIp("::c000:201")!, 0), null, "IPv4-compatible (not mapped) is IPv6");
  t.set(parsePrefixText("::/0") as ParsedPrefix, "v6-default");
  t.build();
  assert.equal(t.lookup(parseIp("2001:db8::1")!, 0), "v6-default");
  assert.equal(t.lookup(parseIp("192.0.2.1")!, 0), "v4-default");
});
