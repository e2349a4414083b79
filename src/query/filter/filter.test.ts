import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { test } from "node:test";
import { parseIp } from "../../collector/ip.js";
import { FLOW_COLUMNS } from "../../schema.js";
import { FilterError, compileFilter, parseFilter, renderFilterError, tokenize } from "./index.js";

/** The store's UHUGEINT parameter: the 16 address bytes read as one big-endian integer. */
const ip = (s: string): bigint => BigInt(`0x${Buffer.from(parseIp(s)!).toString("hex")}`);

test("lexer: words, operators, offsets", () => {
  assert.deepEqual(
    tokenize("src net 10/8&&port>=1024").map((t) => [t.kind, t.text, t.pos]),
    [
      ["word", "src", 0],
      ["word", "net", 4],
      ["word", "10/8", 8],
      ["&&", "&&", 12],
      ["word", "port", 14],
      ["op", ">=", 18],
      ["word", "1024", 20],
      ["end", "", 24],
    ],
  );
});

// Every primitive → exact SQL and params.
const PRIMITIVES: [string, string, unknown[]][] = [
  ["any", "TRUE", []],
  ["ipv4", "ip_version = ?", [4]],
  ["inet", "ip_version = ?", [4]],
  ["ipv6", "ip_version = ?", [6]],
  ["inet6", "ip_version = ?", [6]],
  ["proto tcp", "protocol = ?", [6]],
  ["proto udp", "protocol = ?", [17]],
  ["proto icmp", "protocol = ?", [1]],
  ["proto icmp6", "protocol = ?", [58]],
  ["proto gre", "protocol = ?", [47]],
  ["proto esp", "protocol = ?", [50]],
  ["proto 132", "protocol = ?", [132]],
  ["port 80", "(src_port = ? OR dst_port = ?)", [80, 80]],
  ["src port 80", "src_port = ?", [80]],
  ["dst port gt 1024", "dst_port > ?", [1024]],
  ["port > 1024", "(src_port > ? OR dst_port > ?)", [1024, 1024]],
  ["port <= 1024", "(src_port <= ? OR dst_port <= ?)", [1024, 1024]],
  ["port == 53", "(src_port = ? OR dst_port = ?)", [53, 53]],
  ["dst port in [ 80 443 ]", "dst_port IN (?, ?)", [80, 443]],
  ["src and dst port 53", "(src_port = ? AND dst_port = ?)", [53, 53]],
  ["src or dst port 53", "(src_port = ? OR dst_port = ?)", [53, 53]],
  ["host 10.1.2.3", "(src_addr = ? OR dst_addr = ?)", [ip("10.1.2.3"), ip("10.1.2.3")]],
  ["ip 2001:db8::1", "(src_addr = ? OR dst_addr = ?)", [ip("2001:db8::1"), ip("2001:db8::1")]],
  ["src ip 10.1.2.3", "src_addr = ?", [ip("10.1.2.3")]],
  ["dst host 10.1.2.3", "dst_addr = ?", [ip("10.1.2.3")]],
  ["src ip in [ 10.0.0.1 ::1 ]", "(src_addr = ? OR src_addr = ?)", [ip("10.0.0.1"), ip("::1")]],
  ["src net 10.0.0.0/8", "src_addr BETWEEN ? AND ?", [ip("10.0.0.0"), ip("10.255.255.255")]],
  ["src net 10.1.2.3/8", "src_addr BETWEEN ? AND ?", [ip("10.0.0.0"), ip("10.255.255.255")]],
  ["dst net 172.16/12", "dst_addr BETWEEN ? AND ?", [ip("172.16.0.0"), ip("172.31.255.255")]],
  ["dst net 192.168.0.0 255.255.254.0", "dst_addr BETWEEN ? AND ?", [ip("192.168.0.0"), ip("192.168.1.255")]],
  [
    "dst net 192.168.0.0 mask 255.255.255.0",
    "dst_addr BETWEEN ? AND ?",
    [ip("192.168.0.0"), ip("192.168.0.255")],
  ],
  ["src net 10.0.0.1/32", "src_addr = ?", [ip("10.0.0.1")]],
  [
    "net 2001:db8::/32",
    "(src_addr BETWEEN ? AND ? OR dst_addr BETWEEN ? AND ?)",
    [
      ip("2001:db8::"),
      ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
      ip("2001:db8::"),
      ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"),
    ],
  ],
  ["as 15169", "(src_as = ? OR dst_as = ?)", [15169, 15169]],
  ["dst as 15169", "dst_as = ?", [15169]],
  ["src as > 64511", "src_as > ?", [64511]],
  ["as in [ 1 2 ]", "(src_as IN (?, ?) OR dst_as IN (?, ?))", [1, 2, 1, 2]],
  ["if 3", "(in_if = ? OR out_if = ?)", [3, 3]],
  ["in if 3", "in_if = ?", [3]],
  ["out if 4", "out_if = ?", [4]],
  ["vlan 10", "(src_vlan = ? OR dst_vlan = ?)", [10, 10]],
  ["dst vlan 10", "dst_vlan = ?", [10]],
  ["flags S", "(tcp_flags & ?) = ?", [2, 2]],
  ["flags SA", "(tcp_flags & ?) = ?", [0x12, 0x12]],
  ["flags X", "(tcp_flags & ?) = ?", [0x3f, 0x3f]],
  ["flags 18", "(tcp_flags & ?) = ?", [18, 18]],
  ["tos 184", "tos = ?", [184]],
  ["src tos 0", "tos = ?", [0]],
  ["src mask 24", "src_prefix_len = ?", [24]],
  ["bytes > 1000", "bytes > ?", [1000]],
  ["bytes > 2k", "bytes > ?", [2000]],
  ["packets < 3M", "packets < ?", [3_000_000]],
  ["bytes >= 1G", "bytes >= ?", [1e9]],
  ["flows > 1", "flows > ?", [1]],
  ["duration > 500", "(time_flow_end - time_flow_start) > ?", [500]],
  [
    "bps > 1m",
    "(CASE WHEN (time_flow_end - time_flow_start) > 0 THEN floor(CAST(bytes AS DOUBLE) * 8000 / (time_flow_end - time_flow_start)) ELSE 0 END) > ?",
    [1e6],
  ],
  [
    "pps > 10",
    "(CASE WHEN (time_flow_end - time_flow_start) > 0 THEN floor(CAST(packets AS DOUBLE) * 1000 / (time_flow_end - time_flow_start)) ELSE 0 END) > ?",
    [10],
  ],
  ["bpp < 100", "(CASE WHEN packets > 0 THEN floor(CAST(bytes AS DOUBLE) / packets) ELSE 0 END) < ?", [100]],
  ["mpls label1 16", "mpls_label_1 = ?", [16]],
  ["mpls label 16", "(mpls_label_1 = ? OR mpls_label_2 = ? OR mpls_label_3 = ?)", [16, 16, 16]],
  ["mpls any 16", "(mpls_label_1 = ? OR mpls_label_2 = ? OR mpls_label_3 = ?)", [16, 16, 16]],
  ["icmp-type 8", "(protocol IN (?, ?) AND icmp_type = ?)", [1, 58, 8]],
  ["icmp-code 3", "(protocol IN (?, ?) AND icmp_code = ?)", [1, 58, 3]],
];

test("every primitive compiles to the expected SQL and params", () => {
  for (const [f, sql, params] of PRIMITIVES) {
    const got = compileFilter(f);
    assert.equal(got.sql, sql, f);
    assert.deepEqual(got.params, params, f);
  }
  assert.deepEqual(compileFilter("  "), { sql: "TRUE", params: [] });
});

test("only schema columns appear in generated SQL", () => {
  const known = new Set<string>(FLOW_COLUMNS.map((c) => c.name));
  const keywords = new Set([
    "TRUE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "BETWEEN",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
  ]);
  keywords.add("CAST").add("AS").add("DOUBLE").add("floor");
  for (const [f] of PRIMITIVES) {
    for (const w of compileFilter(f).sql.match(/[A-Za-z_][A-Za-z0-9_]*/g) ?? []) {
      assert.ok(known.has(w) || keywords.has(w), `${f}: ${w}`);
    }
  }
});

test("precedence: not > and > or, parentheses override, && || ! synonyms", () => {
  assert.deepEqual(
    parseFilter("proto tcp or proto udp and not port 53"),
    parseFilter("proto tcp or (proto udp and (not port 53))"),
  );
  assert.equal(
    compileFilter("ipv4 or ipv6 and not any").sql,
    "(ip_version = ? OR (ip_version = ? AND (NOT TRUE)))",
  );
  assert.equal(compileFilter("(ipv4 or ipv6) and any").sql, "((ip_version = ? OR ip_version = ?) AND TRUE)");
  assert.equal(compileFilter("! ipv4 && any || any").sql, "(((NOT ip_version = ?) AND TRUE) OR TRUE)");
  assert.equal(compileFilter("not not any").sql, "(NOT (NOT TRUE))");
  // Left-associative chains.
  assert.equal(compileFilter("any and any and ipv4").sql, "((TRUE AND TRUE) AND ip_version = ?)");
  assert.equal(
    compileFilter("PROTO TCP AND Port 80").sql,
    "(protocol = ? AND (src_port = ? OR dst_port = ?))",
  );
});

// [filter, offset, token, expected text fragment]
const MALFORMED: [string, number, string, string][] = [
  ["proto tcp and foo 80", 14, "foo", "a filter primitive"],
  ["port", 4, "", "a port number"],
  ["dst port http", 9, "http", "a port number"],
  ["port 65536", 5, "65536", "a port number (0..65535)"],
  ["port 80k", 5, "80k", "a port number"],
  ["host 10.0.0.256", 5, "10.0.0.256", "an IPv4 or IPv6 address"],
  ["host 2001:db8::g", 5, "2001:db8::g", "an IPv4 or IPv6 address"],
  ["host example.com", 5, "example.com", "an IPv4 or IPv6 address"],
  ["src net 10.0.0.0/33", 17, "33", "a prefix length (0..32)"],
  ["net 2001:db8::/129", 15, "129", "a prefix length (0..128)"],
  ["net 10.0.0.0", 12, "", "contiguous netmask"],
  ["net 10.0.0.0 255.0.255.0", 13, "255.0.255.0", "contiguous netmask"],
  ["net 10.0.0.0 mask ffff::", 18, "ffff::", "contiguous netmask"],
  ["(proto tcp and port 80", 22, "", `")" to close the "(" at 0`],
  ["proto tcp)", 9, ")", "the end of the filter"],
  ["()", 1, ")", "a filter primitive"],
  ["port 80 port 443", 8, "port", `"and", "or"`],
  ["proto tcp and", 13, "", "a filter primitive"],
  ["proto xyz", 6, "xyz", "a protocol name or number"],
  ["proto 256", 6, "256", "a protocol name or number (0..255)"],
  ["flags Z", 6, "Z", "TCP flags"],
  ["prev as 1", 0, "prev", `"prev as" is not stored`],
  ["next as 1", 0, "next", `"next as" is not stored`],
  ["dst tos 3", 4, "tos", `"dst tos" is not stored`],
  ["src if 3", 4, "if", "after the direction"],
  ["port in [ ]", 10, "]", "a port number"],
  ["port in 80", 8, "80", `"["`],
  ["in 3", 3, "3", `"if"`],
  ["mpls label4 3", 5, "label4", `"label1"`],
  ["vlan 4096", 5, "4096", "a VLAN id (0..4095)"],
  ["bytes > 1t", 8, "1t", "a number of bytes"],
  ["engine-type 1", 0, "engine-type", "not stored separately"],
  [`${"(".repeat(100)}${"not ".repeat(5)}any`, 100 + 4 * 0, "not", "nested"],
];

test("malformed filters point at the offending token", () => {
  for (const [f, offset, token, expected] of MALFORMED) {
    assert.throws(
      () => compileFilter(f),
      (e: unknown) => {
        assert.ok(e instanceof FilterError, f);
        assert.equal(e.offset, offset, `${f}: ${e.message}`);
        assert.equal(e.token, token, `${f}: ${e.message}`);
        assert.ok(e.message.includes(expected), `${f}: ${e.message}`);
        assert.ok(f.slice(e.offset).startsWith(e.token), f);
        return true;
      },
    );
  }
});

test("deep nesting is an error, not a stack overflow; long flat chains compile", () => {
  assert.throws(() => compileFilter("(".repeat(100_000) + "any"), FilterError);
  assert.throws(() => compileFilter("not ".repeat(100_000) + "any"), FilterError);
  assert.equal(compileFilter(`${"(".repeat(50)}any${")".repeat(50)}`).sql, "TRUE");
  const flat = compileFilter(Array.from({ length: 300 }, (_, k) => `port ${k}`).join(" or "));
  assert.equal(flat.params.length, 600);
});

test("error message and caret rendering", () => {
  const f = "proto tcp and dst port foo";
  const e = (() => {
    try {
      compileFilter(f);
    } catch (err) {
      return err as FilterError;
    }
    throw new Error("no error");
  })();
  assert.equal(e.message, `filter: unexpected "foo" at 23: expected a port number`);
  assert.equal(renderFilterError(f, e), `${f}\n${" ".repeat(23)}^~~`);
  const end = (() => {
    try {
      compileFilter("port");
    } catch (err) {
      return err as FilterError;
    }
    throw new Error("no error");
  })();
  assert.equal(end.message, "filter: unexpected end of filter at 4: expected a port number");
  assert.equal(renderFilterError("port", end), "port\n    ^");
});

test("injection attempts are rejected or land only in params", () => {
  const hostile = [
    "port 80; drop table flows",
    "port 80 or 1=1",
    "port '80'",
    'host "10.0.0.1"',
    "port 80 -- comment",
    "port 80 /* x */",
    "host 10.0.0.1' OR '1'='1",
    "port 80) OR (1=1",
    "proto tcp; SELECT * FROM read_csv('/etc/passwd')",
    "src_port = 1",
    "port 0x50 union select 1",
    "port\u00a080",
  ];
  for (const f of hostile) {
    assert.throws(() => compileFilter(f), FilterError, f);
  }
  // Values never reach the SQL text, even in lists and nets.
  const { sql, params } = compileFilter("port in [ 1337 31337 ] or net 10.66.0.0/16 or as 4242");
  assert.doesNotMatch(sql, /\d/);
  assert.equal(params.length, 4 + 4 + 2);
});

test("random token soup never yields SQL outside the safe alphabet", () => {
  const words = [
    "port",
    "src",
    "dst",
    "and",
    "or",
    "not",
    "(",
    ")",
    "[",
    "]",
    "80",
    "in",
    "net",
    "10/8",
    "host",
    "::1",
  ];
  words.push(
    "proto",
    "tcp",
    ">",
    "flags",
    "SA",
    "bytes",
    "1k",
    "as",
    "if",
    "mpls",
    "label",
    "any",
    "!",
    "&&",
    "||",
  );
  let seed = 12345;
  const rnd = (k: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % k;
  };
  let ok = 0;
  for (let i = 0; i < 5000; i++) {
    const f = Array.from({ length: 1 + rnd(8) }, () => words[rnd(words.length)]!).join(" ");
    try {
      const { sql, params } = compileFilter(f);
      assert.match(sql, /^[a-z_0-9A-Z ()?=<>&*/,.]*$/, f);
      assert.equal(sql.split("?").length - 1, params.length, f);
      ok++;
    } catch (e) {
      assert.ok(e instanceof FilterError, `${f}: ${String(e)}`);
      assert.ok(e.offset >= 0 && e.offset <= f.length, f);
    }
  }
  assert.ok(ok > 100, `${ok} soups parsed`);
});

// nfdump 1.7's own parser (`nfdump -Z` checks a filter's syntax) accepts the
// nfdump-syntax filters we accept and rejects the malformed ones we reject.
const nfdumpAccepts = (f: string): boolean => {
  try {
    execFileSync("nfdump", ["-Z", f], { stdio: "pipe" });
    return true;
  } catch (e) {
    const status = (e as { status?: number | null }).status;
    if (status === undefined || status === null) throw e; // missing tool: fail loudly
    return false;
  }
};

test("agrees with nfdump -Z on which filters are valid", () => {
  // Our extensions, absent from nfdump 1.7.1 (docs/filters.md).
  const extensions = new Set(["dst net 192.168.0.0 mask 255.255.255.0", "mpls label 16"]);
  for (const [f] of PRIMITIVES) {
    if (extensions.has(f)) assert.equal(nfdumpAccepts(f), false, `nfdump now accepts ${f}`);
    else assert.ok(nfdumpAccepts(f), `nfdump rejects ${f}`);
  }
  // Malformed filters nfdump also rejects (ours add checks nfdump lacks, e.g. /33 or
  // "prev as" which it supports but we do not store).
  for (const f of [
    "proto tcp and foo 80",
    "port",
    "dst port http",
    "host 10.0.0.256",
    "(proto tcp and port 80",
    "proto tcp)",
    "port 80 port 443",
    "proto tcp and",
    "proto xyz",
    "proto 256",
    "port 80; drop table flows",
  ]) {
    assert.equal(nfdumpAccepts(f), false, `nfdump accepts ${f}`);
  }
});
