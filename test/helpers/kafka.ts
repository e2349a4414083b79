// A real Apache Kafka broker for tests: the official jars from Maven Central
// (resolved by .ci/setup.d/20-kafka.sh into $NAGARE_KAFKA_LIB), one combined
// broker+controller node in KRaft mode on free loopback ports, a fresh data
// directory per broker. Never a mock, never skipped: without the jars the
// tests fail and say how to get them.
//
//   const kafka = await startKafka();          // one per test file (JVM start ~5-15 s)
//   await kafka.createTopic("flows", 3);
//   … produce / consume against kafka.bootstrap ("127.0.0.1:port") …
//   await kafka.kill(); await kafka.restart();  // outage with the same ports and data
//   await kafka.stop();
//
// Secured listeners (startKafka({ secure: true })), beside the PLAINTEXT one
// the harness and the other tests use:
//   SSL             TLS, server certificate signed by a throwaway CA made per run with openssl
//   SASL_SSL        TLS + SASL SCRAM-SHA-512 / -256 (credentials created at `kafka-storage format`, KRaft)
//   SASL_PLAINTEXT  SASL PLAIN without TLS (users in the listener's JAAS config)
//   MTLS            TLS with ssl.client.auth=required: clients must show a certificate the
//                   per-run CA signed (a protocol SSL listener named MTLS)
// kafka.secure has their bootstraps, the CA (and a second, unrelated CA for
// "wrong CA" tests), client certificates (one from each CA) and the users.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer, connect } from "node:net";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { Admin } from "@platformatic/kafka";
import { repoRoot } from "./repo.js";

export interface KafkaBroker {
  /** "127.0.0.1:port" of the PLAINTEXT listener. */
  bootstrap: string;
  /** The broker's directory (server.properties, broker.log, data/). */
  dir: string;
  /** SIGTERM and wait for a clean exit (SIGKILL after 20 s). */
  stop(): Promise<void>;
  /** SIGKILL: a crash, the data directory is kept. */
  kill(): Promise<void>;
  /** Start again on the same ports with the same data (stops it first when running). */
  restart(): Promise<void>;
  /** Create a topic (replication 1) and wait until every partition has a leader. */
  createTopic(name: string, partitions: number): Promise<void>;
  /** The secured listeners (startKafka({ secure: true })); null otherwise. */
  secure: SecureListeners | null;
}

export interface SecureListeners {
  /** "127.0.0.1:port" of each listener. */
  ssl: string;
  saslSsl: string;
  saslPlaintext: string;
  /** SSL listener with ssl.client.auth=required (trusts `caFile` for client certificates). */
  mtls: string;
  /** Client certificate and key (PEM files) signed by `caFile`: accepted by `mtls`. */
  client: { cert: string; key: string };
  /** Client certificate and key signed by `otherCaFile`: refused by `mtls`. */
  otherClient: { cert: string; key: string };
  /** PEM file of the CA that signed the broker's certificate (SAN IP:127.0.0.1, DNS:localhost). */
  caFile: string;
  /** PEM file of another CA, unrelated to the broker (verification must fail with it). */
  otherCaFile: string;
  /** SCRAM user on SASL_SSL (SCRAM-SHA-512 and SCRAM-SHA-256 credentials, same password). */
  scram: { username: string; password: string };
  /** PLAIN user on SASL_PLAINTEXT. */
  plain: { username: string; password: string };
}

export interface KafkaOptions {
  /** num.partitions of auto-created topics (default 1). */
  partitions?: number;
  /** Extra server.properties lines (key → value). */
  properties?: Record<string, string>;
  /** Also open the SSL, SASL_SSL (SCRAM-SHA-512) and SASL_PLAINTEXT (PLAIN) listeners (see above). */
  secure?: boolean;
}

function openssl(dir: string, args: string[]): void {
  const r = spawnSync("openssl", args, { cwd: dir, encoding: "utf8", timeout: 30_000 });
  if (r.error || r.status !== 0)
    throw new Error(
      `openssl ${args.join(" ")} failed (${r.error?.message ?? `status ${r.status}`}): ${r.stderr}. ` +
        "The secured Kafka listeners need openssl (apt-get install openssl).",
    );
}

/**
 * A throwaway CA and a broker certificate it signs (SAN IP:127.0.0.1 and
 * DNS:localhost, what clients verify), plus an unrelated second CA. The
 * broker's keystore is one PEM file: the PKCS#8 key (OpenSSL 3 writes
 * "BEGIN PRIVATE KEY") followed by the certificate chain, which Kafka reads
 * with ssl.keystore.type=PEM (KIP-651).
 */
interface Certs {
  caFile: string;
  otherCaFile: string;
  keystore: string;
  client: { cert: string; key: string };
  otherClient: { cert: string; key: string };
}

function makeCerts(dir: string): Certs {
  const days = ["-days", "2"];
  for (const ca of ["ca", "other-ca"])
    openssl(dir, [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${ca}.key`, "-out", `${ca}.pem`,
      ...days, "-subj", `/CN=nagare test ${ca} ${randomBytes(4).toString("hex")}`,
    ]); // prettier-ignore
  openssl(dir, [
    "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out", "broker.csr", "-subj", "/CN=127.0.0.1",
  ]); // prettier-ignore
  writeFileSync(
    join(dir, "broker.ext"),
    "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
  );
  openssl(dir, [
    "x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
    "-out", "broker.pem", ...days, "-extfile", "broker.ext",
  ]); // prettier-ignore
  // Client certificates for the MTLS listener: one the broker trusts, one
  // from the unrelated CA (the broker must refuse it).
  writeFileSync(
    join(dir, "client.ext"),
    "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n",
  );
  for (const [name, ca] of [
    ["client", "ca"],
    ["other-client", "other-ca"],
  ] as const) {
    openssl(dir, [
      "req", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=nagare ${name}`,
    ]); // prettier-ignore
    openssl(dir, [
      "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial",
      "-out", `${name}.pem`, ...days, "-extfile", "client.ext",
    ]); // prettier-ignore
  }
  const keystore = join(dir, "broker-keystore.pem");
  writeFileSync(
    keystore,
    readFileSync(join(dir, "broker.key"), "utf8") +
      readFileSync(join(dir, "broker.pem"), "utf8") +
      readFileSync(join(dir, "ca.pem"), "utf8"),
  );
  return {
    caFile: join(dir, "ca.pem"),
    otherCaFile: join(dir, "other-ca.pem"),
    keystore,
    client: { cert: join(dir, "client.pem"), key: join(dir, "client.key") },
    otherClient: { cert: join(dir, "other-client.pem"), key: join(dir, "other-client.key") },
  };
}

const START_TIMEOUT_MS = 90_000;

/** The pinned Kafka version (the one .ci/kafka/pom.xml resolves). */
export function kafkaVersion(): string {
  const pom = readFileSync(join(repoRoot(), ".ci", "kafka", "pom.xml"), "utf8");
  const m = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom);
  if (!m?.[1]) throw new Error(".ci/kafka/pom.xml has no <kafka.version>");
  return m[1];
}

/**
 * The directory holding the broker's classpath: $NAGARE_KAFKA_LIB, else the
 * cache .ci/setup.d/20-kafka.sh fills. Throws (loudly, never a skip) when the
 * jars are not there.
 */
export function kafkaLib(): string {
  const version = kafkaVersion();
  const lib = process.env.NAGARE_KAFKA_LIB || join(homedir(), ".cache", "nagare", `kafka-${version}`, "lib");
  const jars = existsSync(lib) ? readdirSync(lib).filter((f) => f.endsWith(".jar")) : [];
  if (!jars.some((f) => f.startsWith("kafka_2.13-")) || !jars.some((f) => f.startsWith("kafka-tools-"))) {
    throw new Error(
      `Apache Kafka ${version} jars not found in ${lib} (NAGARE_KAFKA_LIB=${process.env.NAGARE_KAFKA_LIB ?? "unset"}). ` +
        `Run: bash -euo pipefail -c 'ROOT=$PWD; source .ci/setup.d/20-kafka.sh' from the repository root ` +
        `(resolves them from Maven Central with mvn), or set NAGARE_KAFKA_LIB to a directory holding the broker's jars.`,
    );
  }
  return lib;
}

/** The java binary: $JAVA_HOME/bin/java when set, else java on PATH (Kafka 4.x needs Java >= 17). */
function javaBin(): string {
  const home = process.env.JAVA_HOME;
  if (home && existsSync(join(home, "bin", "java"))) return join(home, "bin", "java");
  return "java";
}

/** The JVM flags of every Kafka process we start: small heap, quick start (C1 only). */
function jvmArgs(dir: string, heap: string): string[] {
  return [
    `-Xmx${heap}`,
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
    `-Dlog4j2.configurationFile=${join(dir, "log4j2.properties")}`,
    `-Dkafka.logs.dir=${dir}`,
    "-cp",
    `${kafkaLib()}/*`,
  ];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function tcpOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

// Brokers still running when the test process exits (a failed assertion, a
// crash) are killed so they never outlive the test run.
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});
// The test runner ends a file that overruns with SIGTERM, where "exit" handlers do not run.
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.once(sig, () => {
    for (const p of live) p.kill("SIGKILL");
    process.exit(sig === "SIGTERM" ? 143 : 130);
  });
}

export async function startKafka(opts: KafkaOptions = {}): Promise<KafkaBroker> {
  kafkaLib(); // fail first, loudly, when the jars are missing
  const dir = mkdtempSync(join(tmpdir(), "nagare-kafka-"));
  const port = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === port) controllerPort = await freePort();
  const bootstrap = `127.0.0.1:${port}`;
  const taken = new Set([port, controllerPort]);
  const another = async (): Promise<number> => {
    let p = await freePort();
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    return p;
  };
  let secure: SecureListeners | null = null;
  const secProps: Record<string, string> = {};
  const scramArgs: string[] = [];
  if (opts.secure) {
    const [sslPort, saslSslPort, saslPlainPort, mtlsPort] = [
      await another(),
      await another(),
      await another(),
      await another(),
    ];
    const certs = makeCerts(dir);
    secure = {
      ssl: `127.0.0.1:${sslPort}`,
      saslSsl: `127.0.0.1:${saslSslPort}`,
      saslPlaintext: `127.0.0.1:${saslPlainPort}`,
      mtls: `127.0.0.1:${mtlsPort}`,
      client: certs.client,
      otherClient: certs.otherClient,
      caFile: certs.caFile,
      otherCaFile: certs.otherCaFile,
      scram: { username: "nagare", password: `scram-${randomBytes(6).toString("hex")}` },
      plain: { username: "nagare-plain", password: `plain-${randomBytes(6).toString("hex")}` },
    };
    const tlsKeys = (l: string): Record<string, string> => ({
      [`listener.name.${l}.ssl.keystore.type`]: "PEM",
      [`listener.name.${l}.ssl.keystore.location`]: certs.keystore,
      [`listener.name.${l}.ssl.client.auth`]: "none",
    });
    Object.assign(secProps, {
      ...tlsKeys("ssl"),
      ...tlsKeys("sasl_ssl"),
      ...tlsKeys("mtls"),
      // Client certificates: required, verified against the per-run CA (a PEM truststore, KIP-651).
      "listener.name.mtls.ssl.client.auth": "required",
      "listener.name.mtls.ssl.truststore.type": "PEM",
      "listener.name.mtls.ssl.truststore.location": certs.caFile,
      "listener.name.sasl_ssl.sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
      "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
      "listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config":
        "org.apache.kafka.common.security.scram.ScramLoginModule required;",
      "listener.name.sasl_plaintext.sasl.enabled.mechanisms": "PLAIN",
      "listener.name.sasl_plaintext.plain.sasl.jaas.config":
        "org.apache.kafka.common.security.plain.PlainLoginModule required " +
        `user_${secure.plain.username}="${secure.plain.password}";`,
    });
    // KRaft keeps SCRAM credentials in the metadata log: created at format time.
    for (const m of ["SCRAM-SHA-512", "SCRAM-SHA-256"])
      scramArgs.push("--add-scram", `${m}=[name=${secure.scram.username},password=${secure.scram.password}]`);
    const extra = [
      `SSL://127.0.0.1:${sslPort}`,
      `SASL_SSL://127.0.0.1:${saslSslPort}`,
      `SASL_PLAINTEXT://127.0.0.1:${saslPlainPort}`,
      `MTLS://127.0.0.1:${mtlsPort}`,
    ].join(",");
    secProps.listeners = `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort},${extra}`;
    secProps["advertised.listeners"] = `PLAINTEXT://127.0.0.1:${port},${extra}`;
    secProps["listener.security.protocol.map"] =
      "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL,SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,MTLS:SSL";
  }
  const props: Record<string, string> = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.quorum.voters": `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    "advertised.listeners": `PLAINTEXT://127.0.0.1:${port}`,
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "log.dirs": join(dir, "data"),
    "num.partitions": String(opts.partitions ?? 1),
    "auto.create.topics.enable": "true",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "3",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.flush.interval.messages": "1", // a SIGKILL must not lose acknowledged writes in tests
    ...secProps,
    ...opts.properties,
  };
  writeFileSync(
    join(dir, "server.properties"),
    Object.entries(props)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
  );
  writeFileSync(
    join(dir, "log4j2.properties"),
    [
      "rootLogger.level=WARN",
      "rootLogger.appenderRef.stdout.ref=STDOUT",
      "appender.stdout.type=Console",
      "appender.stdout.name=STDOUT",
      "appender.stdout.layout.type=PatternLayout",
      "appender.stdout.layout.pattern=[%d] %p %m (%c)%n",
      // the one INFO line we want: the broker saying it is up
      "logger.server.name=kafka.server.KafkaRaftServer",
      "logger.server.level=INFO",
      "",
    ].join("\n"),
  );

  // Kafka's cluster id: 16 random bytes, base64url without padding (what
  // `kafka-storage.sh random-uuid` prints).
  // One starting with "-" (1 in 32) would be read as an option by the tool's
  // argument parser ("--cluster-id: expected one argument"): pass it as
  // --cluster-id=ID.
  const clusterId = randomBytes(16).toString("base64url");
  const fmt = spawnSync(
    javaBin(),
    [
      ...jvmArgs(dir, "256m"),
      "kafka.tools.StorageTool",
      "format",
      `--cluster-id=${clusterId}`,
      ...scramArgs,
      "-c",
      join(dir, "server.properties"),
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  if (fmt.status !== 0) {
    throw new Error(
      `kafka StorageTool format failed (status ${fmt.status}): ${fmt.error?.message ?? ""}\n${fmt.stdout}\n${fmt.stderr}`,
    );
  }

  let proc: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const log = join(dir, "broker.log");

  const launch = async (): Promise<void> => {
    const fd = openSync(log, "a");
    const p = spawn(javaBin(), [...jvmArgs(dir, "512m"), "kafka.Kafka", join(dir, "server.properties")], {
      stdio: ["ignore", fd, fd],
    });
    proc = p;
    live.add(p);
    let gone = false;
    exited = new Promise((resolve) =>
      p.once("exit", () => {
        gone = true;
        live.delete(p);
        resolve();
      }),
    );
    const deadline = Date.now() + START_TIMEOUT_MS;
    // First the port, then a real metadata round trip with a broker listed.
    while (!(await tcpOpen(port))) {
      if (gone)
        throw new Error(`kafka broker exited during start (exit ${p.exitCode}); ${log}:\n${tail(log)}`);
      if (Date.now() > deadline) {
        p.kill("SIGKILL");
        throw new Error(
          `kafka broker did not open ${bootstrap} within ${START_TIMEOUT_MS} ms; ${log}:\n${tail(log)}`,
        );
      }
      await sleep(200);
    }
    for (;;) {
      const admin = new Admin({
        clientId: "nagare-test-harness",
        bootstrapBrokers: [bootstrap],
        retries: 0,
        timeout: 5000,
      });
      try {
        const md = await admin.metadata({ topics: [] });
        if (md.brokers.size > 0) return;
      } catch {
        // not ready yet
      } finally {
        await admin.close().catch(() => undefined);
      }
      if (gone)
        throw new Error(`kafka broker exited during start (exit ${p.exitCode}); ${log}:\n${tail(log)}`);
      if (Date.now() > deadline) {
        p.kill("SIGKILL");
        throw new Error(
          `kafka broker on ${bootstrap} did not answer metadata within ${START_TIMEOUT_MS} ms; ${log}:\n${tail(log)}`,
        );
      }
      await sleep(300);
    }
  };

  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill(signal);
    const timer = setTimeout(() => p.kill("SIGKILL"), 20_000);
    await exited;
    clearTimeout(timer);
  };

  await launch();

  return {
    bootstrap,
    dir,
    secure,
    async stop() {
      await halt("SIGTERM");
      if (!process.env.NAGARE_KEEP_KAFKA_DIR) rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      await halt("SIGKILL");
    },
    async restart() {
      await halt("SIGTERM");
      await launch();
    },
    async createTopic(name: string, partitions: number) {
      const admin = new Admin({
        clientId: "nagare-test-harness",
        bootstrapBrokers: [bootstrap],
        timeout: 10_000,
      });
      try {
        await admin.createTopics({ topics: [name], partitions, replicas: 1 });
        const deadline = Date.now() + 30_000;
        for (;;) {
          const md = await admin.metadata({ topics: [name], forceUpdate: true });
          const t = md.topics.get(name);
          if (t && t.partitionsCount === partitions && t.partitions.every((p) => p.leader >= 0)) return;
          if (Date.now() > deadline) throw new Error(`topic ${name}: partitions without a leader after 30 s`);
          await sleep(200);
        }
      } finally {
        await admin.close().catch(() => undefined);
      }
    },
  };
}

/**
 * Read `max` messages of `topic` from the beginning with Kafka's own console
 * consumer (org.apache.kafka.tools.consumer.ConsoleConsumer from the jars):
 * an independent check of what our producer wrote. One line per message,
 * "key<TAB>value" as printed ("null" for no key): for text formats (pmacct
 * JSON); binary values are read back with the library's Consumer.
 */
export function consoleConsume(bootstrap: string, topic: string, max: number, timeoutMs = 30_000): string[] {
  const dir = mkdtempSync(join(tmpdir(), "nagare-kafka-cc-"));
  try {
    writeFileSync(join(dir, "log4j2.properties"), "rootLogger.level=ERROR\n");
    const r = spawnSync(
      javaBin(),
      [
        ...jvmArgs(dir, "256m"),
        "org.apache.kafka.tools.consumer.ConsoleConsumer",
        "--bootstrap-server",
        bootstrap,
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        String(max),
        "--timeout-ms",
        String(timeoutMs),
        "--formatter-property",
        "print.key=true",
        "--formatter-property",
        "key.separator=\t",
      ],
      { encoding: "utf8", timeout: timeoutMs + 30_000, maxBuffer: 256 * 1024 * 1024 },
    );
    if (r.error) throw r.error;
    return r.stdout.split("\n").filter((l) => l.length > 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
