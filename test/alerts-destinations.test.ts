// Alert destinations against real receivers the test starts on loopback: an
// HTTP server (webhook JSON, Slack-compatible body), an SMTP server
// (test/helpers/smtp-server.ts: EHLO, STARTTLS with a certificate made by the
// real openssl, AUTH PLAIN/LOGIN, dot-stuffing, injected 4xx/5xx replies) and
// syslog listeners over UDP and TCP (RFC 5424 parsed, RFC 6587 framing).
// Delivery: retries with backoff recorded per attempt; a dead (closed port)
// or hanging destination never holds up another one.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { defaultAlertsConfig, validateAlertsConfig, type AlertsConfig } from "../src/alerts/config.js";
import { Delivery } from "../src/alerts/delivery.js";
import { deliver, syslogLine, type AlertPayload } from "../src/alerts/destinations.js";
import { buildMessage, sendMail } from "../src/alerts/smtp.js";
import { ConfigError, validateConfig } from "../src/config/schema.js";
import type { Destination, NotificationRecord } from "../src/detect/types.js";
import { HttpReceiver, TcpSyslog, UdpSyslog, parse5424, until } from "./helpers/alert-receivers.js";
import { TestSmtpServer } from "./helpers/smtp-server.js";

const dir = mkdtempSync(join(tmpdir(), "nagare-alert-dest-"));
const http = new HttpReceiver();
const udp = new UdpSyslog();
const tcp = new TcpSyslog();
let tlsKey = "";
let tlsCert = "";

before(async () => {
  await http.start();
  await udp.start();
  await tcp.start();
  // A self-signed certificate from the real openssl (fails loudly if it is missing).
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "cert.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
    ],
    { stdio: "pipe" },
  );
  tlsKey = readFileSync(join(dir, "key.pem"), "utf8");
  tlsCert = readFileSync(join(dir, "cert.pem"), "utf8");
});

after(async () => {
  await http.stop();
  udp.stop();
  await tcp.stop();
  rmSync(dir, { recursive: true, force: true });
});

function cfg(over: Partial<AlertsConfig> = {}): AlertsConfig {
  return { ...defaultAlertsConfig(), timeoutMs: 2000, ...over };
}

const AT = Date.UTC(2026, 10, 27, 10, 30, 5, 123);

function payload(over: Partial<AlertPayload> = {}): AlertPayload {
  return {
    version: 1,
    rule: {
      id: "r1",
      name: "Big query",
      source: { kind: "query", queryId: "q1", op: ">", value: 1000, measure: "value", intervalSec: 60 },
    },
    state: "triggered",
    previousState: "ok",
    atMs: AT,
    at: new Date(AT).toISOString(),
    summary: "flows = 3979 > 1000",
    result: {
      queryId: "q1",
      queryName: "Flows",
      measure: "value",
      column: "flows",
      op: ">",
      threshold: 1000,
      value: 3979,
      rows: null,
    },
    ...over,
  };
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const a = s.address();
  const port = a && typeof a === "object" ? a.port : 0;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test("webhook: POSTs the payload as JSON; Slack: {text, blocks}", async () => {
  const c = cfg();
  await deliver({ kind: "webhook", target: http.url("/hook") }, payload(), c);
  const hit = http.on("/hook")[0]!;
  assert.equal(hit.method, "POST");
  assert.match(hit.contentType, /^application\/json/);
  const body = JSON.parse(hit.body) as AlertPayload;
  assert.equal(body.rule.id, "r1");
  assert.equal(body.state, "triggered");
  assert.equal(body.previousState, "ok");
  assert.equal(body.result?.value, 3979);
  assert.equal(body.at, "2026-11-27T10:30:05.123Z");

  await deliver({ kind: "slack", target: http.url("/slack") }, payload({ summary: "a <b> & c" }), c);
  const s = JSON.parse(http.on("/slack")[0]!.body) as { text: string; blocks: { type: string }[] };
  assert.equal(typeof s.text, "string");
  // Slack mrkdwn escaping of <, > and &.
  assert.match(s.text, /\[TRIGGERED\] Big query: a &lt;b&gt; &amp; c/);
  assert.ok(Array.isArray(s.blocks) && s.blocks.length >= 1);
  assert.equal(s.blocks[0]!.type, "section");

  await assert.rejects(deliver({ kind: "webhook", target: http.url("/fail") }, payload(), c), /HTTP 500/);
});

test("syslog: RFC 5424 over UDP and over TCP with octet counting", async () => {
  const c = cfg({ syslog: { target: "", facility: 16, hostname: "collector-1" } });
  await deliver({ kind: "syslog", target: udp.target }, payload(), c);
  await deliver(
    { kind: "syslog", target: tcp.target },
    payload({ state: "ok", summary: 'back "to" ok ]' }),
    c,
  );
  await deliver({ kind: "syslog", target: tcp.target }, payload({ state: "unknown" }), c);
  await until(() => udp.lines.length >= 1 && tcp.lines.length >= 2, "syslog messages");
  const u = parse5424(udp.lines[0]!);
  assert.equal(u.facility, 16);
  assert.equal(u.severity, 2); // triggered → critical
  assert.equal(u.version, 1);
  assert.equal(u.timestamp, "2026-11-27T10:30:05.123Z");
  assert.equal(u.hostname, "collector-1");
  assert.equal(u.appName, "nagare");
  assert.equal(u.procId, String(process.pid));
  assert.equal(u.msgId, "triggered");
  assert.equal(u.sd, '[nagare@32473 rule="r1" state="triggered"]');
  assert.equal(u.msg, "[TRIGGERED] Big query: flows = 3979 > 1000");
  const t = parse5424(tcp.lines[0]!);
  assert.equal(t.severity, 5); // ok → notice
  assert.equal(t.msg, '[OK] Big query: back "to" ok ]');
  assert.equal(parse5424(tcp.lines[1]!).severity, 4);
  assert.equal(tcp.badFrames, 0);
  // A syslog destination with target "" uses alerts.syslog.target.
  await deliver({ kind: "syslog", target: "" }, payload(), {
    ...c,
    syslog: { ...c.syslog, target: udp.target },
  });
  await until(() => udp.lines.length >= 2, "default-target syslog");
  // The SD-PARAM escaping of ", \ and ].
  const line = syslogLine(payload({ rule: { ...payload().rule, id: 'a"b]\\' } }), 1, "h");
  assert.match(line, /rule="a\\"b\\]\\\\"/);
  assert.equal(parse5424(line).facility, 1);
});

test("email: headers, dot-stuffing, 8BITMIME; the server's copy matches the text", async () => {
  const smtp = new TestSmtpServer();
  await smtp.start();
  try {
    const c = cfg({
      smtp: {
        ...defaultAlertsConfig().smtp,
        host: "127.0.0.1",
        port: smtp.port,
        from: "nagare@example.net",
        heloName: "nagare.test",
      },
    });
    const text = "line one\n.starts with a dot\n.\n..two dots\nΔ non-ASCII ≥\nlast";
    await sendMail(c.smtp, { to: "ops@example.org", subject: "Ünïcode subject ≥ 1", text }, 2000, AT);
    assert.equal(smtp.messages.length, 1);
    const m = smtp.messages[0]!;
    assert.equal(m.helo, "nagare.test");
    assert.equal(m.from, "nagare@example.net");
    assert.deepEqual(m.to, ["ops@example.org"]);
    // Dot-stuffing on the wire: every line starting with "." got one more.
    assert.ok(m.rawLines.includes("..starts with a dot"));
    assert.ok(m.rawLines.includes(".."));
    assert.ok(m.rawLines.includes("...two dots"));
    // … and the received text is the original.
    assert.equal(m.body, text.replace(/\n/g, "\r\n"));
    assert.equal(m.headers.get("from"), "nagare@example.net");
    assert.equal(m.headers.get("to"), "ops@example.org");
    assert.equal(m.headers.get("date"), "Fri, 27 Nov 2026 10:30:05 +0000");
    assert.match(m.headers.get("message-id")!, /^<\d+\.[0-9a-f]{16}@example\.net>$/);
    assert.equal(m.headers.get("mime-version"), "1.0");
    assert.equal(m.headers.get("content-type"), "text/plain; charset=utf-8");
    assert.equal(m.headers.get("content-transfer-encoding"), "8bit");
    // RFC 2047 encoded-words decode back to the subject.
    const subj = m.headers
      .get("subject")!
      .split(/\s+/)
      .map((w) => Buffer.from(/^=\?UTF-8\?B\?(.*)\?=$/.exec(w)![1]!, "base64").toString())
      .join("");
    assert.equal(subj, "Ünïcode subject ≥ 1");
    assert.ok(smtp.commands.some((l) => l === "MAIL FROM:<nagare@example.net> BODY=8BITMIME"));
    assert.equal(smtp.commands.at(-1), "QUIT");

    // Without 8BITMIME a non-ASCII body goes as base64 (never raw 8-bit to a 7-bit server).
    const b = buildMessage("a@b.c", { to: "x@y.z", subject: "s", text: "é\n.x" }, AT, false);
    assert.equal(b.transfer, "base64");
    const ascii = buildMessage("a@b.c", { to: "x@y.z", subject: "s", text: "plain\n.x" }, AT, false);
    assert.equal(ascii.transfer, "7bit");
    assert.ok(ascii.data.endsWith("\r\nplain\r\n..x\r\n.\r\n"));
  } finally {
    await smtp.stop();
  }
});

test("email: STARTTLS (openssl certificate) then AUTH PLAIN; AUTH LOGIN; bad password is an error", async () => {
  const smtp = new TestSmtpServer({
    tls: { key: tlsKey, cert: tlsCert },
    auth: { user: "alert", password: "s3cret pass" },
  });
  await smtp.start();
  try {
    const base = {
      ...defaultAlertsConfig().smtp,
      host: "127.0.0.1",
      port: smtp.port,
      from: "nagare@example.net",
      user: "alert",
      password: "s3cret pass",
      starttls: true,
      // Self-signed test certificate.
      tlsVerify: false,
    };
    await sendMail(base, { to: "a@example.org", subject: "tls", text: "over tls" }, 3000, AT);
    assert.equal(smtp.messages.length, 1);
    assert.equal(smtp.messages[0]!.tls, true);
    assert.equal(smtp.messages[0]!.authUser, "alert");
    assert.ok(smtp.commands.includes("STARTTLS"));
    assert.ok(smtp.commands.some((l) => l.startsWith("AUTH PLAIN ")));

    // Verification on: the self-signed certificate is refused.
    await assert.rejects(
      sendMail({ ...base, tlsVerify: true }, { to: "a@example.org", subject: "x", text: "x" }, 3000, AT),
      /STARTTLS handshake|self.signed|certificate/i,
    );
    // A relay that stalls the TLS handshake: the attempt ends at the time-out.
    const stall = new TestSmtpServer({ tls: { key: tlsKey, cert: tlsCert }, stallTls: true });
    await stall.start();
    try {
      const t0 = Date.now();
      await assert.rejects(
        sendMail({ ...base, port: stall.port }, { to: "a@example.org", subject: "x", text: "x" }, 300, AT),
        /timed out after 300 ms/,
      );
      assert.ok(Date.now() - t0 < 1500);
    } finally {
      await stall.stop();
    }
    // STARTTLS off on loopback: AUTH goes in clear (allowed on loopback only); wrong password → 535.
    await assert.rejects(
      sendMail(
        { ...base, starttls: false, password: "wrong" },
        { to: "a@example.org", subject: "x", text: "x" },
        3000,
        AT,
      ),
      /AUTH PLAIN: 535/,
    );
  } finally {
    await smtp.stop();
  }
  const login = new TestSmtpServer({ auth: { user: "u2", password: "p2" }, authMechanisms: ["LOGIN"] });
  await login.start();
  try {
    await sendMail(
      {
        ...defaultAlertsConfig().smtp,
        host: "127.0.0.1",
        port: login.port,
        from: "n@e.net",
        user: "u2",
        password: "p2",
      },
      { to: "b@example.org", subject: "login", text: "x" },
      3000,
      AT,
    );
    assert.equal(login.messages[0]!.authUser, "u2");
    assert.ok(login.commands.includes("AUTH LOGIN"));
    assert.ok(login.commands.includes(Buffer.from("u2").toString("base64")));
  } finally {
    await login.stop();
  }
});

test("delivery: an SMTP 4xx is retried with backoff and succeeds; a 5xx every time ends failed with each attempt's error", async () => {
  const smtp = new TestSmtpServer();
  await smtp.start();
  const records: NotificationRecord[] = [];
  const c = cfg({
    smtp: { ...defaultAlertsConfig().smtp, host: "127.0.0.1", port: smtp.port, from: "nagare@example.net" },
    retry: { attempts: 3, initialDelayMs: 50, maxDelayMs: 200 },
  });
  const d = new Delivery({ config: c, record: (r) => records.push(r), now: Date.now });
  try {
    const email: Destination = { kind: "email", target: "ops@example.org" };
    smtp.failures.push({ at: "RCPT", code: 451, text: "4.3.0 try again later" });
    const t0 = Date.now();
    d.enqueue(email, payload());
    await until(() => records.length === 1, "first record");
    assert.equal(records[0]!.outcome, "sent");
    assert.equal(records[0]!.attempts, 2);
    assert.deepEqual(records[0]!.attemptErrors, ["RCPT TO: 451 4.3.0 try again later"]);
    assert.ok(Date.now() - t0 >= 50, "waited the backoff");
    assert.equal(smtp.messages.length, 1);
    assert.ok(smtp.rejected >= 1);

    smtp.failures.push(
      { at: "DATA", code: 554, text: "5.7.1 rejected" },
      { at: "EOD", code: 552, text: "5.3.4 too big" },
      { at: "MAIL", code: 550, text: "5.7.1 no" },
    );
    d.enqueue(email, payload());
    await until(() => records.length === 2, "second record");
    const r = records[1]!;
    assert.equal(r.outcome, "failed");
    assert.equal(r.attempts, 3);
    assert.deepEqual(r.attemptErrors, [
      "MAIL FROM: 550 5.7.1 no",
      "DATA: 554 5.7.1 rejected",
      "end of DATA: 552 5.3.4 too big",
    ]);
    assert.equal(r.error, "end of DATA: 552 5.3.4 too big");
    assert.equal(smtp.messages.length, 1);
    assert.equal(d.backoff(1), 50);
    assert.equal(d.backoff(2), 100);
    assert.equal(d.backoff(5), 200);
  } finally {
    await d.stop();
    await smtp.stop();
  }
});

test("delivery: a dead port and a hanging server are retried and recorded while a healthy destination gets its notification at once", async () => {
  const dead = await freePort();
  const hangSmtp = new TestSmtpServer({ hang: true });
  await hangSmtp.start();
  const records: NotificationRecord[] = [];
  const c = cfg({
    timeoutMs: 800,
    retry: { attempts: 3, initialDelayMs: 20, maxDelayMs: 40 },
    queueMax: 2,
    smtp: { ...defaultAlertsConfig().smtp, host: "127.0.0.1", port: hangSmtp.port, from: "n@example.net" },
  });
  const d = new Delivery({ config: c, record: (r) => records.push(r), now: Date.now });
  try {
    const before = http.on("/ok").length;
    const t0 = Date.now();
    d.enqueue({ kind: "webhook", target: `http://127.0.0.1:${dead}/x` }, payload());
    d.enqueue({ kind: "webhook", target: http.url("/hang") }, payload());
    d.enqueue({ kind: "email", target: "x@example.org" }, payload());
    d.enqueue({ kind: "syslog", target: `tcp://127.0.0.1:${dead}` }, payload());
    d.enqueue({ kind: "webhook", target: http.url("/ok") }, payload());
    assert.ok(Date.now() - t0 < 50, "enqueue returns at once");
    await until(() => http.on("/ok").length > before, "healthy webhook", 2000);
    const okDelay = http.on("/ok").at(-1)!.atMs - t0;
    assert.ok(okDelay < 500, `healthy destination served in ${okDelay} ms, before the hanging one timed out`);
    // Three attempts each: 3 × 800 ms time-outs + backoff for the hanging ones.
    await until(() => records.length === 5, "all outcomes", 8000);
    const by = (target: string): NotificationRecord => records.find((r) => r.destination.target === target)!;
    assert.equal(by(http.url("/ok")).outcome, "sent");
    for (const t of [
      `http://127.0.0.1:${dead}/x`,
      http.url("/hang"),
      "x@example.org",
      `tcp://127.0.0.1:${dead}`,
    ]) {
      const r = by(t);
      assert.equal(r.outcome, "failed", t);
      assert.equal(r.attempts, 3, t);
      assert.equal(r.attemptErrors?.length, 3, t);
    }
    assert.match(by(`http://127.0.0.1:${dead}/x`).error!, /ECONNREFUSED/);
    assert.match(by(http.url("/hang")).error!, /timed out after 800 ms/);
    assert.match(by("x@example.org").error!, /timed out after 800 ms/);
    assert.match(by(`tcp://127.0.0.1:${dead}`).error!, /ECONNREFUSED/);
    assert.equal(http.on("/hang").length, 3);
    assert.equal(hangSmtp.connections, 3);

    // Bounded queue: with queueMax 2 waiting, the 3rd and 4th are refused at once.
    const hang = { kind: "webhook", target: http.url("/hang2") } as const;
    for (let i = 0; i < 4; i++) d.enqueue(hang, payload());
    const full = records.filter((r) => r.destination.target === hang.target);
    assert.equal(full.length, 2);
    assert.ok(full.every((r) => r.outcome === "failed" && /queue full/.test(r.error!)));
    // Let the first one start its attempt before stopping.
    await until(() => http.on("/hang2").length === 1, "first /hang2 attempt");
  } finally {
    await d.stop();
    await hangSmtp.stop();
  }
  // stop() ended the waiting ones: recorded failed, nothing left pending.
  assert.equal(d.pending, 0);
  const hang2 = records.filter((r) => r.destination.target === http.url("/hang2"));
  assert.equal(hang2.length, 4);
  assert.equal(hang2.filter((r) => r.attemptErrors?.includes("alerts stopped")).length, 2);
});

test("config: alerts section defaults, validation naming the key, wired into the main config", () => {
  const c = validateConfig({
    alerts: { smtp: { host: "mail.example.net", port: 587 }, retry: { attempts: 2 } },
  });
  assert.equal(c.alerts.smtp.port, 587);
  assert.equal(c.alerts.retry.attempts, 2);
  assert.equal(c.alerts.retry.initialDelayMs, defaultAlertsConfig().retry.initialDelayMs);
  const bad = (raw: unknown, key: string): void => {
    assert.throws(
      () => validateConfig({ alerts: raw }),
      (e: unknown) => e instanceof ConfigError && e.key === key,
      key,
    );
  };
  bad({ smtp: { port: 0 } }, "alerts.smtp.port");
  bad({ smtp: { from: "not an address" } }, "alerts.smtp.from");
  bad({ smtp: { hots: "x" } }, "alerts.smtp.hots");
  bad({ syslog: { target: "http://x:1" } }, "alerts.syslog.target");
  bad({ syslog: { facility: 24 } }, "alerts.syslog.facility");
  bad({ retry: { attempts: 0 } }, "alerts.retry.attempts");
  bad({ retry: { initialDelayMs: 500, maxDelayMs: 100 } }, "alerts.retry.maxDelayMs");
  bad({ timeoutMs: "10s" }, "alerts.timeoutMs");
  bad({ nope: 1 }, "alerts.nope");
  assert.equal(
    validateAlertsConfig({ syslog: { target: "tcp://[::1]:514" } }).syslog.target,
    "tcp://[::1]:514",
  );
});
