// The composition root: every component built and wired by hand, in one place.
//
//   config ─▶ CollectorStats ─▶ FlowDecoder ─▶ CollectorService (UDP) ─▶ Pipeline ─▶ RateMeter
//                                                                                   └▶ JsonlWriter (optional)
//                         └─ sFlow counter samples ─▶ CounterStore (interface time series)
//                                                                                   └▶ LiveAggregator (live view, SSE)
//            HttpApi (/metrics, /api/v1/*, web UI) reads the stats, the rate meter, the live
//            aggregator and the counter store; HttpAuth (users.json, sessions) guards it
//            DemoTraffic sends NetFlow v9 to the collector while no router does
//            ContentStore (<dataDir>/content: saved queries, dashboards, share links) ─▶ Scheduler
//            (scheduled refresh through the SQL service); HttpApi serves both
//            AlertService (<dataDir>/alerts): rules on app.events (attacks, anomalies) and on saved
//            queries run through the SQL service ─▶ webhook / Slack / SMTP / syslog, with history
//            AnomalyService (pipeline consumer, detect.anomaly): per-minute series ─▶ anomaly_scores in
//            the store, anomaly_started/ended on app.events, /api/v1/anomalies*
//
// Start order is dependency order; stop is the reverse, so the last datagrams
// are decoded, flushed to the consumers and the templates saved before exit.
import { mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { FlowQueryRunner } from "./api/query.js";
import { TrinoFlowQueryRunner } from "./query/engine/trino.js";
import { EngineRoutes } from "./query/engine/routes.js";
import { TrinoSqlService } from "./query/engine/trino-sql-service.js";
import type { SqlEngine } from "./query/engine/sql-engine.js";
import { writeTrinoTables } from "./bus/trino-tables.js";
import { HttpApi } from "./api/server.js";
import { HttpAuth } from "./api/auth-http.js";
import { TrinoServer } from "./api/trino.js";
import { UserStore, ensureAdmin, type AdminBootstrap } from "./api/auth.js";
import { findWebDir } from "./api/static.js";
import { LiveAggregator } from "./live/aggregator.js";
import { liveStream } from "./live/sse.js";
import { ensureToken, type ApiToken } from "./api/token.js";
import { CounterStore } from "./collector/counters.js";
import { FlowDecoder } from "./collector/decoder.js";
import { SflowDecoder } from "./collector/sflow/decoder.js";
import { CollectorService } from "./collector/service.js";
import { CollectorStats } from "./collector/stats.js";
import type { ListenSpec } from "./collector/udp.js";
import { parseListen, type ListenAddress } from "./config/address.js";
import { storePath, type NagareConfig } from "./config/schema.js";
import { DemoTraffic } from "./demo/traffic.js";
import { createLogger, type Logger } from "./log.js";
import { JsonlWriter, Pipeline, RateMeter, type FlowConsumer } from "./pipeline/index.js";
import { SqlService } from "./query/sql/index.js";
import { SecondTotals } from "./query/seconds.js";
import { StoreWriter } from "./store/index.js";
import { ParquetExport } from "./store/export.js";
import { ContentStore } from "./content/store.js";
import { ContentRoutes } from "./content/routes.js";
import { Scheduler } from "./content/schedule.js";
import { overviewDashboard } from "./content/overview.js";
import { AlertService } from "./alerts/service.js";
import { AlertRoutes } from "./alerts/routes.js";
import { DetectEvents } from "./detect/types.js";
import { DetectService } from "./detect/service.js";
import { DetectRoutes } from "./detect/routes.js";
import { AnomalyService } from "./detect/anomaly-service.js";
import { AnomalyRoutes } from "./detect/anomaly-routes.js";
import { EnrichmentService } from "./enrich/service.js";
import { EnrichmentRoutes } from "./enrich/routes.js";
import { createInterfaceSource, type InterfaceSource } from "./enrich/interfaces/index.js";
import { createRoutingSource, type RoutingSource } from "./enrich/routing/index.js";
import { KafkaProducer, connectionOptions } from "./bus/producer.js";
import { KafkaFlowSource } from "./bus/consumer.js";
import { KafkaRoutes } from "./bus/consumer-routes.js";
import { modeParts, type ModeParts } from "./bus/modes.js";
import { NagareBinaryDecoder } from "./bus/binary.js";
import { PmacctJsonDecoder } from "./bus/pmacct.js";
import { PreenrichedGate } from "./bus/preenriched.js";

let cachedVersion: string | undefined;
/** The package version (package.json sits two levels above dist/src/, one above src/). */
export function nagareVersion(): string {
  if (cachedVersion) return cachedVersion;
  for (const rel of ["../package.json", "../../package.json"]) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), "utf8")) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === "nagare" && pkg.version) return (cachedVersion = pkg.version);
    } catch {
      // try the next location
    }
  }
  return (cachedVersion = "0.0.0");
}

export interface AppOptions {
  config: NagareConfig;
  /** collector.listen came from the defaults: also listen on "[::]" (same port) when IPv6 works. */
  listenDefaulted?: boolean;
  log?: Logger;
  /** Extra consumers (tests, later the store). */
  consumers?: FlowConsumer[];
}

export class App {
  readonly config: NagareConfig;
  readonly log: Logger;
  readonly stats: CollectorStats;
  readonly decoder: FlowDecoder;
  readonly pipeline: Pipeline;
  readonly rate: RateMeter;
  readonly counters: CounterStore;
  readonly jsonl: JsonlWriter | null;
  readonly collector: CollectorService;
  readonly http: HttpApi;
  readonly live: LiveAggregator;
  readonly auth: HttpAuth;
  /** How the admin user came to be at this start (the generated password is printed once). */
  admin: AdminBootstrap | null = null;
  readonly webDir: string | null;
  /** The flow store and the SQL service on it; null with store.enabled false (--no-store). */
  readonly store: StoreWriter | null;
  readonly sql: SqlService | null;
  /**
   * What user SQL runs on (/api/v1/sql, downloads, saved queries, dashboards,
   * SQL alerts): `sql`, or Trino with query.engine.kind trino (docs/trino.md).
   * The Trino protocol endpoint (`trino`) always serves the local store.
   */
  readonly sqlEngine: SqlEngine | null;
  /** /api/v1/engine[/sql]; closed at stop (its Trino client may hold an https Agent). */
  private readonly engineRoutes: EngineRoutes;
  readonly flows: FlowQueryRunner | null;
  /** Parquet export of closed hours of flows_raw (store.export.enabled). */
  readonly export: ParquetExport | null;
  /** Saved queries, dashboards and share links (<dataDir>/content). */
  readonly content: ContentStore;
  /** Scheduled refresh of saved queries; null without the store. */
  readonly scheduler: Scheduler | null;
  /** Alert rules on attacks, anomalies and saved queries; notifications and history (<dataDir>/alerts). */
  readonly alerts: AlertService;
  /** Detection events (attacks, anomalies): detectors emit, alerts and SSE listen. */
  readonly events: DetectEvents;
  /** DDoS detection (per-second counters, attacks); a pipeline consumer (detect.enabled). */
  readonly detect: DetectService;
  /** Anomaly scores on per-minute traffic series (detect.anomaly); writes anomaly_scores into the store. */
  readonly anomaly: AnomalyService;
  /** What this process runs (mode: all | collector | store; src/bus/modes.ts, docs/kafka.md). */
  readonly parts: ModeParts;
  /** Publishes the pipeline's flows to Kafka (bus.enabled, modes all/collector); null otherwise. */
  readonly producer: KafkaProducer | null;
  /** Feeds the pipeline from Kafka (mode store); null otherwise. */
  readonly kafka: KafkaFlowSource | null;
  /** Flow enrichment (enrich.*): the first pipeline consumer when enrich.enabled; states for /api/v1/enrichment. */
  readonly enrich: EnrichmentService;
  /** Interface names / descriptions / speeds (options data, SNMP, static); null with enrich.enabled false. */
  readonly interfaces: InterfaceSource | null;
  /** BMP / BGP routing data (enrich.bmp, enrich.bgp); null when neither is enabled or enrich.enabled is false. */
  readonly routing: RoutingSource | null;
  /** Trino/Presto client-protocol endpoint (trino.enabled, needs the store); docs/trino.md. */
  readonly trino: TrinoServer | null;
  demo: DemoTraffic | null = null;
  token: ApiToken | null = null;
  private readonly tokenSlot: { token: string };
  private started: (() => Promise<void>)[] = [];
  private last = { packets: 0, errors: 0, kernelDrops: 0, t: Date.now() };

  constructor(opts: AppOptions) {
    const cfg = (this.config = opts.config);
    this.log = opts.log ?? createLogger({ level: cfg.log.level });
    this.stats = new CollectorStats(cfg.collector.maxExporters);

    // Exact addresses are matched by the decoder; CollectorService resolves
    // prefix keys per exporter when first heard (see service.ts).
    const samplingExporters = { ...cfg.collector.sampling.exporters };
    // sFlow datagrams (00 00 00 05) on any port go to the sFlow decoder through FlowDecoder's hook.
    const sflow = new SflowDecoder({ stats: this.stats, log: this.log });
    this.decoder = new FlowDecoder({
      stats: this.stats,
      log: this.log,
      sflow: sflow.hook,
      templates: { ...cfg.collector.templates, persistPath: join(cfg.dataDir, "templates.json") },
      sampling: { default: cfg.collector.sampling.default, exporters: samplingExporters },
    });

    this.counters = new CounterStore(cfg.collector.counters);

    this.pipeline = new Pipeline({ log: this.log });
    // Enrichment first: every later consumer (store, detection, live view, bus) sees enriched rows.
    this.interfaces = cfg.enrich.enabled
      ? createInterfaceSource(
          cfg.enrich.interfaces,
          { snmpCacheFile: join(cfg.dataDir, "enrich", "snmp-interfaces.json") },
          this.log,
        )
      : null;
    const rt = cfg.enrich;
    this.routing =
      cfg.enrich.enabled && (rt.bmp.enabled || rt.bgp.enabled) ? createRoutingSource(rt, this.log) : null;
    this.enrich = new EnrichmentService({
      config: cfg.enrich,
      interfaces: this.interfaces,
      routing: this.routing,
      log: this.log,
    });
    // Store mode: batches a Nagare collector already enriched skip it (src/bus/preenriched.ts).
    const enrichGate = new PreenrichedGate(this.enrich);
    if (cfg.enrich.enabled) this.pipeline.add(enrichGate);
    this.rate = new RateMeter();
    this.pipeline.add(this.rate);
    this.live = new LiveAggregator();
    this.pipeline.add(this.live);
    this.jsonl = cfg.output.jsonl ? new JsonlWriter(cfg.output.jsonl) : null;
    if (this.jsonl) this.pipeline.add(this.jsonl);
    const parts = (this.parts = modeParts(cfg.mode, cfg.bus.enabled, cfg.store.enabled));
    this.producer = parts.producer
      ? new KafkaProducer(cfg.bus, { log: this.log, enriched: cfg.enrich.enabled })
      : null;
    if (this.producer) this.pipeline.add(this.producer);
    if (parts.store) {
      const { enabled: _enabled, ...storeCfg } = cfg.store;
      const store = new StoreWriter({ config: { ...storeCfg, path: storePath(cfg) }, log: this.log });
      this.store = store;
      this.pipeline.add(store);
      this.sql = new SqlService(() => store.database, cfg.query.sql);
      // Per-second totals in memory (src/query/seconds.ts), kept right by the writer's change reports.
      const seconds = new SecondTotals({ db: () => store.database, rawDays: storeCfg.retention.rawDays });
      store.rollupChanged.push((table, fromMs) => {
        if (table === "*") seconds.invalidateAll();
        else if (table === "flows_1s") seconds.invalidateFrom(fromMs);
      });
      // The writer's own watermarks: no SQL read of rollup_state per flow query.
      // query.engine.kind "trino": flow queries run on a Trino server over the export's Hive table (docs/trino.md).
      const engine = cfg.query.engine;
      this.flows =
        engine.kind === "trino"
          ? new TrinoFlowQueryRunner(() => store.database, cfg.query.sql.timeoutMs, engine.trino)
          : new FlowQueryRunner(
              () => store.database,
              cfg.query.sql.timeoutMs,
              storeCfg.retention,
              undefined,
              () => store.rollupWatermarks(),
              seconds,
            );
      this.sqlEngine =
        engine.kind === "trino" ? new TrinoSqlService({ trino: engine.trino, sql: cfg.query.sql }) : this.sql;
      // Parquet export of closed hours (store.export); dir "" = <dataDir>/export.
      this.export = storeCfg.export.enabled
        ? new ParquetExport({
            db: () => store.database,
            config: { ...storeCfg.export, dir: storeCfg.export.dir || join(cfg.dataDir, "export") },
            protect: [cfg.dataDir],
            log: this.log,
          })
        : null;
    } else {
      this.export = null;
      this.store = null;
      this.sql = null;
      this.sqlEngine = null;
      this.flows = null;
    }
    // Store mode: Kafka instead of UDP. Offsets are committed behind a store
    // flush that committed without error (at-least-once, docs/kafka.md).
    const kstore = this.store;
    this.kafka =
      parts.consumer && kstore
        ? new KafkaFlowSource({
            brokers: cfg.bus.brokers,
            topic: cfg.bus.consumer.topic || cfg.bus.topic,
            groupId: cfg.bus.consumer.groupId,
            clientId: cfg.bus.consumer.clientId,
            format: cfg.bus.consumer.format,
            decoders: { "nagare-binary": new NagareBinaryDecoder(), "pmacct-json": new PmacctJsonDecoder() },
            startFrom: cfg.bus.consumer.startFrom,
            commitIntervalMs: cfg.bus.consumer.commitIntervalMs,
            lagIntervalMs: cfg.bus.consumer.lagIntervalMs,
            batchRows: cfg.bus.consumer.batchRows,
            maxWaitMs: cfg.bus.consumer.maxWaitMs,
            sessionTimeoutMs: cfg.bus.consumer.sessionTimeoutMs,
            heartbeatIntervalMs: cfg.bus.consumer.heartbeatIntervalMs,
            connection: connectionOptions(cfg.bus),
            push: (b, info) => enrichGate.pass(info.preenriched, () => this.pipeline.push(b)),
            barrier: async () => {
              const errors = kstore.flushErrors;
              await kstore.flush();
              return kstore.flushErrors === errors;
            },
            log: this.log,
          })
        : null;
    this.events = new DetectEvents();
    this.detect = new DetectService({
      config: cfg.detect,
      events: this.events,
      dataDir: cfg.dataDir,
      log: this.log,
    });
    if (cfg.detect.enabled) this.pipeline.add(this.detect);
    // After the store in the pipeline: started once store.database exists, stopped before it closes.
    const store = this.store;
    this.anomaly = new AnomalyService({
      config: cfg.detect.anomaly,
      events: this.events,
      db: store ? () => store.database : undefined,
      dataDir: cfg.dataDir,
      storeRetentionDays: cfg.store.retention.rawDays,
      log: this.log,
    });
    if (cfg.detect.anomaly.enabled) this.pipeline.add(this.anomaly);
    for (const c of opts.consumers ?? []) this.pipeline.add(c);
    this.content = new ContentStore(join(cfg.dataDir, "content"), this.log);
    this.scheduler = this.sqlEngine
      ? new Scheduler({ store: this.content, sql: this.sqlEngine, log: this.log })
      : null;
    this.alerts = new AlertService({
      dir: join(cfg.dataDir, "alerts"),
      config: cfg.alerts,
      content: this.content,
      sql: this.sqlEngine ?? undefined,
      events: this.events,
      log: this.log,
    });

    const listen: ListenSpec[] = cfg.collector.listen.map((t) => ({ addr: parseListen(t) as ListenAddress }));
    if (opts.listenDefaulted && listen.length === 1 && listen[0]!.addr.host === "0.0.0.0") {
      const v6 = parseListen(`[::]:${listen[0]!.addr.port}`) as ListenAddress;
      listen.push({ addr: v6, optional: true });
    }
    // The default sFlow port is optional (a busy 6343 must not stop NetFlow collection); a configured one is not.
    const sflowDefault =
      cfg.collector.sflowListen.length === 1 && cfg.collector.sflowListen[0] === "0.0.0.0:6343";
    for (const t of cfg.collector.sflowListen)
      listen.push({ addr: parseListen(t) as ListenAddress, optional: sflowDefault });
    this.collector = new CollectorService({
      listen,
      receiveBufferBytes: cfg.collector.receiveBufferBytes,
      stats: this.stats,
      decoder: this.decoder,
      log: this.log,
      samplingExporters,
      onBatch: (b) => this.pipeline.push(b),
      // Receive thread on unless NAGARE_RECEIVE_THREAD=0 (docs/operations.md, "Receive path").
      receiveThread: process.env.NAGARE_RECEIVE_THREAD !== "0",
      onCounters: this.counters.add,
      // IPFIX / NetFlow v9 options data (ifName, ifDescription) feeds the interface source.
      onOptions: this.interfaces ? (rec) => this.interfaces?.options(rec) : undefined,
    });

    // The token is known only at start (it may be generated then); the HTTP
    // server reads it through this slot.
    this.tokenSlot = { token: "" };
    const slot = this.tokenSlot;
    this.auth = new HttpAuth({
      users: new UserStore(cfg.dataDir),
      sessionTtlMs: cfg.http.sessionHours * 3600_000,
      secureCookies: cfg.http.secureCookies,
    });
    // Collector mode serves no UI (the HTTP server keeps /metrics, /healthz and the API).
    this.webDir = parts.ui ? findWebDir() : null;
    this.trino =
      cfg.trino.enabled && this.sql
        ? new TrinoServer({
            config: cfg.trino,
            sql: this.sql,
            users: this.auth.users,
            token: () => slot.token,
            dataDir: cfg.dataDir,
            version: nagareVersion(),
            log: this.log,
          })
        : null;
    this.engineRoutes = new EngineRoutes(cfg.query.engine, cfg.query.sql.timeoutMs);
    this.http = new HttpApi({
      listen: parseListen(cfg.http.listen) as ListenAddress,
      get token() {
        return slot.token;
      },
      publicMetrics: cfg.http.publicMetrics,
      stats: this.stats,
      rates: this.rate,
      counters: this.counters,
      countersMetricsMax: cfg.collector.counters.metricsMaxSeries,
      log: this.log,
      query: this.flows && this.sqlEngine ? { sql: this.sqlEngine, flows: this.flows } : undefined,
      auth: this.auth,
      live: this.live,
      webDir: this.webDir ?? undefined,
      content: new ContentRoutes({
        store: this.content,
        sql: this.sqlEngine ?? undefined,
        flows: this.flows ?? undefined,
        scheduler: this.scheduler ?? undefined,
        live: (dim, res) => liveStream(this.live, dim, res),
      }),
      modules: [
        new DetectRoutes(this.detect),
        new AnomalyRoutes(this.anomaly),
        new AlertRoutes(this.alerts),
        new KafkaRoutes(
          cfg.mode,
          this.kafka,
          this.producer ? () => this.producer!.metrics() : null,
          this.producer ? () => this.producer!.lastError : null,
        ),
        this.engineRoutes,
        new EnrichmentRoutes({
          states: () => this.enrich.states(),
          interfaces: this.interfaces ?? undefined,
        }),
      ],
      extra: () => ({
        version: nagareVersion(),
        pipelineFlows: this.pipeline.flows,
        pipelineBatches: this.pipeline.batches,
        handlerErrors: this.collector.handlerErrors,
        ...(this.demo ? { demoActive: this.demo.active ? 1 : 0 } : {}),
        ...(this.store
          ? { storeFreshness: this.store.freshness(), storeDurability: this.store.durability() }
          : {}),
        ...(this.config.enrich.enabled
          ? { enrich: { metrics: this.enrich.metrics(), sources: this.enrich.states() } }
          : {}),
        ...(this.kafka || this.producer
          ? {
              kafka: {
                ...(this.kafka
                  ? {
                      consumer: {
                        metrics: this.kafka.metrics(),
                        malformed: Object.fromEntries(this.kafka.malformedBy),
                        partitions: this.kafka.partitions(),
                      },
                    }
                  : {}),
                ...(this.producer ? { producer: this.producer.metrics() } : {}),
              },
            }
          : {}),
      }),
    });
  }

  async start(): Promise<void> {
    const cfg = this.config;
    try {
      mkdirSync(cfg.dataDir, { recursive: true });
      this.token = ensureToken(cfg.dataDir, cfg.http.token);
      this.tokenSlot.token = this.token.token;
      this.admin = await ensureAdmin(
        this.auth.users,
        cfg.http.adminPassword,
        process.env.NAGARE_ADMIN_PASSWORD,
      );

      // The pipeline starts its consumers, the store among them (the DuckDB
      // file opens here), before the collector delivers the first batch; it
      // stops after the collector, so the last batches are flushed to disk.
      await this.pipeline.start();
      this.started.push(() => this.pipeline.stop());
      // Trino Kafka-connector descriptions of the topic (trinoTables.dir; docs/trino.md).
      if (cfg.trinoTables.dir) {
        const w = writeTrinoTables(cfg.trinoTables.dir, cfg.bus, cfg.trinoTables.schema);
        if (w.skipped) this.log.warn(`trinoTables: nothing written: ${w.skipped}`);
        else this.log.info(`trinoTables: wrote ${w.files.join(", ")} (kafka.table-names=${w.tableNames})`);
      }
      // Before the SQL service: the export adds its directory to DuckDB's
      // allowed_directories, which the sandbox's lock_configuration then freezes.
      if (this.export) {
        const exp = this.export;
        await exp.start();
        this.started.push(() => exp.stop());
      }
      if (this.sql) {
        const sql = this.sql;
        await sql.start();
        this.started.push(() => {
          this.flows?.close();
          return sql.stop();
        });
      }
      if (this.sqlEngine instanceof TrinoSqlService) {
        const trinoSql = this.sqlEngine;
        this.started.push(() => trinoSql.stop());
      }
      this.started.push(async () => this.engineRoutes.close());
      // Content before the HTTP server serves it; the first start gets the Overview dashboard.
      this.content.load();
      if (this.content.ensureOverview(overviewDashboard))
        this.log.info("created the Overview dashboard", { dir: this.content.dir });
      if (this.scheduler) {
        const scheduler = this.scheduler;
        scheduler.start();
        this.started.push(() => scheduler.stop());
      }
      // After the SQL service and the saved queries (query rules run them), before detection delivers events.
      this.alerts.start();
      this.started.push(() => this.alerts.stop());
      // Store mode receives no UDP: Kafka feeds the pipeline (stopped before it, so the last offsets are committed).
      if (this.parts.collector) {
        await this.collector.start();
        this.started.push(() => this.collector.stop());
      }
      if (this.kafka) {
        const kafka = this.kafka;
        await kafka.start();
        this.started.push(() => kafka.stop());
      }
      await this.http.start();
      this.started.push(() => this.http.stop());
      if (this.trino) {
        const trino = this.trino;
        await trino.start();
        this.started.push(() => trino.stop());
      }

      const first = this.collector.bound[0];
      if (cfg.demo.enabled && first) {
        const demo: DemoTraffic = new DemoTraffic({
          targetHost: first.host,
          targetPort: first.port,
          flowsPerSecond: cfg.demo.flowsPerSecond,
          idleSeconds: cfg.demo.idleSeconds,
          log: this.log,
          lastRealTrafficMs: (): number => this.collector.lastHeardMs(demo.addresses),
        });
        await demo.start();
        this.demo = demo;
        this.started.push(() => demo.stop());
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.last = { ...this.snapshot(), t: Date.now() };
  }

  /** Stop in reverse order. Safe to call more than once. */
  async stop(): Promise<void> {
    const steps = this.started.reverse();
    this.started = [];
    for (const step of steps) {
      try {
        await step();
      } catch (err) {
        this.log.error("error while stopping", { error: String(err) });
      }
    }
  }

  /** Human-readable lines saying where Nagare listens (printed at start). */
  describe(): string[] {
    const lines: string[] = [];
    for (const b of this.collector.bound) {
      lines.push(`collector: listening on udp ${b.address} (receive buffer ${b.recvBufferBytes} bytes)`);
    }
    lines.push(
      `http: listening on http://${this.http.address} (/metrics, /healthz, /api/v1/exporters, /api/v1/interfaces, /api/v1/live${this.sql ? ", /api/v1/sql, /api/v1/flows/query" : ""})`,
    );
    lines.push(
      this.webDir
        ? `web ui: http://${this.http.address}/ (sign in as admin; users in ${resolve(this.auth.users.path)})`
        : this.parts.ui
          ? "web ui: not built (run npm run build); the API works without it"
          : "web ui: off in collector mode (flows go to Kafka; /metrics and /api/v1/kafka stay)",
    );
    if (this.trino)
      lines.push(
        `trino: Trino/Presto clients on https://${this.trino.address}${this.trino.httpAddress ? ` and http://${this.trino.httpAddress}` : ""} (catalog nagare, schema default; certificate ${resolve(this.trino.certPath)})`,
      );
    if (this.admin?.generated) lines.push(`admin password (shown once, user admin): ${this.admin.generated}`);
    else if (this.admin?.source === "config")
      lines.push("admin password: from configuration (http.adminPassword)");
    else if (this.admin?.source === "env") lines.push("admin password: from NAGARE_ADMIN_PASSWORD");
    if (this.token?.path) {
      lines.push(`api token: ${resolve(this.token.path)}${this.token.created ? " (new)" : ""}`);
      if (this.token.created) lines.push(`api token (shown once): ${this.token.token}`);
    } else {
      lines.push("api token: from configuration (http.token)");
    }
    lines.push(`templates: ${resolve(this.config.dataDir, "templates.json")}`);
    if (this.config.mode !== "all")
      lines.push(`mode: ${this.config.mode} (docs/kafka.md, "Deployment modes")`);
    if (this.producer)
      lines.push(
        `kafka: publishing flows (${this.config.bus.producer.format}) to ${this.config.bus.topic} on ${this.config.bus.brokers.join(",")}`,
      );
    if (this.kafka)
      lines.push(
        `kafka: consuming ${this.kafka.opts.topic} (group ${this.kafka.opts.groupId}, ${this.kafka.opts.format}) from ${this.config.bus.brokers.join(",")}; lag on /api/v1/kafka`,
      );
    if (this.store)
      lines.push(`store: ${resolve(this.store.config.path)} (SQL API /api/v1/sql; disable with --no-store)`);
    if (this.export) lines.push(`export: closed hours as Parquet to ${this.export.dir}/date=…/hour=…/`);
    if (this.jsonl) lines.push(`output: flows as JSON lines to ${this.jsonl.path}`);
    if (this.config.detect.enabled)
      lines.push(
        `detect: DDoS detection on (up to ${this.config.detect.maxHosts} hosts; /api/v1/attacks; ended attacks in ${resolve(this.config.dataDir, "attacks.jsonl")})`,
      );
    if (this.demo) {
      lines.push(
        `demo: synthetic NetFlow v9 from ${[...this.demo.addresses].join(", ")} while no real exporter is heard for ` +
          `${this.config.demo.idleSeconds} s (disable with --no-demo)`,
      );
    }
    return lines;
  }

  private snapshot(): { packets: number; errors: number; kernelDrops: number } {
    const t = this.stats.totals();
    return { packets: t.packets, errors: t.errors, kernelDrops: this.stats.kernelDrops };
  }

  /** One-line rate summary since the previous call (printed every 10 s). */
  summary(): string {
    const now = Date.now();
    const s = this.snapshot();
    const dt = Math.max(0.001, (now - this.last.t) / 1000);
    const pps = (s.packets - this.last.packets) / dt;
    const errors = s.errors - this.last.errors;
    const drops = s.kernelDrops - this.last.kernelDrops;
    this.last = { ...s, t: now };
    const r = this.rate.average(Math.max(1, Math.round(dt)));
    const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
    const demo = this.demo?.active ? " (demo traffic)" : "";
    return (
      `flows/s ${fmt(r.flows)} · packets/s ${fmt(pps)} · exporters ${this.stats.exporters.size}${demo} · ` +
      `decode errors +${errors} · kernel drops +${drops} · total flows ${fmt(this.pipeline.flows)}`
    );
  }
}
