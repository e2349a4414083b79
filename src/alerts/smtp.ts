// A minimal SMTP client (RFC 5321) for alert email: one connection per
// message, over node:net, upgraded with STARTTLS (RFC 3207) when the relay
// offers it and the config asks for it, AUTH PLAIN or LOGIN (RFC 4954) when a
// user is configured. No dependency: alert mail is one short text message.
//
//   S: 220 greeting
//   C: EHLO name            S: 250-… extensions (STARTTLS, AUTH PLAIN LOGIN, 8BITMIME)
//   [C: STARTTLS            S: 220; TLS handshake; C: EHLO again]
//   [C: AUTH PLAIN b64      S: 235]
//   C: MAIL FROM:<from>     S: 250
//   C: RCPT TO:<to>         S: 250/251
//   C: DATA                 S: 354
//   C: message, dot-stuffed, "\r\n.\r\n"   S: 250
//   C: QUIT                 S: 221
//
// Any reply outside the expected class is an error naming the command and the
// server's reply ("RCPT TO: 550 5.1.1 no such user"), so history shows why.
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { Socket, connect } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { isIP } from "node:net";
import type { SmtpConfig } from "./config.js";

export interface MailMessage {
  to: string;
  subject: string;
  /** Plain text; any line ending is sent as CRLF. */
  text: string;
}

export class SmtpError extends Error {}

/** RFC 5322 date-time: "Fri, 27 Nov 2026 10:25:01 +0000" (UTC). */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const p = (n: number): string => String(n).padStart(2, "0");
  return (
    `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`
  );
}

/** A header value: as is when printable ASCII, else an RFC 2047 encoded-word (UTF-8, base64). */
function headerText(s: string): string {
  const clean = s.replace(/[\r\n]+/g, " ");
  if (/^[\x20-\x7e]*$/.test(clean)) return clean;
  // Encoded-words are at most 75 characters: split the UTF-8 on character boundaries.
  const words: string[] = [];
  let chunk = "";
  for (const ch of clean) {
    if (Buffer.byteLength(chunk + ch) > 45) {
      words.push(chunk);
      chunk = "";
    }
    chunk += ch;
  }
  if (chunk) words.push(chunk);
  return words.map((w) => `=?UTF-8?B?${Buffer.from(w).toString("base64")}?=`).join("\r\n ");
}

/**
 * The message as sent after DATA: RFC 5322 headers, the body with CRLF line
 * endings, dot-stuffed (RFC 5321 4.5.2: a line starting with "." gets one
 * more, so a lone "." in the text cannot end the message), and the final
 * "<CRLF>.<CRLF>".
 */
export function buildMessage(
  from: string,
  m: MailMessage,
  nowMs: number,
  eightBit: boolean,
): { data: string; transfer: "7bit" | "8bit" | "base64" } {
  const domain = from.slice(from.lastIndexOf("@") + 1) || "localhost";
  const ascii = !/[^\t\n\r\x20-\x7e]/.test(m.text);
  const transfer = ascii ? "7bit" : eightBit ? "8bit" : "base64";
  let body = m.text.replace(/\r\n|\r|\n/g, "\r\n");
  if (transfer === "base64")
    body = (
      Buffer.from(body)
        .toString("base64")
        .match(/.{1,76}/g) ?? []
    ).join("\r\n");
  // SMTP lines are at most 1000 octets with the CRLF (RFC 5321 4.5.3.1.6): fold longer ones.
  body = body
    .split("\r\n")
    .flatMap((line) => (line.length <= 990 ? [line] : (line.match(/.{1,990}/gu) ?? [])))
    .map((line) => (line.startsWith(".") ? "." + line : line))
    .join("\r\n");
  const headers = [
    `From: ${from}`,
    `To: ${m.to}`,
    `Subject: ${headerText(m.subject)}`,
    `Date: ${rfc5322Date(nowMs)}`,
    `Message-ID: <${nowMs}.${randomBytes(8).toString("hex")}@${domain}>`,
    "MIME-Version: 1.0",
    "Content-Type: text/plain; charset=utf-8",
    `Content-Transfer-Encoding: ${transfer}`,
    "X-Mailer: nagare",
  ];
  return { data: headers.join("\r\n") + "\r\n\r\n" + body + "\r\n.\r\n", transfer };
}

/** Reads multi-line replies ("250-…" continued, "250 …" last) off a socket. */
class ReplyReader {
  private buf = "";
  private lines: string[] = [];
  private waiting: {
    resolve: (r: { code: number; lines: string[] }) => void;
    reject: (e: Error) => void;
  } | null = null;
  private failed: Error | null = null;
  private socket: Socket | TLSSocket;

  constructor(socket: Socket | TLSSocket) {
    this.socket = socket;
    this.attach(socket);
  }

  attach(socket: Socket | TLSSocket): void {
    this.socket = socket;
    this.buf = "";
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => this.feed(d));
    socket.on("error", (e) => this.fail(new SmtpError(`connection: ${e.message}`)));
    socket.on("close", () => this.fail(new SmtpError("connection closed by the server")));
  }

  fail(e: Error): void {
    this.failed ??= e;
    const w = this.waiting;
    this.waiting = null;
    w?.reject(e);
  }

  private feed(d: string): void {
    this.buf += d;
    if (this.buf.length > 64 * 1024) return this.fail(new SmtpError("reply too long"));
    let i: number;
    while ((i = this.buf.indexOf("\n")) >= 0) {
      const line = this.buf.slice(0, i).replace(/\r$/, "");
      this.buf = this.buf.slice(i + 1);
      this.lines.push(line);
      if (/^\d{3}(?: |$)/.test(line)) {
        const code = Number(line.slice(0, 3));
        const lines = this.lines.map((l) => l.slice(4));
        this.lines = [];
        const w = this.waiting;
        this.waiting = null;
        if (w) w.resolve({ code, lines });
        else this.fail(new SmtpError(`unexpected reply: ${line}`));
      } else if (!/^\d{3}-/.test(line)) {
        return this.fail(new SmtpError(`malformed reply: ${line.slice(0, 100)}`));
      }
    }
  }

  next(): Promise<{ code: number; lines: string[] }> {
    if (this.failed) return Promise.reject(this.failed);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** Send `line` (nothing for the greeting) and wait for a reply whose code is in `ok`. */
  async command(line: string | null, ok: number[], what = line ?? "greeting"): Promise<string[]> {
    const p = this.next();
    if (line !== null) this.socket.write(line + "\r\n");
    const r = await p;
    if (!ok.includes(r.code)) throw new SmtpError(`${what}: ${r.code} ${r.lines.join(" ")}`.slice(0, 500));
    return r.lines;
  }
}

function isLoopbackHost(h: string): boolean {
  return h === "localhost" || h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
}

/**
 * Send one message through the relay in `cfg`. Resolves when the relay
 * accepted it (250 after the data); rejects with SmtpError otherwise, or
 * after timeoutMs for the whole transaction.
 */
export async function sendMail(
  cfg: SmtpConfig,
  m: MailMessage,
  timeoutMs: number,
  nowMs = Date.now(),
): Promise<void> {
  if (!cfg.host) throw new SmtpError("no SMTP relay configured (alerts.smtp.host)");
  let socket: Socket | TLSSocket = connect({ host: cfg.host, port: cfg.port });
  const reader = new ReplyReader(socket);
  let onTimeout: (() => void) | null = null;
  const timer = setTimeout(() => {
    reader.fail(new SmtpError(`timed out after ${timeoutMs} ms`));
    onTimeout?.();
    socket.destroy();
  }, timeoutMs);
  try {
    await reader.command(null, [220]);
    const helo = cfg.heloName || hostname() || "localhost";
    let ext = await reader.command(`EHLO ${helo}`, [250], "EHLO");
    let tls = false;
    if (cfg.starttls && ext.some((l) => /^STARTTLS\b/i.test(l))) {
      await reader.command("STARTTLS", [220]);
      const plain = socket;
      plain.removeAllListeners("data");
      plain.removeAllListeners("close");
      plain.removeAllListeners("error");
      plain.on("error", () => {});
      socket = tlsConnect({
        socket: plain,
        servername: isIP(cfg.host) ? undefined : cfg.host,
        rejectUnauthorized: cfg.tlsVerify,
      });
      // The time-out destroys the socket without an error: "close" must end the wait too.
      await new Promise<void>((resolve, reject) => {
        socket.once("secureConnect", () => resolve());
        socket.once("error", (e) => reject(new SmtpError(`STARTTLS handshake: ${e.message}`)));
        socket.once("close", () => reject(new SmtpError("STARTTLS handshake: connection closed")));
        onTimeout = () => reject(new SmtpError(`timed out after ${timeoutMs} ms`));
      });
      onTimeout = null;
      reader.attach(socket);
      tls = true;
      ext = await reader.command(`EHLO ${helo}`, [250], "EHLO after STARTTLS");
    }
    if (cfg.user) {
      // Never a password in clear text over the network; loopback relays are the exception.
      if (!tls && !isLoopbackHost(cfg.host))
        throw new SmtpError(
          "refusing AUTH without TLS (the relay offered no STARTTLS, or alerts.smtp.starttls is off)",
        );
      const auth =
        ext
          .find((l) => /^AUTH\b/i.test(l))
          ?.toUpperCase()
          .split(/\s+/) ?? [];
      if (auth.includes("PLAIN")) {
        const tok = Buffer.from(`\0${cfg.user}\0${cfg.password}`).toString("base64");
        await reader.command(`AUTH PLAIN ${tok}`, [235], "AUTH PLAIN");
      } else if (auth.includes("LOGIN")) {
        await reader.command("AUTH LOGIN", [334]);
        await reader.command(Buffer.from(cfg.user).toString("base64"), [334], "AUTH LOGIN user");
        await reader.command(Buffer.from(cfg.password).toString("base64"), [235], "AUTH LOGIN password");
      } else {
        throw new SmtpError("the relay offers neither AUTH PLAIN nor AUTH LOGIN");
      }
    }
    const eightBit = ext.some((l) => /^8BITMIME\b/i.test(l));
    const msg = buildMessage(cfg.from, m, nowMs, eightBit);
    await reader.command(
      `MAIL FROM:<${cfg.from}>${msg.transfer === "8bit" ? " BODY=8BITMIME" : ""}`,
      [250],
      "MAIL FROM",
    );
    await reader.command(`RCPT TO:<${m.to}>`, [250, 251], "RCPT TO");
    await reader.command("DATA", [354]);
    await reader.command(msg.data.slice(0, -2), [250], "end of DATA");
    // The message is accepted; QUIT is politeness, its failure changes nothing.
    await reader.command("QUIT", [221]).catch(() => {});
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}
