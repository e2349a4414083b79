// BGP listener mode for routers without BMP: a passive BGP speaker that
// accepts one session per configured neighbor, keeps what the neighbor
// announces in that neighbor's RIB, and never announces anything.
//
// RFC 4271 §8 FSM, the passive half: Idle → (TCP accepted) OpenSent (our OPEN
// sent at once, §8.2.2 Event 17) → OpenConfirm (their OPEN checked, KEEPALIVE
// sent) → Established (their KEEPALIVE). Any error sends a NOTIFICATION and
// closes (§6); the hold timer (§4.4, §10) closes a silent session.
import type { AddressInfo, Server, Socket } from "node:net";
import type { Logger } from "../../log.js";
import type { SourceState } from "../types.js";
import {
  BGP_MAX_LEN,
  BGP_EXT_MAX_LEN,
  BgpError,
  MSG_KEEPALIVE,
  MSG_NOTIFICATION,
  MSG_OPEN,
  MSG_ROUTE_REFRESH,
  MSG_UPDATE,
  bgpMessageLength,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  parseNotification,
  parseOpen,
  parseUpdate,
  AS_TRANS,
} from "./bgp.js";
import type { BgpConfig, BgpNeighbor } from "./config.js";
import { listenTcp } from "./listen.js";
import { canonicalAddress, type RoutingTables } from "./tables.js";

type FsmState = "Idle" | "OpenSent" | "OpenConfirm" | "Established";

/** RFC 4271 §10: the hold time used before OPENs are exchanged ("a large value", 4 minutes suggested). */
const LARGE_HOLD_MS = 240_000;

interface Session {
  sock: Socket;
  state: FsmState;
  holdMs: number;
  holdTimer: NodeJS.Timeout | null;
  keepaliveTimer: NodeJS.Timeout | null;
  as4: boolean;
  extended: boolean;
  peerAs: number;
  peerId: string;
}

interface NeighborState {
  cfg: BgpNeighbor;
  address: string;
  session: Session | null;
  lastState: FsmState;
  established: number;
  upSinceMs: number | null;
  errors: number;
  lastError: string | null;
  removalTimer: NodeJS.Timeout | null;
}

export class BgpListener {
  private readonly cfg: BgpConfig;
  private readonly tables: RoutingTables;
  private readonly log: Logger;
  private server: Server | null = null;
  private readonly neighbors = new Map<string, NeighborState>();
  private listening = false;
  private listenError: string | null = null;
  private errors = 0;
  private lastError: string | null = null;

  constructor(cfg: BgpConfig, tables: RoutingTables, log: Logger) {
    this.cfg = cfg;
    this.tables = tables;
    this.log = log;
    for (const n of cfg.neighbors) {
      const address = canonicalAddress(n.address);
      this.neighbors.set(address, {
        cfg: n,
        address,
        session: null,
        lastState: "Idle",
        established: 0,
        upSinceMs: null,
        errors: 0,
        lastError: null,
        removalTimer: null,
      });
    }
  }

  async start(): Promise<void> {
    const r = await listenTcp(
      "bgp",
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
    if (this.listening) this.log.info("bgp: listening", { listen: this.cfg.listen, port: this.port() });
  }

  port(): number {
    const a = this.server?.address() as AddressInfo | null | undefined;
    return a?.port ?? 0;
  }

  async stop(): Promise<void> {
    for (const n of this.neighbors.values()) {
      if (n.session) this.close(n, n.session, "collector stopping", [6, 2]); // Cease, Administrative Shutdown
      if (n.removalTimer) clearTimeout(n.removalTimer);
    }
    const server = this.server;
    this.server = null;
    this.listening = false;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private accept(sock: Socket): void {
    // A reset from a rejected peer must not become an unhandled 'error'.
    sock.on("error", () => {});
    const address = canonicalAddress(sock.remoteAddress ?? "");
    const n = this.neighbors.get(address);
    if (!n) {
      // RFC 4486 Cease subcode 5: Connection Rejected.
      this.errors++;
      this.lastError = `connection from ${address} rejected: not a configured neighbor`;
      this.log.limited("bgp-rejected", "warn", "bgp: connection from an unknown neighbor rejected", {
        address,
      });
      sock.end(encodeNotification(6, 5));
      return;
    }
    if (n.session) {
      // One session per neighbor; the standing one wins (RFC 4486 subcode 7: collision resolution).
      sock.end(encodeNotification(6, 7));
      return;
    }
    const s: Session = {
      sock,
      state: "OpenSent",
      holdMs: LARGE_HOLD_MS,
      holdTimer: null,
      keepaliveTimer: null,
      as4: false,
      extended: false,
      peerAs: 0,
      peerId: "",
    };
    n.session = s;
    n.lastState = "OpenSent";
    if (n.removalTimer) {
      clearTimeout(n.removalTimer);
      n.removalTimer = null;
    }
    sock.setNoDelay(true);
    sock.write(encodeOpen({ asn: this.cfg.asn, holdTime: this.cfg.holdTimeSec, bgpId: this.cfg.routerId }));
    this.armHold(n, s);
    let buf: Uint8Array = new Uint8Array(0);
    sock.on("data", (chunk: Buffer) => {
      if (n.session !== s) return;
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
          const len = bgpMessageLength(buf, off, buf.length, s.extended ? BGP_EXT_MAX_LEN : BGP_MAX_LEN);
          if (len === 0 || off + len > buf.length) break;
          this.message(n, s, buf[off + 18]!, buf.subarray(off + 19, off + len));
          off += len;
          if (n.session !== s) return;
        }
      } catch (e) {
        const err = e instanceof BgpError ? e : new BgpError(3, 1, (e as Error).message);
        // RFC 4271 §6.1: bad length carries the length field as data.
        this.fail(n, s, `malformed message: ${err.message}`, [err.code, err.subcode]);
        return;
      }
      buf = off === buf.length ? new Uint8Array(0) : buf.slice(off);
    });
    sock.on("error", (e) => {
      if (n.session === s) this.fail(n, s, `socket: ${e.message}`, null);
    });
    sock.on("close", () => {
      if (n.session === s) this.close(n, s, "connection closed by the neighbor", null);
    });
  }

  private armHold(n: NeighborState, s: Session): void {
    if (s.holdTimer) clearTimeout(s.holdTimer);
    s.holdTimer = null;
    if (s.holdMs === 0) return;
    s.holdTimer = setTimeout(() => this.fail(n, s, "hold timer expired", [4, 0]), s.holdMs);
    s.holdTimer.unref();
  }

  private message(n: NeighborState, s: Session, type: number, body: Uint8Array): void {
    const router = this.tables.get("bgp", n.address);
    if (router) router.messages++;
    switch (type) {
      case MSG_OPEN: {
        if (s.state !== "OpenSent") throw new BgpError(5, 0, `OPEN in state ${s.state}`); // FSM error
        const o = parseOpen(body);
        // RFC 4271 §6.2 OPEN message error handling.
        if (o.version !== 4) throw new BgpError(2, 1, `unsupported version ${o.version}`);
        if (n.cfg.asn !== 0 && o.asn !== n.cfg.asn)
          throw new BgpError(2, 2, `peer AS ${o.asn}, configured ${n.cfg.asn}`);
        if (o.as4 === false && o.asn === AS_TRANS)
          throw new BgpError(2, 2, "AS_TRANS without 4-byte capability");
        if (o.holdTime === 1 || o.holdTime === 2) throw new BgpError(2, 6, `hold time ${o.holdTime}`);
        if (o.bgpId === "0.0.0.0") throw new BgpError(2, 3, "BGP identifier 0.0.0.0");
        s.as4 = o.as4; // we always send the capability, so their saying so makes it both
        s.extended = false; // we do not offer RFC 8654, so 4096 stays the limit
        s.peerAs = o.asn;
        s.peerId = o.bgpId;
        s.holdMs = Math.min(o.holdTime, this.cfg.holdTimeSec) * 1000;
        s.state = "OpenConfirm";
        n.lastState = "OpenConfirm";
        s.sock.write(encodeKeepalive());
        this.armHold(n, s);
        if (s.holdMs > 0) {
          // RFC 4271 §10: KEEPALIVE every third of the hold time.
          s.keepaliveTimer = setInterval(() => s.sock.write(encodeKeepalive()), Math.max(1000, s.holdMs / 3));
          s.keepaliveTimer.unref();
        }
        return;
      }
      case MSG_KEEPALIVE:
        if (s.state === "OpenSent") throw new BgpError(5, 1, "KEEPALIVE before OPEN");
        if (s.state === "OpenConfirm") this.established(n, s);
        this.armHold(n, s);
        return;
      case MSG_UPDATE: {
        if (s.state !== "Established")
          throw new BgpError(5, s.state === "OpenSent" ? 1 : 2, `UPDATE in ${s.state}`);
        this.armHold(n, s);
        const r = this.tables.get("bgp", n.address)!;
        let u;
        try {
          u = parseUpdate(body, { as4: s.as4, addPath: new Set() });
        } catch (e) {
          const err = e instanceof BgpError ? e : new BgpError(3, 1, (e as Error).message);
          if (r) r.error(`malformed UPDATE: ${err.message}`);
          throw err;
        }
        r.ignored += u.ignoredFamilies;
        r.apply(r.peer("neighbor", n.address, s.peerAs), u.withdrawn, u.announced, u.attrs);
        return;
      }
      case MSG_NOTIFICATION: {
        let what = "NOTIFICATION";
        try {
          const nf = parseNotification(body);
          what = `NOTIFICATION ${nf.code}/${nf.subcode} from the neighbor`;
        } catch {
          // a short NOTIFICATION still ends the session
        }
        this.close(n, s, what, null);
        return;
      }
      case MSG_ROUTE_REFRESH:
        return; // we never announce, so there is nothing to refresh
      default:
        throw new BgpError(1, 3, `bad message type ${type}`); // RFC 4271 §6.1
    }
  }

  private established(n: NeighborState, s: Session): void {
    s.state = "Established";
    n.lastState = "Established";
    n.established++;
    n.upSinceMs = Date.now();
    const r = this.tables.add("bgp", n.address);
    r.connected = true;
    r.lastError = null;
    // The neighbor resends everything on a new session: the kept routes of the last one go now.
    const old = r.peers.get("neighbor");
    if (old) r.dropPeer(old);
    const p = r.peer("neighbor", n.address, s.peerAs);
    p.up = true;
    this.log.info("bgp: session established", { neighbor: n.address, peerAs: s.peerAs });
  }

  /** An error on our side of the session: NOTIFICATION (when there is one), close, count. */
  private fail(n: NeighborState, s: Session, why: string, notify: [number, number] | null): void {
    n.errors++;
    n.lastError = why;
    this.log.limited(`bgp-fail-${n.address}`, "warn", "bgp: session error", {
      neighbor: n.address,
      error: why,
    });
    this.close(n, s, why, notify);
  }

  private close(n: NeighborState, s: Session, why: string, notify: [number, number] | null): void {
    if (n.session !== s) return;
    n.session = null;
    n.lastState = "Idle";
    n.upSinceMs = null;
    if (s.holdTimer) clearTimeout(s.holdTimer);
    if (s.keepaliveTimer) clearInterval(s.keepaliveTimer);
    if (notify && !s.sock.destroyed) s.sock.end(encodeNotification(notify[0], notify[1]));
    else s.sock.destroy();
    setTimeout(() => s.sock.destroy(), 1000).unref();
    const r = this.tables.get("bgp", n.address);
    if (!r) return;
    r.connected = false;
    r.lastError = why;
    const p = r.peers.get("neighbor");
    if (p) p.up = false;
    this.log.info("bgp: session closed", { neighbor: n.address, reason: why, keepMs: this.cfg.keepMs });
    if (this.cfg.keepMs === 0) this.tables.remove(r);
    else {
      n.removalTimer = setTimeout(() => {
        n.removalTimer = null;
        if (!r.connected) this.tables.remove(r);
      }, this.cfg.keepMs);
      n.removalTimer.unref();
    }
  }

  state(): SourceState[] {
    const out: SourceState[] = [
      {
        name: "bgp",
        kind: "bgp",
        status: this.listening ? "loaded" : this.listenError ? "error" : "loading",
        entries: [...this.neighbors.values()].reduce(
          (k, n) => k + (this.tables.get("bgp", n.address)?.rib.routes ?? 0),
          0,
        ),
        updatedMs: null,
        errors: this.errors,
        lastError: this.lastError,
        detail: { listen: this.cfg.listen, port: this.port(), neighbors: this.neighbors.size },
      },
    ];
    for (const n of this.neighbors.values()) {
      const r = this.tables.get("bgp", n.address);
      const status: SourceState["status"] =
        n.lastState === "Established" ? "loaded" : n.errors > 0 || n.established > 0 ? "error" : "loading";
      const s: SourceState = r
        ? r.baseState(`bgp:${n.address}`, status)
        : {
            name: `bgp:${n.address}`,
            kind: "bgp",
            status,
            entries: 0,
            updatedMs: null,
            errors: 0,
            lastError: null,
            detail: { router: n.address, connected: 0, peersUp: 0, routesV4: 0, routesV6: 0, memoryBytes: 0 },
          };
      s.errors += n.errors;
      s.lastError = n.lastError ?? s.lastError;
      s.detail = {
        ...s.detail,
        name: n.cfg.name || n.address,
        fsm: n.lastState,
        peerAs: n.session?.peerAs ?? 0,
        holdTimeSec: n.session ? n.session.holdMs / 1000 : 0,
        sessionsEstablished: n.established,
      };
      out.push(s);
    }
    return out;
  }
}
