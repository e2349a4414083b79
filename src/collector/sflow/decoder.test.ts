// Unit tests on crafted sFlow v5 datagrams: sequence gaps per agent and
// sub-agent, interface encodings, drops, IPv6 agent, bad input (never throws,
// counted by reason, no row left half-written).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeSflow, errorsOf } from "./testing.js";

/** XDR writer: big-endian u32 words and raw bytes padded to 4. */
class W {
  parts: number[] = [];
  u32(...v: number[]): this {
    for (const x of v) this.parts.push((x >>> 24) & 255, (x >>> 16) & 255, (x >>> 8) & 255, x & 255);
    return this;
  }
  bytes(b: number[]): this {
    this.parts.push(...b);
    while (this.parts.length % 4) this.parts.push(0);
    return this;
  }
  /** opaque<>: length + data. */
  opaque(inner: W): this {
    return this.u32(inner.parts.length).bytes(inner.parts);
  }
  get data(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

function header(seq: number, samples: W[], subAgent = 0, agent: number[] = [10, 0, 0, 1]): W {
  const w = new W()
    .u32(5, agent.length === 4 ? 1 : 2)
    .bytes(agent)
    .u32(subAgent, seq, 1000, samples.length);
  for (const s of samples) w.bytes(s.parts);
  return w;
}

/** A sampled IPv4 record (format 3). */
function ipv4Record(
  src: number[],
  dst: number[],
  proto: number,
  sport: number,
  dport: number,
  len: number,
): W {
  return new W().u32(3).opaque(new W().u32(len, proto).bytes(src).bytes(dst).u32(sport, dport, 0, 0));
}

function flowSample(
  seq: number,
  input: number,
  output: number,
  records: W[],
  rate = 100,
  drops = 0,
  srcIndex = 7,
): W {
  const body = new W().u32(seq, srcIndex, rate, 1000, drops, input, output, records.length);
  for (const r of records) body.bytes(r.parts);
  return new W().u32(1).opaque(body);
}

const rec = (): W => ipv4Record([192, 0, 2, 1], [198, 51, 100, 2], 6, 1234, 443, 1500);
const dg = (w: W, srcAddr = "10.0.0.1") => ({ payload: w.data, srcAddr, timeMs: 1000 });

describe("sFlow decoder", () => {
  it("compact interface encodings: single, local, discarded (reason), multiple", () => {
    const r = decodeSflow([
      dg(
        header(1, [
          flowSample(1, 3, 7, [rec()]),
          flowSample(2, 3, 0x3fffffff, [rec()]),
          flowSample(3, 3, (1 << 30) | 258, [rec()]),
          flowSample(4, 3, (2 << 30) | 5, [rec()]),
        ]),
      ),
    ]);
    assert.deepEqual(r.thrown, []);
    const pick = r.rows.map((x) => [x.in_if, x.out_if, x.forwarding_status, x.drop_reason, x.direction]);
    assert.deepEqual(pick, [
      [3, 7, 0, 0, 1],
      [3, 0x3fffffff, 192, 0, 255],
      [3, 0, 129, 258, 255],
      [3, 0, 0, 0, 255],
    ]);
    assert.equal(r.rows[0]!.src_addr, "192.0.2.1");
    assert.equal(r.rows[0]!.bytes, 1500);
    assert.equal(r.rows[0]!.sampling_rate, 100);
    assert.equal(r.rows[0]!.packets, 1);
  });

  it("sequence gaps are counted per agent and sub-agent; restarts separately", () => {
    const s = [flowSample(1, 1, 2, [rec()])];
    const r = decodeSflow([
      dg(header(1010, s, 0)),
      dg(header(100, s, 1)), // another sub-agent: its own sequence
      dg(header(1011, s, 0)),
      dg(header(1014, s, 0)), // 2 lost
      dg(header(1013, s, 0)), // late (reordered): ignored
      dg(header(101, s, 1)),
      dg(header(105, s, 1)), // 3 lost
      dg(header(1, s, 0)), // restart (far behind)
    ]);
    const st = r.stats.exporter("10.0.0.1");
    assert.equal(st.sequenceLost, 5);
    assert.equal(st.sequenceResets, 1);
    assert.equal(st.versions.sflow5, 8);
  });

  it("drops: increments per data source are summed", () => {
    const r = decodeSflow([
      dg(header(1, [flowSample(1, 1, 2, [rec()], 100, 50)])),
      dg(header(2, [flowSample(2, 1, 2, [rec()], 100, 80)])),
      dg(header(3, [flowSample(3, 1, 2, [rec()], 100, 85)])),
    ]);
    assert.equal(r.stats.exporter("10.0.0.1").sampleDrops, 35);
  });

  it("IPv6 agent address", () => {
    const agent = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    const r = decodeSflow([dg(header(1, [flowSample(1, 1, 2, [rec()])], 3, agent))]);
    assert.equal(r.rows[0]!.exporter_address, "2001:db8::9");
    assert.equal(r.rows[0]!.observation_domain_id, 3);
  });

  it("a record that lies about its length drops that sample only, and no half row is left", () => {
    const bad = new W().u32(1).opaque(new W().u32(9, 7, 100, 1000, 0, 1, 2, 1).u32(3, 4000));
    const r = decodeSflow([dg(header(1, [flowSample(1, 1, 2, [rec()]), bad, flowSample(2, 1, 2, [rec()])]))]);
    assert.deepEqual(r.thrown, []);
    assert.equal(r.rows.length, 2);
    assert.deepEqual(errorsOf(r.stats), { bad_length: 1 });
    for (const row of r.rows) assert.equal(row.src_addr, "192.0.2.1");
  });

  it("unknown sample and record formats are skipped by length and counted", () => {
    const unknownSample = new W().u32((9 << 12) | 1).opaque(new W().u32(1, 2, 3));
    const unknownRecord = new W().u32(1999).opaque(new W().u32(1, 2));
    const r = decodeSflow([dg(header(1, [unknownSample, flowSample(1, 1, 2, [unknownRecord, rec()])]))]);
    assert.equal(r.rows.length, 1);
    assert.equal(r.rows[0]!.dst_port, 443);
    assert.deepEqual(errorsOf(r.stats), { sample_unknown: 2 });
  });

  it("every truncation of a valid datagram: never throws, counted, bounded output", () => {
    const full = header(7, [flowSample(1, 1, 2, [rec()]), flowSample(2, 1, 2, [rec()])]).data;
    for (let n = 0; n < full.length; n++) {
      const r = decodeSflow([{ payload: full.slice(0, n), srcAddr: "10.0.0.1", timeMs: 0 }]);
      assert.deepEqual(r.thrown, [], `cut at ${n}`);
      assert.ok(r.rows.length <= 2);
      assert.ok(Object.keys(errorsOf(r.stats)).length > 0 || r.rows.length === 2, `cut at ${n} counted`);
    }
  });

  it("a huge sample count with no samples: bad_count, no loop", () => {
    const w = new W().u32(5, 1).bytes([10, 0, 0, 1]).u32(0, 1, 0, 0xffffffff);
    const r = decodeSflow([dg(w)]);
    assert.deepEqual(errorsOf(r.stats), { bad_count: 1 });
  });

  it("non-sFlow, non-NetFlow datagrams on the sFlow port: bad_version", () => {
    const r = decodeSflow([dg(new W().u32(0x00000004, 1, 2, 3))]);
    assert.deepEqual(errorsOf(r.stats), { bad_version: 1 });
    assert.equal(r.stats.exporter("10.0.0.1").packets, 1);
  });
});
