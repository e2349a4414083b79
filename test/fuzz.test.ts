// Property / fuzz tests for the flow decoders: ONE suite run against every
// decoder implementation (the TARGETS table). Seeds are the real datagrams of
// /work/shared/captures; each unit's datagrams are fed first so its templates
// are known, then each datagram is mutated: truncated at every offset, bit
// flipped, its length/count fields set to extremes, random bytes, random
// tails, splices. Floods of templates and of template-less data check the
// caps. Properties (test/fuzz/harness.ts): decode never throws, returns a
// record count equal to the rows it wrote, takes < 50 ms, counts every error
// under a valid reason; the heap stays bounded over 100k mutated packets.
//
// Deterministic: a seeded PRNG (FUZZ_SEED=<n> to reproduce or vary; the seed
// is in every failure message). FUZZ_SCALE=<x> scales the sampled work.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { FlowDecoder } from "../src/collector/decoder.js";
import type { TemplateCacheOptions } from "../src/collector/decoder.js";
import { MAX_SCOPES_PER_EXPORTER } from "../src/collector/netflow/templates.js";
import { SflowDecoder } from "../src/collector/sflow/decoder.js";
import { CollectorStats } from "../src/collector/stats.js";
import type { PacketSource } from "../src/collector/types.js";
import { netflowLengthFields, sflowLengthFields, type LengthField } from "./fuzz/fields.js";
import { IPFIX_FLOOD, V9_FLOOD, idBatches, type FloodFormat } from "./fuzz/floods.js";
import { FuzzHarness, errorTotal, type DecoderUnderTest } from "./fuzz/harness.js";
import {
  flipBit,
  lengthValues,
  randomBytes,
  randomMutant,
  randomTail,
  setField,
  splice,
  truncate,
  type Mutant,
} from "./fuzz/mutate.js";
import { Prng, fuzzSeed } from "./fuzz/prng.js";
import { isNetflowOrIpfix, loadSeedUnits, type SeedDatagram, type SeedUnit } from "./fuzz/seeds.js";
import { isSflow } from "./helpers/captures.js";

interface FuzzTarget {
  name: string;
  makeDecoder: (stats: CollectorStats, templates?: Partial<TemplateCacheOptions>) => DecoderUnderTest;
  /** Real datagrams this decoder accepts, by capture unit. */
  seeds: () => SeedUnit[];
  /** The 16-bit length/count fields of one datagram. */
  lengthFields: (p: Uint8Array) => LengthField[];
  /** Fixed header length per datagram (shorter must count "truncated"). */
  headerLength: (p: Uint8Array) => number;
  /** Template-based formats to flood (templates and template-less data); none for sFlow. */
  floods: FloodFormat[];
  /** What the real seeds must at least hold (catches a capture reader that silently finds nothing). */
  min: { units: number; datagrams: number; records: number };
}

const NETFLOW_HEADER: Record<number, number> = { 1: 16, 5: 24, 7: 24, 9: 20, 10: 16 };

const TARGETS: FuzzTarget[] = [
  {
    name: "FlowDecoder (NetFlow v5/v9, IPFIX)",
    makeDecoder: (stats, templates) => new FlowDecoder({ stats, templates }),
    seeds: () => loadSeedUnits(isNetflowOrIpfix),
    lengthFields: netflowLengthFields,
    headerLength: (p) => NETFLOW_HEADER[(p[0]! << 8) | p[1]!] ?? 4,
    floods: [V9_FLOOD, IPFIX_FLOOD],
    min: { units: 60, datagrams: 1500, records: 7000 },
  },
  {
    name: "SflowDecoder (sFlow v5)",
    makeDecoder: (stats) => new SflowDecoder({ stats }),
    seeds: () => loadSeedUnits(isSflow),
    lengthFields: sflowLengthFields,
    headerLength: (p) => (p.length >= 8 && p[7] === 2 ? 40 : 28),
    floods: [],
    min: { units: 10, datagrams: 30, records: 15 },
  },
];

const SEED = fuzzSeed();
const SCALE = Math.max(0.05, Number(process.env.FUZZ_SCALE ?? "1") || 1);
/** Truncation at every offset: total decode calls allowed (datagrams sampled beyond it). */
const TRUNCATION_BUDGET = Math.round(300_000 * SCALE);
/** Bit flips: every bit of the first 32 bytes plus this many random bits per datagram. */
const RANDOM_FLIPS = Math.round(16 * SCALE);
const RANDOM_MUTANTS = Math.round(40_000 * SCALE);
const HEAP_PACKETS = 100_000;

function harness(t: FuzzTarget, what: string, templates?: Partial<TemplateCacheOptions>): FuzzHarness {
  const stats = new CollectorStats();
  return new FuzzHarness(
    `${t.name} | seed ${SEED} (FUZZ_SEED=${SEED}) | ${what}`,
    stats,
    t.makeDecoder(stats, templates),
  );
}

/** Feed a unit's datagrams unmutated (so templates and sampler tables are known). */
function prime(h: FuzzHarness, u: SeedUnit): void {
  u.datagrams.forEach((d, k) => h.feed({ desc: "none (priming)", data: d.payload }, d.src, `${u.unit}#${k}`));
}

function hasTemplates(p: Uint8Array): boolean {
  return netflowLengthFields(p).some((f) => f.what.startsWith("template") || f.what.startsWith("v9 options"));
}

/**
 * Run `mutants(d)` for every datagram of every unit, on one decoder per unit
 * primed with the whole unit; the original is re-fed after a datagram's
 * mutants when it carries templates, so later datagrams still find theirs.
 */
function eachMutant(
  t: FuzzTarget,
  units: SeedUnit[],
  what: string,
  mutants: (d: SeedDatagram, u: SeedUnit, k: number) => Iterable<Mutant>,
  check?: (h: FuzzHarness, d: SeedDatagram, m: Mutant, n: number, errBefore: number) => void,
): { calls: number; slowest: number } {
  let calls = 0;
  let slowest = 0;
  for (const u of units) {
    const h = harness(t, what);
    prime(h, u);
    u.datagrams.forEach((d, k) => {
      for (const m of mutants(d, u, k)) {
        const st = h.stats.exporter(d.src.exporter);
        const before = errorTotal(st);
        const n = h.feed(m, d.src, `${u.unit}#${k}`);
        check?.(h, d, m, n, before);
        calls++;
      }
      if (t.floods.length && hasTemplates(d.payload))
        h.feed({ desc: "none (re-prime)", data: d.payload }, d.src, `${u.unit}#${k}`);
    });
    slowest = Math.max(slowest, h.slowest);
  }
  return { calls, slowest };
}

function gcFunction(): () => void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) return g;
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

function heapAfterGc(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

for (const target of TARGETS) {
  describe(`fuzz: ${target.name} (seed ${SEED})`, () => {
    const units = target.seeds();
    const all = units.flatMap((u) => u.datagrams);

    it("has real seeds from the shared captures", () => {
      assert.ok(units.length >= target.min.units, `only ${units.length} seed units`);
      assert.ok(all.length >= target.min.datagrams, `only ${all.length} seed datagrams`);
    });

    it("decodes every seed unit unmutated under the properties", (t) => {
      let records = 0;
      for (const u of units) {
        const h = harness(target, "seeds");
        prime(h, u);
        records += h.rows;
      }
      t.diagnostic(`${units.length} units, ${all.length} datagrams, ${records} records`);
      assert.ok(records >= target.min.records, `seeds decoded to only ${records} records`);
    });

    it("survives truncation at every offset", (t) => {
      // Datagrams in a seeded random order until the budget is spent, so every
      // unit contributes and big units do not crowd out the rest.
      const rng = new Prng(SEED ^ 0x7472);
      const chosen = new Set<SeedDatagram>();
      let budget = TRUNCATION_BUDGET;
      const byUnit = units.map((u) => [...u.datagrams]);
      for (let round = 0; budget > 0 && byUnit.some((l) => l.length); round++) {
        for (const l of byUnit) {
          if (!l.length || budget <= 0) continue;
          const d = l.splice(rng.int(l.length), 1)[0]!;
          chosen.add(d);
          budget -= d.payload.length;
        }
      }
      const { calls, slowest } = eachMutant(
        target,
        units,
        "truncation",
        function* (d) {
          if (!chosen.has(d)) return;
          for (let at = 0; at < d.payload.length; at++) yield truncate(d.payload, at);
        },
        (h, d, m, n, before) => {
          // Shorter than the fixed header: nothing decoded, counted as truncated.
          if (m.data.length < target.headerLength(d.payload)) {
            const st = h.stats.exporter(d.src.exporter);
            if (n !== 0) h.fail(m, "truncation", `${n} records from a datagram shorter than its header`);
            if (errorTotal(st) <= before || st.errors.truncated === 0)
              h.fail(m, "truncation", "short datagram not counted as an error");
          }
        },
      );
      t.diagnostic(
        `${calls} truncations of ${chosen.size}/${all.length} datagrams; slowest decode ${slowest.toFixed(2)} ms`,
      );
      assert.ok(calls >= Math.min(TRUNCATION_BUDGET, 1000), `only ${calls} truncations`);
    });

    it("survives single-bit flips", (t) => {
      const rng = new Prng(SEED ^ 0x666c);
      const { calls, slowest } = eachMutant(target, units, "bit flips", function* (d) {
        const bits = d.payload.length * 8;
        for (let b = 0; b < Math.min(bits, 32 * 8); b++) yield flipBit(d.payload, b);
        for (let k = 0; k < RANDOM_FLIPS && bits > 256; k++)
          yield flipBit(d.payload, 256 + rng.int(bits - 256));
      });
      t.diagnostic(`${calls} bit flips; slowest decode ${slowest.toFixed(2)} ms`);
      assert.ok(calls > all.length * 100);
    });

    it("survives every length/count field set to 0, 1, 0x7FFF, 0xFFFF and the remaining length ± small", (t) => {
      let fields = 0;
      const { calls, slowest } = eachMutant(target, units, "length fields", function* (d) {
        for (const f of target.lengthFields(d.payload)) {
          fields++;
          for (const v of lengthValues(d.payload, f)) yield setField(d.payload, f, v);
        }
      });
      t.diagnostic(
        `${fields} length/count fields, ${calls} mutants; slowest decode ${slowest.toFixed(2)} ms`,
      );
      assert.ok(fields > all.length, `only ${fields} length fields found`);
      assert.ok(calls > fields * 5);
    });

    it("survives random bytes, random tails and splices", (t) => {
      const rng = new Prng(SEED ^ 0x726e);
      const per = Math.max(1, Math.ceil(RANDOM_MUTANTS / all.length / 3));
      const { calls, slowest } = eachMutant(target, units, "random", function* (d) {
        for (let k = 0; k < per; k++) {
          yield randomBytes(d.payload, rng);
          yield randomTail(d.payload, rng.pick([4, 16, 20, 24]), rng);
          yield splice(d.payload, rng.pick(all).payload, rng);
        }
      });
      t.diagnostic(`${calls} random mutants; slowest decode ${slowest.toFixed(2)} ms`);
    });

    for (const fmt of target.floods) {
      it(`${fmt.name}: a template flood from one exporter stays within the template cap`, () => {
        for (const cap of [undefined, 100]) {
          const h = harness(
            target,
            `${fmt.name} template flood, cap ${cap ?? "default"}`,
            cap ? { maxTemplatesPerScope: cap } : undefined,
          );
          const src = source("198.51.100.7");
          let seq = 0;
          let max = 0;
          for (const ids of idBatches(5000, 25)) {
            h.feed(
              {
                desc: `${ids.length} templates ${ids[0]}..${ids.at(-1)}`,
                data: fmt.templates(ids, 1, seq++),
              },
              src,
              "template flood",
            );
            max = Math.max(max, h.stats.exporter(src.exporter).templates);
          }
          const st = h.stats.exporter(src.exporter);
          const limit = cap ?? 1024;
          assert.ok(max <= limit, `templates gauge reached ${max} > cap ${limit}`);
          assert.equal(st.templates, limit, "the first templates up to the cap are kept");
          assert.equal(st.errors.template_limit, 5000 - limit);
        }
      });

      it(`${fmt.name}: templates spread over thousands of observation domains stay bounded`, () => {
        const cap = 8;
        const h = harness(target, `${fmt.name} domain flood`, { maxTemplatesPerScope: cap });
        const src = source("198.51.100.8");
        for (let dom = 0; dom < 2000; dom++) {
          h.feed(
            { desc: `domain ${dom}`, data: fmt.templates(idBatches(20, 20)[0]!, dom, 0) },
            src,
            "domain flood",
          );
        }
        const st = h.stats.exporter(src.exporter);
        assert.ok(st.templates <= cap * MAX_SCOPES_PER_EXPORTER, `templates gauge ${st.templates}`);
        assert.ok(st.errors.template_limit > 0);
      });

      it(`${fmt.name}: data for unknown templates stays within the pending cap`, () => {
        const maxPendingSetsPerExporter = 64;
        const maxPendingBytesPerExporter = 64 * 1024;
        const h = harness(target, `${fmt.name} pending flood`, {
          maxPendingSetsPerExporter,
          maxPendingBytesPerExporter,
        });
        const src = source("198.51.100.9");
        let sets = 0;
        let max = 0;
        let seq = 0;
        for (const ids of idBatches(6000, 3)) {
          const n = h.feed(
            { desc: `data for ${ids.join(",")}`, data: fmt.data(ids, 1, seq++, 400) },
            src,
            "pending flood",
          );
          assert.equal(n, 0);
          sets += ids.length;
          max = Math.max(max, h.stats.exporter(src.exporter).pendingSets);
        }
        const st = h.stats.exporter(src.exporter);
        const bySize = Math.floor(maxPendingBytesPerExporter / 400);
        assert.ok(max <= Math.min(maxPendingSetsPerExporter, bySize), `pending sets reached ${max}`);
        assert.equal(st.errors.template_missing, sets, "every template-less set is counted");
        assert.ok(st.errors.pending_overflow >= sets - max, `pending_overflow ${st.errors.pending_overflow}`);
        // The held data is still decodable: announcing the last template drains its set.
        const last = idBatches(6000, 3).at(-1)!;
        const got = h.feed(
          { desc: "late template", data: fmt.templates([last[0]!], 1, seq++) },
          src,
          "pending flood",
        );
        assert.ok(got > 0, "held data was decoded once its template arrived");
        assert.ok(h.stats.exporter(src.exporter).pendingSets < max);
      });
    }

    it(`keeps the heap bounded over ${HEAP_PACKETS / 1000}k mutated packets`, (t) => {
      const gc = gcFunction();
      const rng = new Prng(SEED ^ 0x6865);
      const h = harness(target, "heap");
      for (const u of units) prime(h, u);
      const fields = new Map<SeedDatagram, LengthField[]>();
      const feedRandom = (count: number): void => {
        for (let k = 0; k < count; k++) {
          const d = rng.pick(all);
          let f = fields.get(d);
          if (!f) fields.set(d, (f = target.lengthFields(d.payload)));
          const m = randomMutant(d.payload, f, rng.pick(all).payload, rng);
          h.feed(m, d.src, `heap #${k}`);
          // Re-feed an original now and then, as a real exporter refreshes templates.
          if (k % 50 === 0) {
            const o = rng.pick(all);
            h.feed({ desc: "none (refresh)", data: o.payload }, o.src, `heap #${k}`);
          }
        }
      };
      const warm = HEAP_PACKETS / 5;
      feedRandom(warm); // caches fill up to their caps
      const h0 = heapAfterGc(gc);
      feedRandom(HEAP_PACKETS - warm);
      const h1 = heapAfterGc(gc);
      const growth = h1 - h0;
      const mib = (x: number): string => (x / 1048576).toFixed(1);
      t.diagnostic(
        `heap ${mib(h0)} MiB after ${warm} packets, ${mib(h1)} MiB after ${HEAP_PACKETS}; slowest decode ${h.slowest.toFixed(2)} ms`,
      );
      assert.ok(
        growth < 16 * 1048576,
        `heap grew ${mib(growth)} MiB (${mib(h0)} → ${mib(h1)} MiB) over ${HEAP_PACKETS - warm} mutated packets (seed ${SEED})`,
      );
      assert.ok(h.slowest < 50, `slowest decode ${h.slowest.toFixed(1)} ms`);
    });
  });
}

function source(exporter: string): PacketSource {
  const ip = new Uint8Array(16);
  ip[10] = 0xff;
  ip[11] = 0xff;
  exporter.split(".").forEach((o, k) => (ip[12 + k] = Number(o)));
  return { exporter, exporterIp: ip, receivedMs: 1_700_000_000_000 };
}
