// Where notifications go, and what they look like there:
//
//   webhook  POST JSON (AlertPayload below) to the URL; any 2xx is delivered
//   slack    POST {"text", "blocks"} (Slack incoming-webhook shape; Mattermost,
//            Rocket.Chat and Teams' Slack-compatible endpoints take it too)
//   email    one text/plain message through the SMTP relay (smtp.ts)
//   syslog   one RFC 5424 message over UDP (RFC 5426: one message per datagram)
//            or TCP (RFC 6587 octet counting: "LEN SP MSG")
//
// Every send is one attempt bounded by timeoutMs; retries are delivery.ts's job.
import { createSocket } from "node:dgram";
import { connect, isIP } from "node:net";
import { hostname } from "node:os";
import type { AlertRule, AlertStateName, AnomalyEvent, Attack, Destination } from "../detect/types.js";
import type { AlertsConfig } from "./config.js";
import { parseSyslogTarget } from "./config.js";
import { sendMail } from "./smtp.js";

/** The result of a query rule's evaluation, as notifications show it. */
export interface QueryOutcome {
  queryId: string;
  queryName: string;
  measure: "value" | "rows";
  column: string | null;
  op: string;
  threshold: number;
  /** The measured number (null when unknown). */
  value: number | null;
  rows: number | null;
}

/** What a notification says; the webhook body is exactly this. */
export interface AlertPayload {
  version: 1;
  rule: { id: string; name: string; source: AlertRule["source"] };
  state: AlertStateName | "test";
  previousState: AlertStateName | null;
  atMs: number;
  at: string;
  summary: string;
  attack?: Attack;
  anomaly?: AnomalyEvent;
  result?: QueryOutcome;
  error?: string;
}

export class DeliveryError extends Error {}

const STATE_WORD: Record<AlertPayload["state"], string> = {
  triggered: "TRIGGERED",
  ok: "OK",
  unknown: "UNKNOWN",
  test: "TEST",
};

/** "[TRIGGERED] rule name: summary" */
export function headline(p: AlertPayload): string {
  return `[${STATE_WORD[p.state]}] ${p.rule.name}: ${p.summary}`;
}

export function slackBody(p: AlertPayload): { text: string; blocks: unknown[] } {
  const icon = {
    triggered: ":rotating_light:",
    ok: ":white_check_mark:",
    unknown: ":grey_question:",
    test: ":bell:",
  }[p.state];
  // Slack mrkdwn: &, < and > must be escaped in text.
  const esc = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const fields: string[] = [`*State:* ${STATE_WORD[p.state]}`, `*At:* ${p.at}`];
  if (p.attack)
    fields.push(
      `*Target:* ${esc(p.attack.target.prefix)}`,
      `*Vectors:* ${esc(p.attack.fingerprint.vectors.join(", ") || "-")}`,
    );
  if (p.anomaly)
    fields.push(
      `*Series:* ${esc(p.anomaly.series)} ${esc(p.anomaly.key)}`,
      `*Peak score:* ${p.anomaly.peakScore}`,
    );
  if (p.result)
    fields.push(
      `*Value:* ${p.result.value ?? "-"}`,
      `*Threshold:* ${esc(p.result.op)} ${p.result.threshold}`,
    );
  return {
    text: `${icon} ${esc(headline(p))}`,
    blocks: [
      { type: "section", text: { type: "mrkdwn", text: `${icon} *${esc(p.rule.name)}*\n${esc(p.summary)}` } },
      { type: "section", fields: fields.map((t) => ({ type: "mrkdwn", text: t })) },
    ],
  };
}

export function emailText(p: AlertPayload): { subject: string; text: string } {
  const lines = [headline(p), "", `Rule:  ${p.rule.name} (${p.rule.id})`, `State: ${p.state}`];
  if (p.previousState) lines.push(`Was:   ${p.previousState}`);
  lines.push(`At:    ${p.at}`, "", p.summary);
  if (p.error) lines.push("", `Error: ${p.error}`);
  if (p.attack) {
    const a = p.attack;
    lines.push(
      "",
      `Attack ${a.id} on ${a.target.prefix}: ${a.fingerprint.vectors.join(", ")}`,
      `Peak: ${Math.round(a.peak.bps)} bps, ${Math.round(a.peak.pps)} pps`,
      `Reason: ${a.reason}`,
      "",
      "Flowspec:",
      a.mitigation.flowspec,
      "",
      "RTBH:",
      a.mitigation.rtbh,
    );
  }
  if (p.anomaly) {
    const e = p.anomaly;
    lines.push("", `Anomaly ${e.id}: ${e.kind} on ${e.series} ${e.key}, peak score ${e.peakScore}`);
  }
  if (p.result) {
    const r = p.result;
    lines.push(
      "",
      `Query: ${r.queryName} (${r.queryId})`,
      `${r.measure === "rows" ? "Rows" : `Column ${r.column ?? "(first)"}`}: ${r.value ?? "-"} ${r.op} ${r.threshold}`,
    );
  }
  return { subject: headline(p).slice(0, 200), text: lines.join("\n") + "\n" };
}

// ---- syslog (RFC 5424) ----

/** Severity per state: critical when triggered, warning when unknown, notice when ok, informational for a test. */
const SEVERITY: Record<AlertPayload["state"], number> = { triggered: 2, unknown: 4, ok: 5, test: 6 };

/** SD-PARAM value escaping (RFC 5424 6.3.3): ", \ and ] are escaped with a backslash. */
function sdValue(s: string): string {
  return s.replace(/[\\"\]]/g, (c) => "\\" + c);
}

/**
 *   SYSLOG-MSG = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP SD [SP MSG]
 *   PRI = "<" facility*8+severity ">"           (RFC 5424 6.2)
 * TIMESTAMP is UTC with milliseconds; MSGID is the state; SD carries rule id
 * and state under the documentation enterprise number 32473 (RFC 5612).
 */
export function syslogLine(p: AlertPayload, facility: number, host: string, pid = process.pid): string {
  const pri = facility * 8 + SEVERITY[p.state];
  const h = (host || "-").replace(/[^\x21-\x7e]/g, "").slice(0, 255) || "-";
  const sd = `[nagare@32473 rule="${sdValue(p.rule.id)}" state="${p.state}"]`;
  const msg = headline(p).replace(/[\r\n]+/g, " ");
  return `<${pri}>1 ${new Date(p.atMs).toISOString()} ${h} nagare ${pid} ${p.state} ${sd} ${msg}`;
}

/** UDP payloads above this are cut (RFC 5426 3.2: receivers should take 2048 octets). */
const UDP_MAX = 2048;

function sendSyslog(target: string, line: string, timeoutMs: number): Promise<void> {
  const t = parseSyslogTarget(target);
  if (typeof t === "string") return Promise.reject(new DeliveryError(`syslog target ${target}: ${t}`));
  let data = Buffer.from(line);
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => {
      finish(new DeliveryError(`syslog ${target}: timed out after ${timeoutMs} ms`));
      cleanup();
    }, timeoutMs);
    let cleanup = (): void => {};
    if (t.proto === "udp") {
      if (data.length > UDP_MAX) data = data.subarray(0, UDP_MAX);
      const sock = createSocket(isIP(t.host) === 6 ? "udp6" : "udp4");
      cleanup = () => sock.close();
      sock.on("error", (e) => {
        finish(new DeliveryError(`syslog ${target}: ${e.message}`));
        cleanup();
      });
      sock.send(data, t.port, t.host, (err) => {
        finish(err ? new DeliveryError(`syslog ${target}: ${err.message}`) : undefined);
        try {
          sock.close();
        } catch {
          // closed by the error handler already
        }
      });
    } else {
      // RFC 6587 3.4.1 octet counting: the length in decimal, a space, the message.
      const sock = connect({ host: t.host, port: t.port });
      cleanup = () => sock.destroy();
      sock.on("error", (e) => finish(new DeliveryError(`syslog ${target}: ${e.message}`)));
      sock.on("connect", () => {
        sock.end(Buffer.concat([Buffer.from(`${data.length} `), data]), () => {
          finish();
          sock.destroy();
        });
      });
    }
  });
}

async function postJson(url: string, body: unknown, timeoutMs: number): Promise<void> {
  let r: Response;
  try {
    r = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "User-Agent": "nagare-alerts" },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      redirect: "manual",
    });
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const why =
      e.name === "TimeoutError"
        ? `timed out after ${timeoutMs} ms`
        : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new DeliveryError(`POST ${url}: ${why}`);
  }
  // Drain the body so the connection can be reused; a few KB at most matter.
  const text = await r.text().catch(() => "");
  if (r.status < 200 || r.status > 299)
    throw new DeliveryError(`POST ${url}: HTTP ${r.status} ${text.slice(0, 200)}`);
}

/** One delivery attempt of `p` to `d`. Rejects with the reason on failure. */
export async function deliver(d: Destination, p: AlertPayload, cfg: AlertsConfig): Promise<void> {
  switch (d.kind) {
    case "webhook":
      return postJson(d.target, p, cfg.timeoutMs);
    case "slack":
      return postJson(d.target, slackBody(p), cfg.timeoutMs);
    case "email": {
      const m = emailText(p);
      return sendMail(cfg.smtp, { to: d.target, subject: m.subject, text: m.text }, cfg.timeoutMs, p.atMs);
    }
    case "syslog": {
      const target = d.target || cfg.syslog.target;
      if (!target) throw new DeliveryError("no syslog target (alerts.syslog.target)");
      const line = syslogLine(p, cfg.syslog.facility, cfg.syslog.hostname || hostname());
      return sendSyslog(target, line, cfg.timeoutMs);
    }
  }
}
