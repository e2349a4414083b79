// DuckDB result types → Trino client-protocol types, and values → the JSON
// text Trino clients parse (https://trino.io/docs/current/develop/client-protocol.html,
// "Data types" there and in the clients: trino-client's JsonDecodingUtils,
// trino-python-client's row mappers).
//
//   column  = {"name": …, "type": "decimal(20,0)", "typeSignature": {"rawType": "decimal",
//              "arguments": [{"kind": "LONG", "value": 20}, {"kind": "LONG", "value": 0}]}}
//   integer types → JSON numbers (64-bit exact: written as digits, never through a double)
//   decimal       → JSON string "123.45" (clients build BigDecimal / decimal.Decimal)
//   double, real  → JSON number, or "NaN" / "Infinity" / "-Infinity"
//   timestamp(p)  → "YYYY-MM-DD HH:MM:SS[.f{p}]"; … with time zone adds " UTC"
//   date          → "YYYY-MM-DD"; time(p) → "HH:MM:SS[.f{p}]"
//   varbinary     → base64 string
//   array(T)      → JSON array; map(K,V) → JSON object; row(…) → JSON array of the fields
//
// DuckDB's unsigned types have no Trino twin, so they widen: UTINYINT →
// smallint, USMALLINT → integer, UINTEGER → bigint, UBIGINT → decimal(20,0)
// (a byte counter above 2^63 must not turn negative). HUGEINT (what sum() of
// a BIGINT/UBIGINT column gives) → decimal(38,0); UHUGEINT (Nagare's IP
// address columns: use the *_text columns) → varchar, its 39 digits do not
// fit a Trino decimal.
import { DuckDBTypeId, type DuckDBType, type DuckDBValue } from "@duckdb/node-api";

/** A Trino ClientTypeSignature. */
export interface TypeSignature {
  rawType: string;
  arguments: TypeArgument[];
}

export type TypeArgument =
  | { kind: "LONG"; value: number }
  | { kind: "TYPE"; value: TypeSignature }
  | { kind: "NAMED_TYPE"; value: { fieldName: { name: string }; typeSignature: TypeSignature } };

/** A Trino type: its display name ("decimal(20,0)") and signature. */
export interface TrinoType {
  name: string;
  signature: TypeSignature;
}

export interface TrinoColumn {
  name: string;
  type: string;
  typeSignature: TypeSignature;
}

/** Trino's varchar without a length is varchar(2147483647) in signatures. */
const UNBOUNDED = 2147483647;

function simple(raw: string): TrinoType {
  return { name: raw, signature: { rawType: raw, arguments: [] } };
}

function varchar(): TrinoType {
  return {
    name: "varchar",
    signature: { rawType: "varchar", arguments: [{ kind: "LONG", value: UNBOUNDED }] },
  };
}

function decimal(p: number, s: number): TrinoType {
  return {
    name: `decimal(${p},${s})`,
    signature: {
      rawType: "decimal",
      arguments: [
        { kind: "LONG", value: p },
        { kind: "LONG", value: s },
      ],
    },
  };
}

function precise(raw: string, p: number, suffix = ""): TrinoType {
  return {
    name: `${raw}(${p})${suffix}`,
    signature: { rawType: raw + suffix, arguments: [{ kind: "LONG", value: p }] },
  };
}

/** The Trino type a DuckDB column is presented as. */
export function trinoType(t: DuckDBType): TrinoType {
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return simple("boolean");
    case DuckDBTypeId.TINYINT:
      return simple("tinyint");
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.UTINYINT:
      return simple("smallint");
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.USMALLINT:
      return simple("integer");
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UINTEGER:
      return simple("bigint");
    case DuckDBTypeId.UBIGINT:
      return decimal(20, 0);
    case DuckDBTypeId.HUGEINT:
      return decimal(38, 0);
    case DuckDBTypeId.FLOAT:
      return simple("real");
    case DuckDBTypeId.DOUBLE:
      return simple("double");
    case DuckDBTypeId.DECIMAL:
      return decimal(t.width, t.scale);
    case DuckDBTypeId.DATE:
      return simple("date");
    case DuckDBTypeId.TIME:
      return precise("time", 6);
    case DuckDBTypeId.TIMESTAMP_S:
      return precise("timestamp", 0);
    case DuckDBTypeId.TIMESTAMP_MS:
      return precise("timestamp", 3);
    case DuckDBTypeId.TIMESTAMP:
      return precise("timestamp", 6);
    case DuckDBTypeId.TIMESTAMP_NS:
      return precise("timestamp", 9);
    case DuckDBTypeId.TIMESTAMP_TZ:
      return precise("timestamp", 6, " with time zone");
    case DuckDBTypeId.BLOB:
      return simple("varbinary");
    case DuckDBTypeId.UUID:
      return simple("uuid");
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const e = trinoType(t.valueType);
      return {
        name: `array(${e.name})`,
        signature: { rawType: "array", arguments: [{ kind: "TYPE", value: e.signature }] },
      };
    }
    case DuckDBTypeId.MAP: {
      const k = trinoType(t.keyType);
      const v = trinoType(t.valueType);
      return {
        name: `map(${k.name}, ${v.name})`,
        signature: {
          rawType: "map",
          arguments: [
            { kind: "TYPE", value: k.signature },
            { kind: "TYPE", value: v.signature },
          ],
        },
      };
    }
    case DuckDBTypeId.STRUCT: {
      const fields = t.entryNames.map((n, i) => ({ n, ty: trinoType(t.entryTypes[i]!) }));
      return {
        name: `row(${fields.map((f) => `${quoteField(f.n)} ${f.ty.name}`).join(", ")})`,
        signature: {
          rawType: "row",
          arguments: fields.map((f) => ({
            kind: "NAMED_TYPE" as const,
            value: { fieldName: { name: f.n }, typeSignature: f.ty.signature },
          })),
        },
      };
    }
    case DuckDBTypeId.SQLNULL:
      return simple("unknown");
    default:
      // UHUGEINT, VARCHAR, ENUM, INTERVAL, BIT, TIME_TZ, UNION, BIGNUM …: their DuckDB text.
      return varchar();
  }
}

function quoteField(n: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`;
}

export function trinoColumns(names: readonly string[], types: readonly DuckDBType[]): TrinoColumn[] {
  return names.map((name, i) => {
    const t = trinoType(types[i]!);
    return { name, type: t.name, typeSignature: t.signature };
  });
}

const pad = (n: number | bigint, w: number): string => String(n).padStart(w, "0");

/** Days since 1970-01-01 → "YYYY-MM-DD" (proleptic Gregorian; years 0-9999, else DuckDB's text). */
function formatDate(days: number): string | null {
  const d = new Date(days * 86_400_000);
  const y = d.getUTCFullYear();
  if (!Number.isFinite(d.getTime()) || y < 0 || y > 9999) return null;
  return `${pad(y, 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}`;
}

/** A time since the epoch in units of 10^-digits s → "YYYY-MM-DD HH:MM:SS[.f{digits}]". */
function formatTimestamp(units: bigint, digits: number): string | null {
  const per = 10n ** BigInt(digits);
  let secs = units / per;
  let frac = units % per;
  if (frac < 0n) {
    frac += per;
    secs -= 1n;
  }
  const days = secs / 86_400n - (secs % 86_400n < 0n ? 1n : 0n);
  const sod = Number(secs - days * 86_400n);
  const date = formatDate(Number(days));
  if (date === null) return null;
  const hms = `${pad(Math.floor(sod / 3600), 2)}:${pad(Math.floor(sod / 60) % 60, 2)}:${pad(sod % 60, 2)}`;
  return `${date} ${hms}${digits > 0 ? "." + pad(frac, digits) : ""}`;
}

function formatTime(micros: bigint): string {
  const s = Number(micros / 1_000_000n);
  return `${pad(Math.floor(s / 3600), 2)}:${pad(Math.floor(s / 60) % 60, 2)}:${pad(s % 60, 2)}.${pad(micros % 1_000_000n, 6)}`;
}

const str = (s: string): string => JSON.stringify(s);

/** JSON text of a double as Trino writes it (non-finite values as strings). */
function dbl(n: number): string {
  if (Number.isNaN(n)) return '"NaN"';
  if (n === Infinity) return '"Infinity"';
  if (n === -Infinity) return '"-Infinity"';
  return JSON.stringify(n);
}

/** Exact integer JSON text (bigint digits are valid JSON numbers; clients parse them as 64-bit). */
function int(v: DuckDBValue): string {
  return typeof v === "bigint" || typeof v === "number" ? String(v) : str(String(v));
}

/**
 * The JSON text of one value of DuckDB type `t`, encoded for trinoType(t).
 * Text rather than a JS value so that 64-bit integers stay exact.
 */
export function encodeValue(t: DuckDBType, v: DuckDBValue): string {
  if (v === null || v === undefined) return "null";
  switch (t.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return v ? "true" : "false";
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
      return int(v);
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT:
    case DuckDBTypeId.DECIMAL:
      return str(String(v));
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return typeof v === "number" ? dbl(v) : str(String(v));
    case DuckDBTypeId.DATE: {
      const days = (v as { days?: number }).days;
      return str((typeof days === "number" ? formatDate(days) : null) ?? String(v));
    }
    case DuckDBTypeId.TIME: {
      const m = (v as { micros?: bigint }).micros;
      return str(typeof m === "bigint" ? formatTime(m) : String(v));
    }
    case DuckDBTypeId.TIMESTAMP_S:
    case DuckDBTypeId.TIMESTAMP_MS:
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_NS:
    case DuckDBTypeId.TIMESTAMP_TZ: {
      const o = v as {
        seconds?: bigint;
        millis?: bigint;
        micros?: bigint;
        nanos?: bigint;
        isFinite?: boolean;
      };
      const [units, digits] =
        o.seconds !== undefined
          ? [o.seconds, 0]
          : o.millis !== undefined
            ? [o.millis, 3]
            : o.nanos !== undefined
              ? [o.nanos, 9]
              : [o.micros, 6];
      const text = o.isFinite !== false && typeof units === "bigint" ? formatTimestamp(units, digits) : null;
      if (text === null) return str(String(v));
      return str(t.typeId === DuckDBTypeId.TIMESTAMP_TZ ? `${text} UTC` : text);
    }
    case DuckDBTypeId.BLOB: {
      const bytes = (v as { bytes?: Uint8Array }).bytes;
      return str(bytes ? Buffer.from(bytes).toString("base64") : String(v));
    }
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.ARRAY: {
      const items = (v as { items?: readonly DuckDBValue[] }).items ?? [];
      return `[${items.map((x) => encodeValue(t.valueType, x)).join(",")}]`;
    }
    case DuckDBTypeId.MAP: {
      const entries = (v as { entries?: { key: DuckDBValue; value: DuckDBValue }[] }).entries ?? [];
      // Trino writes a map as a JSON object; its keys are the keys' text.
      return `{${entries.map((e) => `${str(keyText(t.keyType, e.key))}:${encodeValue(t.valueType, e.value)}`).join(",")}}`;
    }
    case DuckDBTypeId.STRUCT: {
      const entries = (v as { entries?: Record<string, DuckDBValue> }).entries ?? {};
      return `[${t.entryNames.map((n, i) => encodeValue(t.entryTypes[i]!, entries[n] ?? null)).join(",")}]`;
    }
    default:
      return str(String(v));
  }
}

function keyText(t: DuckDBType, v: DuckDBValue): string {
  const j = JSON.parse(encodeValue(t, v)) as unknown;
  return typeof j === "string" ? j : JSON.stringify(j);
}

/** One row as JSON text. */
export function encodeRow(types: readonly DuckDBType[], row: readonly DuckDBValue[]): string {
  let s = "[";
  for (let i = 0; i < types.length; i++) {
    if (i > 0) s += ",";
    s += encodeValue(types[i]!, row[i] ?? null);
  }
  return s + "]";
}
