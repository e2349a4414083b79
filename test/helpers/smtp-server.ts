// A small SMTP server (RFC 5321) for tests, on loopback: it speaks the
// protocol (EHLO/HELO, STARTTLS (RFC 3207) when given a key and certificate,
// AUTH PLAIN and LOGIN (RFC 4954), MAIL, RCPT, DATA with dot-unstuffing, RSET,
// NOOP, QUIT) and records every accepted message: the envelope, the raw DATA
// lines as they came over the wire (to check dot-stuffing), the unstuffed
// text, the parsed headers, and whether TLS and AUTH were used.
//
// Failures on demand: failures.push({ at: "RCPT", code: 451, text: "try later" })
// makes the next RCPT (or MAIL / DATA / EOD = end of data) answer that
// reply instead, once per entry.
import { createServer, type Server, type Socket } from "node:net";
import { TLSSocket } from "node:tls";

export interface ReceivedMail {
  from: string;
  to: string[];
  /** The DATA lines as received, before dot-unstuffing (without CRLF). */
  rawLines: string[];
  /** The message after dot-unstuffing, CRLF line endings. */
  data: string;
  headers: Map<string, string>;
  body: string;
  tls: boolean;
  authUser: string | null;
  helo: string;
}

export interface SmtpServerOptions {
  /** Offer STARTTLS with this key and certificate (PEM). */
  tls?: { key: string; cert: string };
  /** Offer AUTH PLAIN LOGIN and accept only this user and password. */
  auth?: { user: string; password: string };
  /** AUTH mechanisms advertised (default PLAIN and LOGIN). */
  authMechanisms?: ("PLAIN" | "LOGIN")[];
  /** Advertise 8BITMIME (default true). */
  eightBitMime?: boolean;
  /** Never answer anything (a hanging server). */
  hang?: boolean;
  /** Answer STARTTLS with 220, then never take part in the TLS handshake. */
  stallTls?: boolean;
}

export interface Failure {
  at: "MAIL" | "RCPT" | "DATA" | "EOD";
  code: number;
  text?: string;
}

export class TestSmtpServer {
  readonly messages: ReceivedMail[] = [];
  readonly failures: Failure[] = [];
  /** Every command line received (AUTH payloads included), for assertions. */
  readonly commands: string[] = [];
  /** Replies with a 4xx/5xx code sent. */
  rejected = 0;
  connections = 0;
  port = 0;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private waiters: { n: number; resolve: () => void }[] = [];

  constructor(readonly opts: SmtpServerOptions = {}) {}

  async start(): Promise<void> {
    const server = createServer((s) => this.session(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const a = server.address();
    this.port = a && typeof a === "object" ? a.port : 0;
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** Resolves once `n` messages in total were accepted (rejects after timeoutMs). */
  waitFor(n: number, timeoutMs = 5000): Promise<void> {
    if (this.messages.length >= n) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`smtp: ${this.messages.length} of ${n} messages after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.waiters.push({
        n,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      });
    });
  }

  private session(plain: Socket): void {
    this.connections++;
    this.sockets.add(plain);
    plain.on("close", () => this.sockets.delete(plain));
    plain.on("error", () => {});
    if (this.opts.hang) return;
    let sock: Socket = plain;
    let tls = false;
    let buf = "";
    let helo = "";
    let authUser: string | null = null;
    let from: string | null = null;
    let to: string[] = [];
    let data: string[] | null = null;
    /** AUTH LOGIN in progress: what the next line is. */
    let login: "user" | "password" | null = null;
    let loginUser = "";

    const reply = (code: number, ...lines: string[]): void => {
      if (code >= 400) this.rejected++;
      const out = lines.length ? lines : [""];
      sock.write(out.map((l, i) => `${code}${i < out.length - 1 ? "-" : " "}${l}\r\n`).join(""));
    };
    const failure = (at: Failure["at"]): boolean => {
      const i = this.failures.findIndex((f) => f.at === at);
      if (i < 0) return false;
      const f = this.failures.splice(i, 1)[0]!;
      reply(f.code, f.text ?? "injected failure");
      return true;
    };
    const reset = (): void => {
      from = null;
      to = [];
      data = null;
    };

    const onLine = (line: string): void => {
      if (data) {
        if (line === ".") {
          const raw = data;
          data = null;
          if (failure("EOD")) return reset();
          const unstuffed = raw.map((l) => (l.startsWith(".") ? l.slice(1) : l));
          const text = unstuffed.join("\r\n");
          const split = text.indexOf("\r\n\r\n");
          const headers = new Map<string, string>();
          // Unfold (a line starting with white space continues the previous header).
          const headText = (split < 0 ? text : text.slice(0, split)).replace(/\r\n[ \t]/g, " ");
          for (const h of headText.split("\r\n")) {
            const c = h.indexOf(":");
            if (c > 0) headers.set(h.slice(0, c).toLowerCase(), h.slice(c + 1).trim());
          }
          this.messages.push({
            from: from ?? "",
            to,
            rawLines: raw,
            data: text,
            headers,
            body: split < 0 ? "" : text.slice(split + 4),
            tls,
            authUser,
            helo,
          });
          reset();
          reply(250, "2.0.0 queued");
          this.waiters = this.waiters.filter((w) => {
            if (this.messages.length >= w.n) w.resolve();
            return this.messages.length < w.n;
          });
        } else {
          data.push(line);
        }
        return;
      }
      this.commands.push(line);
      if (login) {
        const v = Buffer.from(line, "base64").toString();
        if (login === "user") {
          loginUser = v;
          login = "password";
          return reply(334, Buffer.from("Password:").toString("base64"));
        }
        login = null;
        const a = this.opts.auth;
        if (a && loginUser === a.user && v === a.password) {
          authUser = loginUser;
          return reply(235, "2.7.0 authenticated");
        }
        return reply(535, "5.7.8 bad credentials");
      }
      const verb = line.split(" ")[0]!.toUpperCase();
      const arg = line.slice(verb.length).trim();
      switch (verb) {
        case "EHLO":
        case "HELO": {
          helo = arg;
          reset();
          const ext = ["test.smtp greets you"];
          if (this.opts.eightBitMime !== false) ext.push("8BITMIME");
          if (this.opts.tls && !tls) ext.push("STARTTLS");
          if (this.opts.auth) ext.push(`AUTH ${(this.opts.authMechanisms ?? ["PLAIN", "LOGIN"]).join(" ")}`);
          ext.push("SIZE 10485760");
          return verb === "HELO" ? reply(250, ext[0]!) : reply(250, ...ext);
        }
        case "STARTTLS": {
          if (!this.opts.tls || tls) return reply(502, "5.5.1 not available");
          reply(220, "2.0.0 ready for TLS");
          sock.removeListener("data", onData);
          if (this.opts.stallTls) return;
          const secure = new TLSSocket(sock, {
            isServer: true,
            key: this.opts.tls.key,
            cert: this.opts.tls.cert,
          });
          secure.on("error", () => {});
          secure.setEncoding("utf8");
          secure.on("data", onData);
          sock = secure;
          tls = true;
          buf = "";
          helo = "";
          authUser = null;
          return;
        }
        case "AUTH": {
          const a = this.opts.auth;
          if (!a) return reply(502, "5.5.1 no AUTH here");
          const [mech, initial] = arg.split(" ");
          const offered = this.opts.authMechanisms ?? ["PLAIN", "LOGIN"];
          if (!offered.includes(mech?.toUpperCase() as "PLAIN"))
            return reply(504, "5.5.4 mechanism not offered");
          if (mech?.toUpperCase() === "PLAIN") {
            const parts = Buffer.from(initial ?? "", "base64")
              .toString()
              .split("\0");
            if (parts[1] === a.user && parts[2] === a.password) {
              authUser = parts[1];
              return reply(235, "2.7.0 authenticated");
            }
            return reply(535, "5.7.8 bad credentials");
          }
          if (mech?.toUpperCase() === "LOGIN") {
            login = "user";
            return reply(334, Buffer.from("Username:").toString("base64"));
          }
          return reply(504, "5.5.4 mechanism not supported");
        }
        case "MAIL": {
          if (this.opts.auth && !authUser) return reply(530, "5.7.0 authentication required");
          if (failure("MAIL")) return;
          const m = /^FROM:<([^>]*)>/i.exec(arg);
          if (!m) return reply(501, "5.5.4 syntax: MAIL FROM:<address>");
          from = m[1]!;
          to = [];
          return reply(250, "2.1.0 ok");
        }
        case "RCPT": {
          if (from === null) return reply(503, "5.5.1 MAIL first");
          if (failure("RCPT")) return;
          const m = /^TO:<([^>]+)>/i.exec(arg);
          if (!m) return reply(501, "5.5.4 syntax: RCPT TO:<address>");
          to.push(m[1]!);
          return reply(250, "2.1.5 ok");
        }
        case "DATA":
          if (to.length === 0) return reply(503, "5.5.1 RCPT first");
          if (failure("DATA")) return;
          data = [];
          return reply(354, "end with <CRLF>.<CRLF>");
        case "RSET":
          reset();
          return reply(250, "2.0.0 ok");
        case "NOOP":
          return reply(250, "2.0.0 ok");
        case "QUIT":
          reply(221, "2.0.0 bye");
          sock.end();
          return;
        default:
          return reply(500, "5.5.2 unknown command");
      }
    };
    const onData = (d: string): void => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf("\r\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        onLine(line);
      }
    };
    plain.setEncoding("utf8");
    plain.on("data", onData);
    reply(220, "test.smtp ESMTP ready");
  }
}
