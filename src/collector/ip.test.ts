import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIp, parseIp, putIpv4, formatMac, readMac } from "./ip.js";

test("IPv4 round-trips through the IPv4-mapped form", () => {
  const b = new Uint8Array(16);
  putIpv4(b, 0, 0xc0000201);
  assert.equal(formatIp(b, 0), "192.0.2.1");
  assert.deepEqual(parseIp("192.0.2.1"), b);
  assert.equal(parseIp("256.0.0.1"), null);
});

test("IPv6 formats per RFC 5952 and parses back", () => {
  for (const text of [
    "2001:db8::1",
    "::1",
    "fe80::a:b:c:d",
    "2001:db8:0:1:1:1:1:1",
    "1::",
    "2001:0:0:1::1",
  ]) {
    const b = parseIp(text);
    assert.ok(b, text);
    assert.equal(formatIp(b, 0), text);
  }
  assert.equal(formatIp(parseIp("2001:0db8:0000:0000:0000:0000:0000:0001")!, 0), "2001:db8::1");
  assert.equal(parseIp("1:2:3"), null);
  assert.equal(parseIp("1::2::3"), null);
  assert.equal(formatIp(new Uint8Array(16), 0), "");
});

test("MAC addresses survive the Float64 representation", () => {
  const m = new Uint8Array([0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54]);
  assert.equal(formatMac(readMac(m, 0)), "fe:dc:ba:98:76:54");
  assert.equal(formatMac(0), "");
});
