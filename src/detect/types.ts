// Shared types of detection (DDoS attacks, anomaly scores) and alerts: the
// contract between src/detect (producers), src/alerts (rules, notifications),
// the HTTP API and the web UI (web/src/types.ts re-exports this file).
//
// Times are epoch milliseconds; rates are per second and already scaled by
// the exporter's sampling rate (0 = unknown counts as 1), as the store's
// *_scaled sums are, so detector and explorer numbers agree.

/** Attack vectors the detector names. A flood may match several (e.g. udp + fragment). */
export const ATTACK_VECTORS = [
  "udp_flood",
  "syn_flood",
  "tcp_flood", // other TCP (ACK-only, RST …)
  "icmp_flood",
  "fragment",
  "dns_amplification",
  "ntp_amplification",
  "ssdp_amplification",
  "memcached_amplification",
  "cldap_amplification",
  "chargen_amplification",
  "snmp_amplification",
  "other",
] as const;
export type AttackVector = (typeof ATTACK_VECTORS)[number];

/** A target: one host, or a prefix (carpet bombing spreads across a /24 or an IPv6 /64 …). */
export interface AttackTarget {
  /** "203.0.113.7/32", "203.0.113.0/24", "2001:db8::1/128". */
  prefix: string;
  /** Protected-network group the target belongs to ("" when none configured). */
  group: string;
}

export interface TopEntry {
  key: string;
  bps: number;
  pps: number;
}

/** What the attack looks like, refreshed while it goes on. */
export interface Fingerprint {
  vectors: AttackVector[];
  /** IP protocol numbers seen in the attack traffic, largest first. */
  protocols: number[];
  topSrcPorts: TopEntry[];
  topDstPorts: TopEntry[];
  topSources: TopEntry[];
  topSrcAs: TopEntry[];
  /** Exporter address / input interface the attack enters through. */
  ingress: { exporter: string; inIf: number; bps: number; pps: number }[];
  /** Mean packet size in bytes. */
  packetSize: number;
  /** Share of packets per TCP flag set (S, SA, A, R, F, …); empty for non-TCP. */
  tcpFlags: Record<string, number>;
  fragmentShare: number;
  samplingRates: number[];
}

export type AttackState = "ongoing" | "ended";

export interface Attack {
  id: string;
  target: AttackTarget;
  state: AttackState;
  /** Epoch ms of the first second over threshold. */
  startMs: number;
  /** Last second over threshold. */
  lastMs: number;
  /** Set once ended (after the quiet period). */
  endMs: number | null;
  peak: { bps: number; pps: number; flowsPerSecond: number; atMs: number };
  /** Why it fired: "static: pps 250000 > 100000 (host threshold)" or "baseline: pps 40× usual for 21:00". */
  reason: string;
  /** Which rule kind fired first. */
  trigger: "static" | "baseline";
  fingerprint: Fingerprint;
  mitigation: { flowspec: string; rtbh: string };
  /** Epoch ms the first flow of the attack reached the collector, and the alert went out (detection delay = difference). */
  firstSeenMs: number;
  detectedMs: number;
}

/** One second of a series (attack target, anomaly series …). */
export interface SecondPoint {
  t: number;
  bps: number;
  pps: number;
  flowsPerSecond: number;
}

/** Series kinds scored for anomalies. */
export const ANOMALY_SERIES = ["total", "src_as", "dst_as", "exporter", "interface"] as const;
export type AnomalySeriesKind = (typeof ANOMALY_SERIES)[number];

/** One scored point: the traffic, what was expected, and the score ("異常度"). */
export interface AnomalyPoint {
  t: number;
  /** Observed value (bps over the step). */
  value: number;
  expected: number;
  /** 0 = normal; ≥ threshold (default 1) is anomalous. Documented in docs/detection.md. */
  score: number;
}

export interface AnomalyEvent {
  id: string;
  series: AnomalySeriesKind;
  /** AS number, "exporter", "exporter/ifIndex", or "" for total. */
  key: string;
  startMs: number;
  endMs: number | null;
  peakScore: number;
  peakAtMs: number;
  /** "spike", "dip", "level shift", "drift". */
  kind: string;
}

/** Events the detectors publish; alert rules subscribe to them. */
export type DetectEvent =
  | { type: "attack_started"; attack: Attack }
  | { type: "attack_updated"; attack: Attack }
  | { type: "attack_ended"; attack: Attack }
  | { type: "anomaly_started"; event: AnomalyEvent }
  | { type: "anomaly_ended"; event: AnomalyEvent };

export type DetectListener = (e: DetectEvent) => void;

/** A tiny synchronous event hub: detectors emit, alerts listen. A listener that throws is isolated. */
export class DetectEvents {
  private readonly listeners = new Set<DetectListener>();
  /** Listener exceptions caught. */
  errors = 0;

  on(l: DetectListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  emit(e: DetectEvent): void {
    for (const l of this.listeners) {
      try {
        l(e);
      } catch {
        this.errors++;
      }
    }
  }
}

// ---- Alerts ----

export type AlertSource =
  | { kind: "attack"; minBps?: number; minPps?: number; vectors?: AttackVector[] }
  | { kind: "anomaly"; minScore?: number; series?: AnomalySeriesKind[] }
  | {
      kind: "query";
      queryId: string;
      /** Compare a column of the first row, or the row count. */
      column?: string;
      op: ">" | ">=" | "<" | "<=" | "==" | "!=";
      value: number;
      /** "value" (column of first row) or "rows" (row count). */
      measure: "value" | "rows";
      intervalSec: number;
      params?: Record<string, string | number>;
    };

export type DestinationKind = "webhook" | "slack" | "email" | "syslog";

export interface Destination {
  kind: DestinationKind;
  /** webhook/slack: URL; email: recipient address; syslog: "udp://host:port" or "tcp://host:port". */
  target: string;
}

export type AlertStateName = "ok" | "triggered" | "unknown";

export interface AlertRule {
  id: string;
  name: string;
  source: AlertSource;
  destinations: Destination[];
  /** Re-arm: after returning to ok, notify again only after this many seconds. */
  rearmSec: number;
  /** Silenced until (epoch ms) or null. */
  silencedUntil: number | null;
  enabled: boolean;
  state: AlertStateName;
  stateSince: number;
  createdBy: string;
  updatedAt: string;
}

export interface NotificationRecord {
  id: string;
  ruleId: string;
  ruleName: string;
  atMs: number;
  /** The state the rule moved to ("triggered", "ok", "unknown") or "test". */
  state: AlertStateName | "test";
  destination: Destination;
  /** "sent", "failed" (after retries), "silenced". */
  outcome: "sent" | "failed" | "silenced";
  attempts: number;
  error: string | null;
  /** Short human text of what happened. */
  summary: string;
  /** When the state changed (atMs is when the outcome was known, after any retries). Added by alerts. */
  eventAtMs?: number;
  /** Error of each failed attempt, in order (empty when the first attempt succeeded). Added by alerts. */
  attemptErrors?: string[];
  /** Why a "silenced" record was not sent: the rule's silence, or re-arm hold-down (docs/alerts.md). Added by alerts. */
  suppressed?: "silence" | "rearm";
}
