// The BMP station (RFC 7854 §3.2): routers open a TCP session to us and
// stream their RIBs; we never send anything. One router per TCP session,
// identified by the session's source address.
import type { AddressInfo, Server, Socket } from "node:net";
import { DecodeError } from "../../collector/errors.js";
import type { Logger } from "../../log.js";
import type { SourceState } from "../types.js";
import { parseUpdate } from "./bgp.js";
import {
  BMP_INITIATION,
  BMP_PEER_DOWN,
  BMP_PEER_UP,
  BMP_ROUTE_MONITORING,
  BMP_STATISTICS,
  BMP_TERMINATION,
  bmpMessageLength,
  parseBmpMessage,
  type PeerHeader,
} from "./bmp.js";
import { addPathFamilies } from "./bgp.js";
import type { BmpConfig } from "./config.js";
import { listenTcp } from "./listen.js";
import { canonicalAddress, type PeerEntry, type RouterEntry, type RoutingTables } from "./tables.js";

interface PeerSession {
  /** RFC 7911 families whose NLRI carry path ids, from the Peer Up OPENs. */
  addPath: Set<string>;
}

export class BmpStation {
  private readonly cfg: BmpConfig;
  private readonly tables: RoutingTables;
  private readonly log: Logger;
  private server: Server | null = null;
  private readonly sockets = new Map<string, Socket>();
  /** Per router, per peer (group key): what its Peer Up said. */
  private readonly sessions = new WeakMap<RouterEntry, Map<string, PeerSession>>();
  private listening = false;
  private listenError: string | null = null;
  /** Errors not tied to one router (refused connections). */
  private errors = 0;
  private lastError: string | null = null;

  constructor(cfg: BmpConfig, tables: RoutingTables, log: Logger) {
    this.cfg = cfg;
    this.tables = tables;
    this.log = log;
  }

  async start(): Promise<void> {
    const r = await listenTcp(
      "bmp",
      this.cfg.listen,
      (s) => this.accept(s),
      (msg) => {
        this.errors++;
        this.lastError = msg;
      },
      this.log,
    );
    this.server = r.server;
    this.listenError = r.error;
    this.listening = r.error === null;
    if (this.listening) this.log.info("bmp: listening", { listen: this.cfg.listen, port: this.port() });
  }

  port(): number {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a?.port ?? 0;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets.values()) s.destroy();
    this.sockets.clear();
    for (const r of this.tables.all()) if (r.kind === "bmp" && r.removalTimer) clearTimeout(r.removalTimer);
    const server = this.server;
    this.server = null;
    this.listening = false;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(sock: Socket): void {
    sock.on("error", () => {}); // counted below once the router is known; never unhandled
    const address = canonicalAddress(sock.remoteAddress ?? "");
    if (this.sockets.size >= this.cfg.maxRouters && !this.sockets.has(address)) {
      this.errors++;
      this.lastError = `router ${address} refused: ${this.cfg.maxRouters} routers connected (bmp.maxRouters)`;
      this.log.limited("bmp-refused", "warn", "bmp: router refused", { router: address });
      sock.destroy();
      return;
    }
    // A router reconnecting while its old session is still open: the new one wins.
    this.sockets.get(address)?.destroy();
    this.sockets.set(address, sock);
    const router = this.tables.add("bmp", address);
    // A grace timer still running is left alone: peers the new session does
    // not bring back up are still stale when it fires, and go then.
    router.connected = true;
    this.log.info("bmp: router connected", { router: address });
    let buf: Uint8Array = new Uint8Array(0);
    sock.on("data", (chunk: Buffer) => {
      if (this.sockets.get(address) !== sock) return;
      const data = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (buf.length === 0) buf = data;
      else {
        const b = new Uint8Array(buf.length + data.length);
        b.set(buf);
        b.set(data, buf.length);
        buf = b;
      }
      let off = 0;
      try {
        for (;;) {
          const len = bmpMessageLength(buf, off, buf.length);
          if (len === 0 || off + len > buf.length) break;
          this.handle(router, buf.subarray(off, off + len));
          off += len;
        }
      } catch (e) {
        // Framing is lost (bad version or length): the stream cannot be resynchronised.
        router.error(`closed: ${(e as Error).message}`);
        this.log.limited(`bmp-frame-${address}`, "warn", "bmp: bad framing, closing", {
          router: address,
          error: (e as Error).message,
        });
        sock.destroy();
        return;
      }
      // Keep only the unparsed tail (copied, so the big chunk can be freed).
      buf = off === buf.length ? new Uint8Array(0) : buf.slice(off);
    });
    sock.on("error", (e) => router.error(`socket: ${e.message}`));
    sock.on("close", () => {
      if (this.sockets.get(address) !== sock) return;
      this.sockets.delete(address);
      this.closed(router);
    });
  }

  /** The router's session ended: drop its routes now, or after keepMs. */
  private closed(router: RouterEntry): void {
    router.connected = false;
    this.log.info("bmp: router disconnected", { router: router.address, keepMs: this.cfg.keepMs });
    if (this.cfg.keepMs === 0) {
      this.tables.remove(router);
      return;
    }
    for (const p of router.peers.values()) {
      p.stale = true;
      p.up = false;
    }
    router.lastError = `session closed; routes kept ${Math.round(this.cfg.keepMs / 1000)} s`;
    if (router.removalTimer) clearTimeout(router.removalTimer);
    router.removalTimer = setTimeout(() => {
      router.removalTimer = null;
      for (const p of [...router.peers.values()]) if (p.stale) router.dropPeer(p);
      if (!router.connected && router.peers.size === 0) this.tables.remove(router);
    }, this.cfg.keepMs);
    router.removalTimer.unref();
  }

  /** The peer (RFC 7854 §4.2: type, distinguisher, address identify it). */
  private peerGroup(h: PeerHeader): string {
    return `${h.type}|${h.distinguisher}|${h.address}`;
  }

  /** Pre- and post-policy views of one peer are separate route sets (both may be sent). */
  private peerEntry(router: RouterEntry, h: PeerHeader, postPolicy = h.postPolicy): PeerEntry {
    const group = this.peerGroup(h);
    return router.peer(`${group}|${postPolicy ? "post" : "pre"}`, h.address, h.asn, group);
  }

  private session(router: RouterEntry): Map<string, PeerSession> {
    let m = this.sessions.get(router);
    if (!m) this.sessions.set(router, (m = new Map()));
    return m;
  }

  private wanted(h: PeerHeader): boolean {
    if (this.cfg.policy === "any") return true;
    if (h.type === 3) return false; // Loc-RIB is neither pre- nor post-policy Adj-RIB-In
    return this.cfg.policy === "post" ? h.postPolicy : !h.postPolicy;
  }

  /** One whole BMP message: parse, apply; malformed content is counted on the router. */
  handle(router: RouterEntry, msg: Uint8Array): void {
    router.messages++;
    let m;
    try {
      m = parseBmpMessage(msg);
    } catch (e) {
      this.malformed(router, e);
      return;
    }
    switch (m.type) {
      case BMP_INITIATION:
        if ("sysName" in m) router.sysName = m.sysName;
        break;
      case BMP_TERMINATION:
        break;
      case BMP_PEER_UP: {
        if (!("sentOpen" in m)) break;
        // The previous session's routes (both views) are resent in full after Peer Up.
        for (const post of [false, true]) {
          const old = router.peers.get(`${this.peerGroup(m.peer)}|${post ? "post" : "pre"}`);
          if (old?.stale) router.dropPeer(old);
        }
        this.peerEntry(router, m.peer, false).up = true;
        // Routes flow from the peer (it sent receivedOpen) to the router (sentOpen).
        this.session(router).set(this.peerGroup(m.peer), {
          addPath: addPathFamilies(m.receivedOpen, m.sentOpen),
        });
        break;
      }
      case BMP_PEER_DOWN: {
        if (!("reason" in m) || !("peer" in m)) break;
        const group = this.peerGroup(m.peer);
        for (const post of [false, true]) {
          const p = router.peers.get(`${group}|${post ? "post" : "pre"}`);
          if (p) router.dropPeer(p);
        }
        this.session(router).delete(group);
        break;
      }
      case BMP_ROUTE_MONITORING: {
        if (!("update" in m) || !this.wanted(m.peer)) break;
        const p = this.peerEntry(router, m.peer);
        if (p.stale) {
          router.rib.removePeer(p.id);
          p.stale = false;
        }
        p.up = true;
        const sess = this.session(router).get(this.peerGroup(m.peer));
        try {
          // RFC 7854 §4.2 A flag: AS_PATH as the peer sent it (2-byte) or re-encoded 4-byte.
          const u = parseUpdate(m.update, {
            as4: !m.peer.legacyAsPath,
            addPath: sess?.addPath ?? new Set(),
          });
          router.ignored += u.ignoredFamilies;
          router.apply(p, u.withdrawn, u.announced, u.attrs);
        } catch (e) {
          this.malformed(router, e);
        }
        break;
      }
      case BMP_STATISTICS:
        break;
      default:
        break;
    }
  }

  private malformed(router: RouterEntry, e: unknown): void {
    const msg = e instanceof DecodeError ? `malformed: ${e.message}` : `error: ${(e as Error).message}`;
    router.error(msg);
    this.log.limited(`bmp-malformed-${router.address}`, "warn", "bmp: malformed message", {
      router: router.address,
      error: msg,
    });
  }

  state(): SourceState[] {
    const routers = this.tables.all().filter((r) => r.kind === "bmp");
    const out: SourceState[] = [
      {
        name: "bmp",
        kind: "bmp",
        status: this.listening ? "loaded" : this.listenError ? "error" : "loading",
        entries: routers.reduce((n, r) => n + r.rib.routes, 0),
        updatedMs: routers.reduce<number | null>(
          (t, r) => (r.updatedMs && (!t || r.updatedMs > t) ? r.updatedMs : t),
          null,
        ),
        errors: this.errors + routers.reduce((n, r) => n + r.errors, 0),
        lastError: this.lastError,
        detail: {
          listen: this.cfg.listen,
          port: this.port(),
          routersConnected: this.sockets.size,
          routers: routers.length,
          attributeSets: this.tables.attrs.size,
          attributeBytes: this.tables.attrs.approxBytes(),
        },
      },
    ];
    for (const r of routers) {
      const s = r.baseState(`bmp:${r.address}`, r.connected ? "loaded" : "error");
      if (s.detail) s.detail.sysName = r.sysName;
      if (!r.connected && !s.lastError) s.lastError = "session closed";
      out.push(s);
    }
    return out;
  }
}
