// FlowDecoder: the entry point for one export datagram (NetFlow v1/v5/v7, v9, IPFIX).
//
// CONTRACT:
//   new FlowDecoder(opts).decode(data, src, sink) decodes one UDP payload,
//   writes flow rows into sink.batch (sink.commit() per row), options records
//   to sink.options(), counts everything in opts.stats, and NEVER throws.
//
// Version detection (first 2 bytes): 1, 5, 7 fixed formats (netflow/v5.ts),
// 9 NetFlow v9 (netflow/v9.ts), 10 IPFIX (netflow/ipfix.ts). A datagram that
// starts 00 00 00 05 is sFlow v5: handed to opts.sflow when configured, else
// counted as bad_version. The wire grammar lives in netflow/*; this class
// holds the state: template cache, pending (pre-template) buffer, sampler
// tables, sequence tracking. See docs/collector.md.
import type { Logger } from "../log.js";
import { DecodeError, type DecodeReason } from "./errors.js";
import { decodeFixed, LAYOUTS, type FixedResult } from "./netflow/v5.js";
import { walkV9, V9_HEADER } from "./netflow/v9.js";
import { IPFIX_HEADER, walkIpfix } from "./netflow/ipfix.js";
import { BatchColumns, decodeFlowRecords, decodeOptionsRecords, type MsgContext } from "./netflow/records.js";
import { learnFromOptions } from "./netflow/sampling.js";
import type { SetHandler } from "./netflow/sets.js";
import {
  compileTemplate,
  TemplateCache,
  type CompiledTemplate,
  type Scope,
  type TemplateField,
} from "./netflow/templates.js";
import type { CollectorStats, ExporterStats } from "./stats.js";
import type { OptionsRecord, PacketSource, RecordSink } from "./types.js";

export interface TemplateCacheOptions {
  /** Max live templates (data + options) per (exporter, domain). */
  maxTemplatesPerScope: number;
  /** Max data sets held per exporter while waiting for their template. */
  maxPendingSetsPerExporter: number;
  /** Max bytes held per exporter while waiting for templates. */
  maxPendingBytesPerExporter: number;
  /** How long data waits for its template before it is dropped (counted as pending_expired). */
  pendingMaxAgeMs: number;
  /** Where templates are saved so a restart can decode data at once; undefined = not persisted. */
  persistPath?: string;
}

export interface SamplingOptions {
  /** Rate used when the export carries none and no override matches (0 = leave unknown). */
  default: number;
  /** Per-exporter override (exporter address → rate); wins over what the exporter says. */
  exporters: Record<string, number>;
}

/** A decoder for datagrams that start 00 00 00 05 (sFlow v5); returns flow rows written, never throws. */
export type SflowDecodeFn = (data: Uint8Array, src: PacketSource, sink: RecordSink) => number;

export interface DecoderOptions {
  stats: CollectorStats;
  log?: Logger;
  templates?: Partial<TemplateCacheOptions>;
  sampling?: Partial<SamplingOptions>;
  /** sFlow decoder to hand sFlow datagrams to (NetFlow and sFlow on one port). */
  sflow?: SflowDecodeFn;
}

export declare class FlowDecoderContract {
  constructor(opts: DecoderOptions);
  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number;
  tick(nowMs: number): void;
  saveTemplates(): Promise<void>;
  loadTemplates(): Promise<void>;
}

/** Sequence gaps larger than this (records; packets for v9) are treated as an exporter restart. */
const MAX_GAP_RECORDS = 1_000_000;
const MAX_GAP_PACKETS = 100_000;

function newCtx(): MsgContext {
  return {
    src: { exporter: "", exporterIp: new Uint8Array(16), receivedMs: 0 },
    stats: undefined as unknown as ExporterStats,
    version: 0,
    domain: 0,
    exportMs: 0,
    sysUptimeMs: -1,
    scope: undefined,
    rateOverride: 0,
    rateDefault: 0,
  };
}

function sameFields(a: readonly TemplateField[], b: readonly TemplateField[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) {
    const x = a[k]!,
      y = b[k]!;
    if (x.id !== y.id || x.enterprise !== y.enterprise || x.length !== y.length) return false;
  }
  return true;
}

export class FlowDecoder implements FlowDecoderContract, SetHandler {
  private readonly stats: CollectorStats;
  private readonly log: Logger | undefined;
  private readonly sflow: SflowDecodeFn | undefined;
  readonly cache: TemplateCache;
  private readonly overrides: Map<string, number>;
  private readonly rateDefault: number;
  private readonly bc = new BatchColumns();
  private readonly ctx = newCtx();
  private readonly pctx = newCtx();
  private readonly fixed: FixedResult = { rows: 0, sequence: 0, records: 0, problem: "", headerCount: 0 };
  private sink!: RecordSink;
  private optScope: Scope | undefined;
  /** Template records seen in the current v9 datagram (for the header count check). */
  private templateRecords = 0;
  private readonly v9Counts = { flowsets: 0 };
  private readonly onOptions = (rec: OptionsRecord): void => {
    if (this.optScope) learnFromOptions(this.optScope, rec);
    this.sink.options(rec);
  };

  constructor(opts: DecoderOptions) {
    this.stats = opts.stats;
    this.log = opts.log;
    this.sflow = opts.sflow;
    this.cache = new TemplateCache(opts.templates, opts.stats.maxExporters);
    this.overrides = new Map(Object.entries(opts.sampling?.exporters ?? {}));
    this.rateDefault = opts.sampling?.default ?? 0;
  }

  /** Set one exporter's configured sampling override (CollectorService resolves prefix overrides per exporter). */
  setSamplingOverride(exporter: string, rate: number): void {
    this.overrides.set(exporter, rate);
  }

  decode(data: Uint8Array, src: PacketSource, sink: RecordSink): number {
    const st = this.stats.exporter(src.exporter);
    st.packets++;
    st.bytes += data.length;
    if (!st.firstSeen) st.firstSeen = src.receivedMs;
    st.lastSeen = src.receivedMs;
    const before = st.flowRecords;
    this.sink = sink;
    const ctx = this.ctx;
    ctx.src = src;
    ctx.stats = st;
    ctx.scope = undefined;
    try {
      if (data.length < 4) throw new DecodeError("truncated", `datagram of ${data.length} bytes`);
      // sFlow first, before the DataView: on an sFlow-heavy NetFlow port the
      // view would be ~10 % of the cost of small datagrams (profiled).
      if (this.sflow && data[0] === 0 && data[1] === 0 && data[2] === 0 && data[3] === 5) {
        return this.sflow(data, src, sink);
      }
      const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const version = dv.getUint16(0);
      switch (version) {
        case 1:
        case 5:
        case 7:
          this.decodeFixed(version, data, dv, ctx);
          break;
        case 9:
          this.decodeV9(data, dv, ctx);
          break;
        case 10:
          this.decodeIpfix(data, dv, ctx);
          break;
        case 0:
          if (dv.getUint32(0) === 5) {
            throw new DecodeError(
              "bad_version",
              "sFlow datagram on a NetFlow port (no sFlow decoder configured)",
            );
          }
          throw new DecodeError("bad_version", `unknown export version ${version}`);
        default:
          throw new DecodeError("bad_version", `unknown export version ${version}`);
      }
    } catch (e) {
      // Decoders count their own problems; this only catches header-level
      // DecodeErrors and, defensively, anything unexpected.
      const b = sink.batch;
      if (b.length < b.capacity) b.clearRow(b.length);
      const reason: DecodeReason = e instanceof DecodeError ? e.reason : "other";
      this.problem(ctx, reason, e instanceof Error ? e.message : String(e));
    }
    return st.flowRecords - before;
  }

  // --- versions ---------------------------------------------------------------

  private setCommon(ctx: MsgContext, version: number, domain: number): void {
    ctx.version = version;
    ctx.domain = domain;
    ctx.rateOverride = this.overrides.size ? (this.overrides.get(ctx.src.exporter) ?? 0) : 0;
    ctx.rateDefault = this.rateDefault;
    ctx.scope = this.cache.scope(ctx.src.exporter, version, domain);
    const key = VERSION_KEYS[version] ?? String(version);
    ctx.stats.versions[key] = (ctx.stats.versions[key] ?? 0) + 1;
  }

  private decodeFixed(version: 1 | 5 | 7, data: Uint8Array, dv: DataView, ctx: MsgContext): void {
    const L = LAYOUTS[version];
    if (data.length < L.header)
      throw new DecodeError("truncated", `NetFlow v${version} header: ${data.length} bytes`);
    // v5: engine_type<<8 | engine_id identifies the flow cache (sequence numbers are per engine).
    this.setCommon(ctx, version, version === 5 ? dv.getUint16(20) : 0);
    ctx.exportMs = dv.getUint32(8) * 1000;
    ctx.sysUptimeMs = dv.getUint32(4);
    const out = this.fixed;
    decodeFixed(version, data, dv, ctx, this.sink, out);
    if (out.problem) {
      this.problem(
        ctx,
        out.problem,
        `NetFlow v${version}: header count ${out.headerCount}, ${data.length} bytes hold ${out.records} records`,
      );
    }
    if (out.sequence >= 0 && ctx.scope)
      this.sequence(ctx.scope, ctx.stats, out.sequence, out.records, MAX_GAP_RECORDS);
  }

  private decodeV9(data: Uint8Array, dv: DataView, ctx: MsgContext): void {
    if (data.length < V9_HEADER)
      throw new DecodeError("truncated", `NetFlow v9 header: ${data.length} bytes`);
    this.setCommon(ctx, 9, dv.getUint32(16));
    ctx.sysUptimeMs = dv.getUint32(4);
    ctx.exportMs = dv.getUint32(8) * 1000;
    // RFC 3954 §5.1: the sequence counts export packets per source id.
    if (ctx.scope) this.sequence(ctx.scope, ctx.stats, dv.getUint32(12), 1, MAX_GAP_PACKETS);
    this.templateRecords = 0;
    this.v9Counts.flowsets = 0;
    const flowsBefore = ctx.stats.flowRecords;
    const records = walkV9(data, dv, ctx, this, this.v9Counts);
    // §5.1: count = template + options template + data records; many
    // exporters (nProbe, Cisco WLC, FortiGate …) put the number of flowsets
    // there instead, and softflowd the number of flow records alone (without
    // its template and options records); both are accepted. Reported, never trusted (the walk
    // above goes by flowset lengths); unknowable when some data sets were
    // held for a missing template.
    const count = dv.getUint16(2);
    if (
      records >= 0 &&
      count !== records + this.templateRecords &&
      count !== ctx.stats.flowRecords - flowsBefore &&
      count !== this.v9Counts.flowsets
    ) {
      this.problem(
        ctx,
        "bad_count",
        `NetFlow v9: header count ${count}, ${records + this.templateRecords} records present`,
      );
    }
  }

  private decodeIpfix(data: Uint8Array, dv: DataView, ctx: MsgContext): void {
    // One datagram normally holds one message (RFC 7011 §10.3.3); several
    // back-to-back messages (RFC 5655 files, batched senders) are accepted.
    let start = 0;
    let first = true;
    while (data.length - start >= IPFIX_HEADER && dv.getUint16(start) === 10) {
      const mlen = dv.getUint16(start + 2);
      if (mlen < IPFIX_HEADER) throw new DecodeError("bad_length", `IPFIX message length ${mlen}`);
      if (start + mlen > data.length)
        throw new DecodeError("truncated", `IPFIX message length ${mlen}, datagram ${data.length - start}`);
      if (first) this.setCommon(ctx, 10, dv.getUint32(start + 12));
      else {
        ctx.domain = dv.getUint32(start + 12);
        ctx.scope = this.cache.scope(ctx.src.exporter, 10, ctx.domain);
      }
      first = false;
      ctx.exportMs = dv.getUint32(start + 4) * 1000;
      ctx.sysUptimeMs = -1;
      const seq = dv.getUint32(start + 8);
      const scope = ctx.scope;
      if (scope) this.sequence(scope, ctx.stats, seq, 0, MAX_GAP_RECORDS);
      const records = walkIpfix(data, dv, start, start + mlen, ctx, this);
      // §3.1: the sequence counts data records; unknown when some sets were held back.
      if (scope) scope.seqNext = records < 0 ? -1 : (seq + records) >>> 0;
      start += mlen;
    }
    if (first) throw new DecodeError("truncated", `IPFIX message header: ${data.length} bytes`);
    if (start < data.length)
      this.problem(ctx, "padding", `IPFIX: ${data.length - start} bytes after the last message`);
  }

  /**
   * Sequence accounting: a forward gap is loss; a backward step or an absurd
   * jump is a reset (exporter restart). Late (reordered) packets within a
   * small window are ignored, so reordering shows as a little loss, never as
   * a reset.
   */
  private sequence(scope: Scope, st: ExporterStats, seq: number, advance: number, maxGap: number): void {
    if (scope.seqNext >= 0 && seq !== scope.seqNext) {
      const gap = (seq - scope.seqNext) >>> 0;
      if (gap <= maxGap) st.sequenceLost += gap;
      else if (0x100000000 - gap <= 64 * Math.max(advance, 1))
        return; // late packet
      else st.sequenceResets++;
    }
    scope.seqNext = (seq + advance) >>> 0;
  }

  // --- SetHandler (called by the v9 / IPFIX walkers) ---------------------------

  template(ctx: MsgContext, id: number, fields: TemplateField[], options: boolean, scopeCount: number): void {
    this.templateRecords++;
    const scope = ctx.scope;
    if (!scope) {
      this.problem(
        ctx,
        "template_limit",
        `no template scope for ${ctx.src.exporter} domain ${ctx.domain} (scope cap)`,
      );
      return;
    }
    const old = scope.templates.get(id);
    if (old && old.options === options && old.scopeCount === scopeCount && sameFields(old.fields, fields))
      return; // periodic refresh
    if (!old && scope.templates.size >= this.cache.opts.maxTemplatesPerScope) {
      this.problem(
        ctx,
        "template_limit",
        `template ${id} ignored: ${scope.templates.size} templates in scope`,
      );
      return;
    }
    const c = compileTemplate(id, fields, options, scopeCount, ctx.version);
    if (typeof c === "string") {
      this.problem(ctx, "template_invalid", `template ${id}: ${c}`);
      return;
    }
    if (c.badLengthFields) {
      ctx.stats.errors.field_length += c.badLengthFields;
      this.log?.limited(
        "netflow:field_length",
        "warn",
        `template ${id}: ${c.badLengthFields} field(s) with a length that does not fit the type; skipped`,
        {
          exporter: ctx.src.exporter,
          domain: ctx.domain,
        },
      );
    }
    scope.templates.set(id, c); // a redefinition replaces (RFC 7011 §8, RFC 3954 §5.2)
    ctx.stats.templates = this.cache.templateCount(ctx.src.exporter);
    this.drainPending(ctx, scope, c);
  }

  withdraw(ctx: MsgContext, id: number, kind: "one" | "allData" | "allOptions"): void {
    const scope = ctx.scope;
    if (!scope) return;
    if (kind === "one") scope.templates.delete(id);
    else
      for (const [tid, t] of scope.templates)
        if (t.options === (kind === "allOptions")) scope.templates.delete(tid);
    ctx.stats.templates = this.cache.templateCount(ctx.src.exporter);
  }

  data(ctx: MsgContext, setId: number, buf: Uint8Array, dv: DataView, off: number, end: number): number {
    const t = ctx.scope?.templates.get(setId);
    if (!t) {
      this.hold(ctx, setId, buf, off, end);
      return -1;
    }
    return this.decodeSet(t, ctx, buf, dv, off, end);
  }

  problem(ctx: MsgContext, reason: DecodeReason, msg: string): void {
    ctx.stats.errors[reason]++;
    this.log?.limited(`netflow:${reason}`, "warn", msg, { exporter: ctx.src.exporter, reason });
  }

  private decodeSet(
    t: CompiledTemplate,
    ctx: MsgContext,
    buf: Uint8Array,
    dv: DataView,
    off: number,
    end: number,
  ): number {
    if (t.options) {
      this.optScope = ctx.scope;
      return decodeOptionsRecords(t, buf, dv, off, end, ctx, this.onOptions);
    }
    return decodeFlowRecords(t, buf, dv, off, end, ctx, this.sink, this.bc);
  }

  // --- pending (data before template) -------------------------------------------

  private hold(ctx: MsgContext, setId: number, buf: Uint8Array, off: number, end: number): void {
    const st = ctx.stats;
    st.errors.template_missing++;
    const o = this.cache.opts;
    const e = this.cache.exporter(ctx.src.exporter);
    const len = end - off;
    if (!e || len > o.maxPendingBytesPerExporter || o.maxPendingSetsPerExporter <= 0) {
      this.log?.limited("netflow:template_missing", "info", `data set ${setId} without template dropped`, {
        exporter: ctx.src.exporter,
      });
      return;
    }
    this.expire(e, st, ctx.src.receivedMs);
    while (
      e.pending.length > 0 &&
      (e.pending.length >= o.maxPendingSetsPerExporter || e.pendingBytes + len > o.maxPendingBytesPerExporter)
    ) {
      const x = e.pending.shift()!;
      e.pendingBytes -= x.data.length;
      st.errors.pending_overflow++;
    }
    e.pending.push({
      version: ctx.version,
      domain: ctx.domain,
      setId,
      data: buf.slice(off, end),
      exportMs: ctx.exportMs,
      sysUptimeMs: ctx.sysUptimeMs,
      receivedMs: ctx.src.receivedMs,
    });
    e.pendingBytes += len;
    st.pendingSets = e.pending.length;
    this.log?.limited(
      "netflow:template_missing",
      "info",
      `data set ${setId} held until its template arrives`,
      {
        exporter: ctx.src.exporter,
        domain: ctx.domain,
      },
    );
  }

  private drainPending(ctx: MsgContext, scope: Scope, t: CompiledTemplate): void {
    const e = this.cache.exporters.get(ctx.src.exporter);
    if (!e || e.pending.length === 0) return;
    const p = this.pctx;
    for (let k = 0; k < e.pending.length;) {
      const x = e.pending[k]!;
      if (x.version !== ctx.version || x.domain !== ctx.domain || x.setId !== t.id) {
        k++;
        continue;
      }
      e.pending.splice(k, 1);
      e.pendingBytes -= x.data.length;
      p.src = { exporter: ctx.src.exporter, exporterIp: ctx.src.exporterIp, receivedMs: x.receivedMs };
      p.stats = ctx.stats;
      p.version = x.version;
      p.domain = x.domain;
      p.exportMs = x.exportMs;
      p.sysUptimeMs = x.sysUptimeMs;
      p.scope = scope;
      p.rateOverride = ctx.rateOverride;
      p.rateDefault = ctx.rateDefault;
      const dv = new DataView(x.data.buffer, x.data.byteOffset, x.data.byteLength);
      this.decodeSet(t, p, x.data, dv, 0, x.data.length);
      ctx.stats.pendingDecoded++;
    }
    ctx.stats.pendingSets = e.pending.length;
  }

  private expire(
    e: { pending: { receivedMs: number; data: Uint8Array }[]; pendingBytes: number },
    st: ExporterStats,
    nowMs: number,
  ): void {
    const limit = nowMs - this.cache.opts.pendingMaxAgeMs;
    while (e.pending.length > 0 && e.pending[0]!.receivedMs < limit) {
      const x = e.pending.shift()!;
      e.pendingBytes -= x.data.length;
      st.errors.pending_expired++;
    }
    st.pendingSets = e.pending.length;
  }

  /** Drop pending data older than pendingMaxAgeMs (call about once a second). */
  tick(nowMs: number): void {
    for (const [addr, e] of this.cache.exporters) {
      if (e.pending.length === 0) continue;
      this.expire(e, this.stats.exporter(addr), nowMs);
    }
  }

  // --- persistence ---------------------------------------------------------------

  async saveTemplates(): Promise<void> {
    const path = this.cache.opts.persistPath;
    if (!path) return;
    try {
      await this.cache.save(path);
    } catch (e) {
      this.log?.warn("cannot save templates", { path, error: (e as Error).message });
    }
  }

  async loadTemplates(): Promise<void> {
    const path = this.cache.opts.persistPath;
    if (!path) return;
    const r = await this.cache.load(path);
    if (typeof r === "string") {
      this.log?.warn("ignoring saved template file", { path, error: r });
      return;
    }
    for (const addr of this.cache.exporters.keys())
      this.stats.exporter(addr).templates = this.cache.templateCount(addr);
    if (r > 0) this.log?.info("templates loaded", { path, templates: r });
  }
}

const VERSION_KEYS: Record<number, string> = { 1: "1", 5: "5", 7: "7", 9: "9", 10: "10" };
