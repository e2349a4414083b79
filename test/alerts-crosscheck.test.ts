// Cross-checks against independent implementations, so our test receivers and
// our senders are not only checked against each other:
// - util-linux `logger` (RFC 5424 over UDP, and TCP with RFC 6587 octet
//   counting) is parsed by the test's syslog listeners;
// - Python's standard-library SMTP server (smtpd) receives a message from our
//   SMTP client, and Python's email parser reads its headers: Date
//   (RFC 5322), the RFC 2047 Subject, Message-ID, and the dot-stuffed body.
// Both tools are required: a missing one fails the test.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { defaultAlertsConfig } from "../src/alerts/config.js";
import { sendMail } from "../src/alerts/smtp.js";
import { TcpSyslog, UdpSyslog, parse5424, until } from "./helpers/alert-receivers.js";

test("the syslog listeners parse util-linux logger's RFC 5424 over UDP and octet-counted TCP", async () => {
  const udp = new UdpSyslog();
  const tcp = new TcpSyslog();
  await udp.start();
  await tcp.start();
  try {
    const common = [
      "--rfc5424",
      "-n",
      "127.0.0.1",
      "-t",
      "nagare",
      "--msgid",
      "triggered",
      "-p",
      "local0.crit",
    ];
    execFileSync("logger", [...common, "-d", "-P", String(udp.port), "[TRIGGERED] rule: over udp"]);
    execFileSync("logger", [...common, "-T", "--octet-count", "-P", String(tcp.port), "[OK] rule: over tcp"]);
    await until(() => udp.lines.length === 1 && tcp.lines.length === 1, "logger messages");
    const u = parse5424(udp.lines[0]!);
    assert.equal(u.facility, 16);
    assert.equal(u.severity, 2);
    assert.equal(u.version, 1);
    assert.equal(u.appName, "nagare");
    assert.equal(u.msgId, "triggered");
    assert.match(u.timestamp, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}/);
    assert.equal(u.msg, "[TRIGGERED] rule: over udp");
    const t = parse5424(tcp.lines[0]!);
    assert.equal(t.msg, "[OK] rule: over tcp");
    assert.equal(tcp.badFrames, 0);
  } finally {
    udp.stop();
    await tcp.stop();
  }
});

// Python's smtpd (stdlib up to 3.11) prints one JSON line per message, parsed with the email package.
const PY = String.raw`
import asyncore, email, email.header, email.utils, json, sys, warnings
warnings.simplefilter("ignore")
import smtpd
class S(smtpd.SMTPServer):
    def process_message(self, peer, mailfrom, rcpttos, data, **kw):
        m = email.message_from_bytes(data) if isinstance(data, bytes) else email.message_from_string(data)
        subj = str(email.header.make_header(email.header.decode_header(m["Subject"])))
        print(json.dumps({"from": mailfrom, "to": rcpttos, "subject": subj,
            "date": email.utils.parsedate_to_datetime(m["Date"]).isoformat(),
            "messageId": m["Message-ID"], "contentType": m.get_content_type(),
            "charset": m.get_content_charset(),
            "body": m.get_payload(decode=True).decode(m.get_content_charset())}), flush=True)
# decode_data=False advertises 8BITMIME, True does not (a 7-bit relay).
s = S(("127.0.0.1", 0), None, decode_data=sys.argv[1] == "7bit", enable_SMTPUTF8=False)
print(json.dumps({"port": s.socket.getsockname()[1]}), flush=True)
asyncore.loop()
`;

test("our SMTP client delivers to Python's smtpd; Python's email parser reads the headers and body", async () => {
  for (const mode of ["8bit", "7bit"] as const) await viaPython(mode);
});

async function viaPython(mode: "8bit" | "7bit"): Promise<void> {
  const py = spawn("python3", ["-c", PY, mode], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  py.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const lines: string[] = [];
  createInterface({ input: py.stdout }).on("line", (l) => lines.push(l));
  try {
    await until(() => lines.length >= 1, `python smtpd to start (${stderr})`, 10_000);
    const { port } = JSON.parse(lines[0]!) as { port: number };
    const cfg = { ...defaultAlertsConfig().smtp, host: "127.0.0.1", port, from: "nagare@example.net" };
    const text = "Attack on 203.0.113.7/32\n.\n.leading dot\n≥ 1 Gbps";
    const at = Date.UTC(2026, 10, 27, 10, 30, 5);
    await sendMail(cfg, { to: "noc@example.org", subject: "[TRIGGERED] Größe ≥ 1 Gbps", text }, 5000, at);
    await until(() => lines.length >= 2, `python smtpd to receive (${stderr})`, 5000);
    const m = JSON.parse(lines[1]!) as Record<string, unknown>;
    assert.equal(m.from, "nagare@example.net");
    assert.deepEqual(m.to, ["noc@example.org"]);
    assert.equal(m.subject, "[TRIGGERED] Größe ≥ 1 Gbps");
    assert.equal(m.date, "2026-11-27T10:30:05+00:00");
    assert.match(String(m.messageId), /^<\d+\.[0-9a-f]{16}@example\.net>$/);
    assert.equal(m.contentType, "text/plain");
    assert.equal(m.charset, "utf-8");
    // 8bit: smtpd unstuffs the dot-stuffed lines and joins them with "\n", giving the
    // original text back. 7bit: no 8BITMIME, so the body went as base64 and decodes to
    // the CRLF text.
    assert.equal(m.body, mode === "8bit" ? text : text.replace(/\n/g, "\r\n"));
  } finally {
    py.kill();
  }
}
