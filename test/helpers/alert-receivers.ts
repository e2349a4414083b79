// Real receivers for alert notifications, on loopback: an HTTP server
// (webhook / Slack-compatible POSTs) and syslog listeners over UDP (one
// message per datagram, RFC 5426) and TCP (octet-counted frames, RFC 6587),
// with an RFC 5424 parser for what they receive.
import { createSocket, type Socket as UdpSocket } from "node:dgram";
import { createServer as createHttp, type Server as HttpServer, type ServerResponse } from "node:http";
import { createServer as createTcp, type Server as TcpServer, type Socket } from "node:net";

export interface HttpHit {
  path: string;
  method: string;
  contentType: string;
  body: string;
  atMs: number;
}

/**
 * Records every request. Per path: "/fail…" answers 500, "/hang…" never
 * answers, anything else 200.
 */
export class HttpReceiver {
  readonly hits: HttpHit[] = [];
  private server: HttpServer | null = null;
  private readonly hanging = new Set<ServerResponse>();
  port = 0;

  async start(): Promise<void> {
    const s = createHttp((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        this.hits.push({
          path,
          method: req.method ?? "",
          contentType: req.headers["content-type"] ?? "",
          body: Buffer.concat(parts).toString("utf8"),
          atMs: Date.now(),
        });
        if (path.startsWith("/hang")) {
          this.hanging.add(res);
          return;
        }
        res.writeHead(path.startsWith("/fail") ? 500 : 200, { "Content-Type": "text/plain" });
        res.end(path.startsWith("/fail") ? "broken" : "ok");
      });
    });
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const a = s.address();
    this.port = a && typeof a === "object" ? a.port : 0;
    this.server = s;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  on(path: string): HttpHit[] {
    return this.hits.filter((h) => h.path === path);
  }

  async stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export interface SyslogMessage {
  pri: number;
  facility: number;
  severity: number;
  version: number;
  timestamp: string;
  hostname: string;
  appName: string;
  procId: string;
  msgId: string;
  sd: string;
  msg: string;
}

/**
 * RFC 5424 6: SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]
 *   HEADER = PRI VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID
 * Throws on anything that is not one.
 */
export function parse5424(line: string): SyslogMessage {
  const m =
    /^<(\d{1,3})>(\d{1,2}) (\S+) (\S+) (\S+) (\S+) (\S+) (-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (.*))?$/s.exec(
      line,
    );
  if (!m) throw new Error(`not RFC 5424: ${line.slice(0, 200)}`);
  const pri = Number(m[1]);
  if (pri > 191) throw new Error(`PRI ${pri} > 191`);
  return {
    pri,
    facility: pri >> 3,
    severity: pri & 7,
    version: Number(m[2]),
    timestamp: m[3]!,
    hostname: m[4]!,
    appName: m[5]!,
    procId: m[6]!,
    msgId: m[7]!,
    sd: m[8]!,
    msg: m[9] ?? "",
  };
}

export class UdpSyslog {
  readonly lines: string[] = [];
  private sock: UdpSocket | null = null;
  port = 0;

  async start(): Promise<void> {
    const s = createSocket("udp4");
    s.on("message", (b) => this.lines.push(b.toString("utf8")));
    await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
    this.port = s.address().port;
    this.sock = s;
  }

  get target(): string {
    return `udp://127.0.0.1:${this.port}`;
  }

  stop(): void {
    this.sock?.close();
    this.sock = null;
  }
}

/** Octet-counted frames (RFC 6587 3.4.1): MSG-LEN SP SYSLOG-MSG. */
export class TcpSyslog {
  readonly lines: string[] = [];
  /** Frames whose length prefix did not match (must stay 0). */
  badFrames = 0;
  private server: TcpServer | null = null;
  private readonly sockets = new Set<Socket>();
  port = 0;

  async start(): Promise<void> {
    const s = createTcp((c) => {
      this.sockets.add(c);
      c.on("close", () => this.sockets.delete(c));
      let buf = Buffer.alloc(0);
      c.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        for (;;) {
          const sp = buf.indexOf(0x20);
          if (sp < 0) return;
          const lenText = buf.subarray(0, sp).toString("latin1");
          if (!/^[1-9]\d{0,8}$/.test(lenText)) {
            this.badFrames++;
            c.destroy();
            return;
          }
          const len = Number(lenText);
          if (buf.length < sp + 1 + len) return;
          this.lines.push(buf.subarray(sp + 1, sp + 1 + len).toString("utf8"));
          buf = buf.subarray(sp + 1 + len);
        }
      });
      c.on("end", () => {
        if (buf.length > 0) this.badFrames++;
      });
    });
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    const a = s.address();
    this.port = a && typeof a === "object" ? a.port : 0;
    this.server = s;
  }

  get target(): string {
    return `tcp://127.0.0.1:${this.port}`;
  }

  async stop(): Promise<void> {
    for (const c of this.sockets) c.destroy();
    const s = this.server;
    this.server = null;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/** Poll `cond` every 10 ms until true; throws after timeoutMs naming `what`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
