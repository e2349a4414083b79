// Readers for the golden outputs shipped with the captures: Telegraf's
// InfluxDB line protocol and pmacct nfacctd's JSON lines.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CAPTURES_DIR } from "./captures.js";

export interface Line {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, string | number>;
}

/** Split on `sep` outside double quotes, honouring backslash escapes. */
function splitOutside(s: string, sep: string, max = Infinity): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "\\" && i + 1 < s.length) {
      cur += c + s[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === sep && !quoted && out.length < max - 1) {
      out.push(cur);
      cur = "";
      continue;
    }
    cur += c;
  }
  out.push(cur);
  return out;
}

/** Parse InfluxDB line protocol (unsigned `123u`, integers `123i`, floats, "strings", booleans). */
export function parseLineProtocol(text: string): Line[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [head = "", fieldText = ""] = splitOutside(l, " ", 3);
      const [measurement = "", ...tagParts] = head.split(",");
      const tags = Object.fromEntries(tagParts.map((t) => t.split("=", 2) as [string, string]));
      const fields: Record<string, string | number> = {};
      for (const kv of splitOutside(fieldText, ",")) {
        const eq = kv.indexOf("=");
        const k = kv.slice(0, eq);
        const v = kv.slice(eq + 1);
        if (v.startsWith('"')) fields[k] = v.slice(1, -1).replace(/\\(.)/g, "$1");
        else if (/^-?\d+[ui]$/.test(v)) fields[k] = Number(v.slice(0, -1));
        else if (/^-?[\d.eE+-]+$/.test(v)) fields[k] = Number(v);
        else fields[k] = v;
      }
      return { measurement, tags, fields };
    });
}

export function loadTelegraf(name: string): Line[] {
  return parseLineProtocol(
    readFileSync(join(CAPTURES_DIR, `telegraf__${name}.golden.telegraf-lineprotocol.out`), "utf8"),
  );
}

export type PmacctRecord = Record<string, unknown> & {
  ip_src: string;
  ip_dst: string;
  port_src: number;
  port_dst: number;
  ip_proto: string;
  bytes: number;
  packets: number;
  iface_in?: number;
  iface_out?: number;
};

export function loadPmacct(test: string): PmacctRecord[] {
  return readFileSync(join(CAPTURES_DIR, `pmacct__${test}.golden.nfacctd-output-flow-00.json`), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as PmacctRecord);
}

/** IANA protocol keywords used by Telegraf and pmacct → protocol number. */
const PROTOCOLS: Record<string, number> = {
  icmp: 1,
  ipip: 4,
  tcp: 6,
  udp: 17,
  ipv6: 41,
  gre: 47,
  "ipv6-icmp": 58,
  vrrp: 112,
};

export function protocolNumber(v: string | number): number {
  if (typeof v === "number") return v;
  const n = PROTOCOLS[v.toLowerCase()];
  if (n !== undefined) return n;
  if (/^\d+$/.test(v)) return Number(v);
  throw new Error(`unknown protocol keyword ${v}`);
}
