/**
 * The process's connection to NATS. It waits for the first connection and then reconnects forever, so a Fluxgate
 * that starts before NATS, or outlives a NATS restart, recovers by itself; `onStatus` feeds the "bus" readiness check.
 */
import { AuthorizationError, connect, type NatsConnection, type Status } from "@nats-io/transport-node";
import { UnavailableError } from "../errors.ts";

export type BusConnectionOptions = {
  /** One URL or several of the same cluster, e.g. `nats://nats.flux-system:4222`. */
  servers: string | string[];
  /** Client name the server shows in its connection list, e.g. `fluxgate-receiver`. */
  name: string;
  /** Told whether the bus is usable and why, on every change; reasons never contain the token or password. */
  onStatus?: (connected: boolean, reason: string) => void;
  token?: string;
  user?: string;
  pass?: string;
  /** How long one connection attempt may take before the next; nats.js defaults to 20 s. */
  connectTimeoutMs?: number;
  /** Pause between attempts to reach a server, plus up to 100 ms jitter; default 2000 ms. */
  reconnectWaitMs?: number;
  /**
   * Stops waiting for the first connection (shutdown before NATS came up): connectBus rejects at once and the
   * attempts end within one reconnect wait. Once connected, use close().
   */
  signal?: AbortSignal;
};

/** A connection that heals itself; `connected()` is its state right now. */
export type BusConnection = {
  nc: NatsConnection;
  connected(): boolean;
  /** Closes the connection (no drain: JetStream publishes count only once acknowledged); safe to call twice. */
  close(): Promise<void>;
};

const JITTER_MS = 100;

/**
 * Connects to NATS, waiting as long as it takes for the first connection (or until `signal` aborts). Rejects with
 * `UnavailableError` when the server refuses our credentials twice in a row (reason `BusAuthFailed`), when aborted
 * (`BusAborted`) or when the options are unusable (`BusUnavailable`).
 * @example
 * readiness.register("bus");
 * const bus = await connectBus({ servers: config.nats.url, name: "fluxgate", onStatus: (ok, why) => readiness.set("bus", ok, why) });
 */
export async function connectBus(options: BusConnectionOptions): Promise<BusConnection> {
  const { onStatus = () => {}, signal } = options;
  const secrets = [options.token, options.pass].filter((s): s is string => s !== undefined && s !== "");
  const redact = (text: string) => hideSecrets(text, secrets);
  const where = redact([options.servers].flat().join(", "));
  const wait = options.reconnectWaitMs ?? 2000;
  let abandoned = false;

  onStatus(false, `connecting to ${where}`);
  const pending = connect({
    servers: options.servers,
    name: options.name,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.user === undefined ? {} : { user: options.user }),
    ...(options.pass === undefined ? {} : { pass: options.pass }),
    ...(options.connectTimeoutMs === undefined ? {} : { timeout: options.connectTimeoutMs }),
    maxReconnectAttempts: -1,
    waitOnFirstConnect: true,
    // nats.js otherwise builds two Error objects (with stack traces) per request to decorate a possible timeout: a
    // measurable share of the receiver's CPU per delivery, for stacks that would point into nats.js anyway.
    noAsyncTraces: true,
    reconnectDelayHandler: () => {
      // nats.js asks for the delay before every attempt; throwing is the only way to end its first-connect loop,
      // which otherwise keeps the process alive after we gave up on it.
      if (abandoned) throw new Error("connection abandoned");
      return wait + Math.floor(Math.random() * (JITTER_MS + 1));
    },
  });
  // If an attempt was already under way when we gave up and it succeeds, nobody holds that connection: close it.
  pending.then((late) => (abandoned ? late.close() : undefined)).catch(() => {});

  let nc: NatsConnection;
  try {
    nc = await untilAborted(pending, signal, () => (abandoned = true));
  } catch (e) {
    if (abandoned) throw new UnavailableError("BusAborted", `stopped waiting for NATS at ${where}`);
    const why = redact(e instanceof Error ? e.message : String(e));
    const reason = e instanceof AuthorizationError ? "BusAuthFailed" : "BusUnavailable";
    // No `cause`: the original error is not ours to vouch for, and loggers print causes in full.
    throw new UnavailableError(reason, `cannot connect to NATS at ${where}: ${why}`);
  }

  let up = true;
  const report = (connected: boolean | undefined, reason: string) => {
    up = connected ?? up;
    onStatus(up, redact(reason));
  };
  report(true, `connected to ${nc.getServer()}`);
  void (async () => {
    for await (const s of nc.status()) {
      const change = describeStatus(s);
      if (change !== undefined) report(change.connected, change.reason);
    }
  })();
  const closed = nc.closed().then((err) => report(false, err === undefined ? "closed" : `closed: ${err.message}`));

  return {
    nc,
    connected: () => up,
    async close() {
      await nc.close();
      await closed;
    },
  };
}

/** What a nats.js status event means for readiness; undefined for the chatter (pings, each dial attempt). */
function describeStatus(s: Status): { connected?: boolean; reason: string } | undefined {
  switch (s.type) {
    case "disconnect":
      return { connected: false, reason: `disconnected from ${s.server}` };
    case "reconnect":
      return { connected: true, reason: `reconnected to ${s.server}` };
    case "error":
      // The server said -ERR; whether we stay connected is told by the disconnect that may follow.
      return { reason: `server error: ${s.error.message}` };
    case "ldm":
      return { reason: `${s.server} is shutting down (lame duck mode)` };
    default:
      return undefined;
  }
}

/** Replaces every secret, and any `user:pass@` in a URL, so the text can be logged or returned. */
function hideSecrets(text: string, secrets: string[]): string {
  const withoutUserinfo = text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, "$1***@");
  return secrets.reduce((t, secret) => t.split(secret).join("***"), withoutUserinfo);
}

/** Settles like `promise`, or rejects with the abort reason as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort: () => void): Promise<T> {
  if (signal === undefined) return promise;
  return new Promise((resolve, reject) => {
    const abort = () => {
      onAbort();
      reject(signal.reason);
    };
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
