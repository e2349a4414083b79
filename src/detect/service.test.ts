// DetectService around the detector: hooks (a real script and a real HTTP
// receiver), failures counted without blocking detection, persistence of
// ended attacks across a restart, and the mitigation text.
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { defaultDetectConfig, validateDetectConfig } from "./config.js";
import { emptyFingerprint } from "./ddos.js";
import { AttackHooks } from "./hooks.js";
import { mitigationText } from "./mitigation.js";
import { DetectService } from "./service.js";
import { simDetectConfig, simulate } from "./sim.js";
import { DetectEvents, type Attack } from "./types.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-detect-svc-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const START = Date.UTC(2026, 0, 5, 12);

function attackRun(hooks: Record<string, unknown> = {}): ReturnType<typeof simulate> {
  return simulate({
    config: simDetectConfig({ hooks }),
    startMs: START,
    seconds: 50,
    rate: 100,
    attacks: [{ kind: "ntp", startMs: START + 30_000, durationMs: 4000, rate: 120 }],
  });
}

test("hooks: the script gets the attack JSON on stdin, the webhook a POST, on start and end", async () => {
  const out = join(dir, "hook-out");
  const script = join(dir, "hook.sh");
  writeFileSync(script, `#!/bin/sh\ncat > "${out}.$1.json"\n`);
  chmodSync(script, 0o755);
  const posts: { event: string; attack: Attack }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      assert.equal(req.headers["content-type"], "application/json");
      posts.push(JSON.parse(body) as { event: string; attack: Attack });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  try {
    const r = attackRun({ script, webhook: url });
    await r.service.hooks.drain();
    const s = r.service.hooks.stats;
    assert.equal(s.failures, 0);
    assert.equal(s.ok, 4, JSON.stringify(s));
    const started = JSON.parse(readFileSync(`${out}.start.json`, "utf8")) as {
      event: string;
      attack: Attack;
    };
    const ended = JSON.parse(readFileSync(`${out}.end.json`, "utf8")) as { event: string; attack: Attack };
    assert.equal(started.event, "attack_started");
    assert.equal(started.attack.target.prefix, "100.64.0.1/32");
    assert.equal(ended.event, "attack_ended");
    assert.equal(ended.attack.state, "ended");
    assert.deepEqual(posts.map((p) => p.event).sort(), ["attack_ended", "attack_started"]);
    assert.equal(posts[0]!.attack.fingerprint.vectors[0], "ntp_amplification");
  } finally {
    await new Promise((r) => server.close(r));
  }
});

test("hooks: failing script, hanging script and refused webhook are counted, detection goes on", async () => {
  const bad = join(dir, "bad.sh");
  writeFileSync(bad, "#!/bin/sh\necho broken >&2\nexit 3\n");
  chmodSync(bad, 0o755);
  const r = attackRun({ script: bad, webhook: "http://127.0.0.1:9/refused", timeoutMs: 500 });
  // Detection was not held up: the attack is there (and ended) in the same synchronous run.
  assert.equal(r.service.attacks("ended").length, 1);
  await r.service.hooks.drain();
  assert.equal(r.service.hooks.stats.failures, 4);
  assert.equal(r.service.hooks.stats.ok, 0);

  const slow = join(dir, "slow.sh");
  writeFileSync(slow, "#!/bin/sh\nsleep 30\n");
  chmodSync(slow, 0o755);
  const h = new AttackHooks({ ...defaultDetectConfig().hooks, script: slow, timeoutMs: 300 });
  const t0 = Date.now();
  h.fire("start", { id: "x" } as Attack);
  await h.drain();
  assert.ok(Date.now() - t0 < 3000, "killed at the timeout");
  assert.equal(h.stats.timeouts, 1);
  assert.equal(h.stats.failures, 1);
});

test("ended attacks persist to attacks.jsonl and are read back by a new service", async () => {
  const dataDir = join(dir, "persist");
  const cfg = simDetectConfig();
  let now = START;
  const svc = new DetectService({
    config: cfg,
    events: new DetectEvents(),
    dataDir,
    timer: false,
    now: () => now,
  });
  await svc.start();
  const r = simulate({
    config: cfg,
    startMs: START,
    seconds: 50,
    rate: 100,
    service: svc,
    attacks: [{ kind: "memcached", startMs: START + 30_000, durationMs: 4000, rate: 120 }],
  });
  now = START + 60_000;
  assert.equal(r.service, svc);
  const ended = svc.attacks("ended");
  assert.equal(ended.length, 1);
  await svc.stop();
  const again = new DetectService({ config: cfg, events: new DetectEvents(), dataDir, timer: false });
  await again.start();
  const back = again.attacks();
  assert.equal(back.length, 1);
  assert.equal(back[0]!.id, ended[0]!.id);
  assert.deepEqual(back[0], ended[0]);
  assert.ok(again.series(back[0]!.id)!.points.length > 60);
  await again.stop();
});

test("mitigation: Flowspec (ExaBGP syntax) and RTBH with the BLACKHOLE community", () => {
  const fp = {
    ...emptyFingerprint(),
    vectors: ["ntp_amplification" as const],
    protocols: [17],
    packetSize: 468,
  };
  const m = mitigationText("203.0.113.7/32", fp);
  assert.equal(
    m.flowspec,
    [
      "flow route {",
      "    match {",
      "        destination 203.0.113.7/32;",
      "        protocol =udp;",
      "        source-port =123;",
      "        packet-length >=230;",
      "    }",
      "    then {",
      "        discard;",
      "    }",
      "}",
    ].join("\n"),
  );
  assert.equal(m.rtbh, "announce route 203.0.113.7/32 next-hop self community [ 65535:666 no-export ]");
  const syn = mitigationText("2001:db8::1/128", {
    ...emptyFingerprint(),
    vectors: ["syn_flood"],
    protocols: [6],
  });
  assert.match(
    syn.flowspec,
    /destination 2001:db8::1\/128;\n\s+next-header =tcp;\n\s+tcp-flags \[ syn \]; tcp-flags \[ !ack \];/,
  );
  const frag = mitigationText("198.51.100.0/24", {
    ...emptyFingerprint(),
    vectors: ["udp_flood", "fragment"],
    protocols: [17],
    fragmentShare: 0.9,
  });
  assert.match(frag.flowspec, /fragment \[ is-fragment \];/);
});

test("detect.enabled false: the service counts nothing", () => {
  const cfg = validateDetectConfig({ enabled: false });
  const r = simulate({
    config: cfg,
    startMs: START,
    seconds: 20,
    rate: 100,
    attacks: [{ kind: "udp", startMs: START + 10_000, durationMs: 4000, rate: 500 }],
  });
  assert.equal(r.service.detector.flows, 0);
  assert.equal(r.events.length, 0);
});

test("routes: list, one, series, status, 404/400/405, and the SSE stream of attack events", async () => {
  const { DetectRoutes } = await import("./routes.js");
  const events = new DetectEvents();
  let now = START;
  const svc = new DetectService({
    config: simDetectConfig(),
    events,
    dataDir: null,
    timer: false,
    now: () => now,
  });
  const routes = new DetectRoutes(svc);
  const server = createServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    if (!routes.handles(url.pathname)) {
      res.statusCode = 404;
      res.end("{}");
      return;
    }
    void routes.handle({ user: "t", role: "viewer" } as never, req.method!, url, req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    // An SSE client connected before the attack.
    const ctl = new AbortController();
    const stream = await fetch(`${base}/api/v1/attacks/stream`, { signal: ctl.signal });
    assert.equal(stream.headers.get("content-type"), "text/event-stream; charset=utf-8");
    const reader = stream.body!.getReader();
    simulate({
      config: svc.config,
      startMs: START,
      seconds: 50,
      rate: 100,
      service: svc,
      attacks: [{ kind: "dns", startMs: START + 30_000, durationMs: 4000, rate: 120 }],
    });
    now = START + 60_000;
    let text = "";
    while (!text.includes("attack_ended")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    ctl.abort();
    const types = [...text.matchAll(/^data: (.*)$/gm)].map(
      (m) => (JSON.parse(m[1]!) as { type: string }).type,
    );
    assert.equal(types[0], "attack_started");
    assert.equal(types.at(-1), "attack_ended");
    assert.ok(text.includes("event: attack\n"));

    const list = (await (await fetch(`${base}/api/v1/attacks?state=ended&limit=5`)).json()) as Attack[];
    assert.equal(list.length, 1);
    const one = (await (await fetch(`${base}/api/v1/attacks/${list[0]!.id}`)).json()) as Attack;
    assert.equal(one.target.prefix, "100.64.0.1/32");
    const series = (await (await fetch(`${base}/api/v1/attacks/${one.id}/series`)).json()) as {
      points: { t: number }[];
    };
    assert.equal(series.points[0]!.t, one.startMs - 60_000);
    const status = (await (await fetch(`${base}/api/v1/detect/status`)).json()) as {
      counters: { hosts: number; maxHosts: number };
      attacksStarted: number;
    };
    assert.equal(status.attacksStarted, 1);
    assert.ok(status.counters.hosts > 0 && status.counters.maxHosts === svc.config.maxHosts);
    assert.equal((await fetch(`${base}/api/v1/attacks/zzz`)).status, 404);
    assert.equal((await fetch(`${base}/api/v1/attacks?limit=0`)).status, 400);
    assert.equal((await fetch(`${base}/api/v1/attacks`, { method: "POST" })).status, 405);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
