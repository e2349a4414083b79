// The AS-names file: AS number → name, for src_as_name / dst_as_name.
//
// Formats (docs/enrichment.md, "AS-names file"):
//   *.csv   CSV; with a header row the AS column is found by its name (asn,
//           as, autonomous_system_number, …) and the name column likewise
//           (name, as_name, org, autonomous_system_organization, …); without
//           one, the first column is the AS and the second the name:
//             asn,name
//             2914,NTT-LTD-2914
//   other   the common "asn-names" text layouts, one AS a line, number first
//           (optionally "AS"-prefixed) then whitespace, "|" or "," then the
//           name: RIPE / CAIDA asnames.txt "AS2914   NTT-LTD-2914, US",
//           potaroo "2914 NTT-LTD-2914 - NTT America, Inc., US", "2914|NTT".
// Lines starting with # are comments. A malformed line rejects the file with
// its line number (the previous data stays served).
import { splitCsv } from "./networks.js";
import { ReloadingFile } from "./reload.js";
import type { SourceState } from "./types.js";

const AS_COLS = ["asn", "as", "as_number", "autonomous_system_number", "aut-num"];
const NAME_COLS = [
  "name",
  "as_name",
  "asname",
  "org",
  "organization",
  "autonomous_system_organization",
  "description",
];

function asNumber(s: string): number | null {
  const m = /^(?:AS)?(\d{1,10})$/i.exec(s.trim());
  if (!m) return null;
  const n = Number(m[1]);
  return n <= 0xffffffff ? n : null;
}

export function parseAsNamesCsv(text: string): Map<number, string> {
  const out = new Map<number, string>();
  let asCol = 0;
  let nameCol = 1;
  let first = true;
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const cells = splitCsv(line);
    if (first) {
      first = false;
      if (asNumber(cells[0] ?? "") === null) {
        const h = cells.map((c) => c.toLowerCase());
        asCol = h.findIndex((c) => AS_COLS.includes(c));
        nameCol = h.findIndex((c) => NAME_COLS.includes(c));
        if (asCol < 0 || nameCol < 0)
          throw new Error(
            `line ${n + 1}: header must name an AS column (${AS_COLS.join(", ")}) and a name column`,
          );
        continue;
      }
    }
    const asn = asNumber(cells[asCol] ?? "");
    if (asn === null)
      throw new Error(`line ${n + 1}: ${JSON.stringify(cells[asCol] ?? "")} is not an AS number`);
    out.set(asn, (cells[nameCol] ?? "").trim());
  }
  return out;
}

export function parseAsNamesText(text: string): Map<number, string> {
  const out = new Map<number, string>();
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(?:AS)?(\d{1,10})(?:\s*[|,;]\s*|\s+)(.*)$/i.exec(line);
    if (!m || Number(m[1]) > 0xffffffff) throw new Error(`line ${n + 1}: expected "<AS number> <name>"`);
    out.set(Number(m[1]), m[2]!.trim());
  }
  return out;
}

export function parseAsNames(path: string, bytes: Buffer): Map<number, string> {
  const text = bytes.toString("utf8");
  return /\.csv$/i.test(path) ? parseAsNamesCsv(text) : parseAsNamesText(text);
}

export class AsNamesSource {
  readonly file: ReloadingFile<Map<number, string>>;

  constructor(path: string, pollMs: number) {
    this.file = new ReloadingFile({
      name: "asnames",
      kind: "asnames",
      path,
      pollMs,
      parse: (b) => parseAsNames(path, b),
      count: (d) => d.size,
    });
  }

  /** The name of `asn`; "" when unknown. */
  name(asn: number): string {
    return this.file.data?.get(asn) ?? "";
  }

  start(): Promise<void> {
    return this.file.start();
  }
  stop(): Promise<void> {
    return this.file.stop();
  }
  state(): SourceState {
    return this.file.state();
  }
}
