// What went wrong talking to Kafka, in one line an operator can act on.
//
// @platformatic/kafka reports a failed connection as an AggregateError
// ("Cannot connect to any broker.") of NetworkErrors ("Connection to h:p
// failed.") whose `cause` chain holds the reason: a Node TLS error (code
// SELF_SIGNED_CERT_IN_CHAIN, ERR_TLS_CERT_ALTNAME_INVALID …), a SASL
// AuthenticationError whose ResponseError carries the broker's own
// errorMessage ("Authentication failed during authentication due to invalid
// credentials with SASL mechanism SCRAM-SHA-512"), a SaslHandshake answer
// listing the mechanisms the listener offers, or a plain socket error. The top
// message says none of that, so the producer and the consumer walk the chain,
// classify it (tls / auth / network / other), count it by kind (metrics) and
// keep the last one (GET /api/v1/kafka): a wrong CA or password shows as
// such, not as "Cannot connect to any broker." retried forever.
//
// Client certificates (ssl.client.auth=required) need one more step. With
// TLS 1.3 the client's handshake completes before the broker has checked
// the client's certificate; the broker then sends an alert ("certificate
// required", "unknown ca") and closes. The library has already counted the
// connection as made: the alert arrives as an 'error' event of its
// Connection, which nobody keeps, and the request fails with a bare
// "Connection closed". SocketErrors listens to the connections the client
// makes (its "client:broker:connect" event) and keeps the last socket error,
// and describeBusError reads it as the cause of a "Connection closed" that
// followed within a few seconds (test/kafka-mtls.test.ts, a real broker).

export type BusErrorKind = "tls" | "auth" | "network" | "other";
export const BUS_ERROR_KINDS: readonly BusErrorKind[] = ["tls", "auth", "network", "other"];

export interface BusError {
  kind: BusErrorKind;
  /** One line: the root cause, with a hint at the config key to check. */
  message: string;
  /** Epoch ms. */
  atMs: number;
}

interface ErrLike {
  message?: unknown;
  code?: unknown;
  cause?: unknown;
  errors?: unknown;
  response?: { errorMessage?: unknown; mechanisms?: unknown };
}

/** Node's TLS verification failures (X509_V_ERR_* names as node reports them). */
const TLS_CODES =
  /^(?:ERR_TLS_|ERR_SSL_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|UNABLE_TO_|CERT_|HOSTNAME_MISMATCH)/;

/** Every error of the chain, depth first (AggregateError members, then causes). */
function chain(err: unknown, out: ErrLike[] = [], depth = 0): ErrLike[] {
  if (depth > 10 || typeof err !== "object" || err === null) return out;
  const e = err as ErrLike;
  out.push(e);
  if (Array.isArray(e.errors)) for (const x of e.errors) chain(x, out, depth + 1);
  if (e.cause !== undefined) chain(e.cause, out, depth + 1);
  return out;
}

const text = (v: unknown): string => (typeof v === "string" ? v : "");

/** The part of a @platformatic/kafka client SocketErrors listens to. */
export interface ClientEvents {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
}

/** The last socket-level error of a client's established connections (see the header). */
export class SocketErrors {
  private last: { err: unknown; atMs: number } | null = null;
  constructor(private readonly windowMs = 10_000) {}

  /** Listen to the connections `client` makes from now on. */
  watch(client: ClientEvents): void {
    client.on("client:broker:connect", (payload: unknown) => {
      const p = payload as
        { broker?: { host?: string; port?: number }; connection?: ClientEvents } | undefined;
      const where = p?.broker ? `${p.broker.host}:${p.broker.port}` : "?";
      p?.connection?.on("error", (err: unknown) => {
        // Shaped as the library's own failures, so describeBusError finds the broker's address.
        this.last = { err: { message: `Connection to ${where} failed.`, cause: err }, atMs: Date.now() };
      });
    });
  }

  /** The last socket error if it is recent, else undefined. */
  recent(now: number = Date.now()): unknown {
    return this.last && now - this.last.atMs <= this.windowMs ? this.last.err : undefined;
  }
}

/**
 * OpenSSL's line without its location noise: "80CC…:error:0A000412:SSL
 * routines:ssl3_read_bytes:sslv3 alert bad certificate:../deps/…:1601:SSL
 * alert number 42" → "sslv3 alert bad certificate (SSL alert number 42)".
 */
function opensslReason(message: string): string {
  const m = /:([^:]*alert[^:]*):.*?(SSL alert number \d+)?\s*$/i.exec(message);
  return m?.[1] ? `${m[1]}${m[2] ? ` (${m[2]})` : ""}` : message.trim();
}

/** A TLS alert the broker sent: it refused us (our client certificate), not the other way round. */
const ALERT_CODE = /_ALERT_/;

/**
 * Classify and describe a client error (never throws). `socketError`
 * (SocketErrors.recent()) is read as the cause of a bare "Connection closed".
 */
export function describeBusError(err: unknown, now: number = Date.now(), socketError?: unknown): BusError {
  const all = chain(err);
  if (socketError !== undefined && all.some((e) => /^Connection closed/.test(text(e.message))))
    all.push(...chain(socketError));
  const top = all[0] ? text(all[0].message) : String(err);
  // Where: the first "Connection to host:port failed." of the chain.
  const where = all.map((e) => /Connection to (\S+) /.exec(text(e.message))?.[1]).find(Boolean);
  const at = where ? ` (${where})` : "";
  const tls = all.find((e) => typeof e.code === "string" && TLS_CODES.test(e.code));
  if (tls && ALERT_CODE.test(String(tls.code)))
    return {
      kind: "tls",
      message:
        `TLS: the broker refused the connection: ${opensslReason(text(tls.message))} [${String(tls.code)}]${at}; ` +
        "check bus.tls.cert / bus.tls.key (a client certificate signed by a CA the broker trusts)",
      atMs: now,
    };
  if (tls)
    return {
      kind: "tls",
      message: `TLS: ${text(tls.message)} [${String(tls.code)}]${at}; check bus.tls.ca / bus.tls.serverName`,
      atMs: now,
    };
  const handshake = all.find((e) => /TLS handshake failed/.test(text(e.message)));
  if (handshake)
    return {
      kind: "tls",
      message: `TLS: handshake failed${at}: the listener may not speak TLS (bus.tls.enabled, the broker's listener protocol)`,
      atMs: now,
    };
  const mechs = all.find((e) => Array.isArray(e.response?.mechanisms));
  if (mechs)
    return {
      kind: "auth",
      message: `SASL: the listener does not offer this mechanism${at}; it offers ${(mechs.response!.mechanisms as unknown[]).join(", ") || "none"} (bus.sasl.mechanism)`,
      atMs: now,
    };
  // Only within a SASL failure: other responses (a produce error) carry errorMessage too.
  if (all.some((e) => e.code === "PLT_KFK_AUTHENTICATION" || /SaslAuthenticate/.test(text(e.message)))) {
    const brokerSays = all.map((e) => text(e.response?.errorMessage)).find((m) => m !== "");
    return {
      kind: "auth",
      message: `SASL: ${brokerSays || all.map((e) => text(e.message)).find((m) => /SASL/.test(m)) || top}${at}; check bus.sasl.username / bus.sasl.password`,
      atMs: now,
    };
  }
  const net = all.find(
    (e) => e.code === "PLT_KFK_NETWORK" || e.code === "PLT_KFK_TIMEOUT" || /^E[A-Z]+$/.test(text(e.code)),
  );
  if (net) {
    const root = [...all].reverse().find((e) => text(e.message) !== "");
    return { kind: "network", message: `${text(root?.message) || top}${at}`, atMs: now };
  }
  return { kind: "other", message: top || String(err), atMs: now };
}
