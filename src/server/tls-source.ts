/**
 * The serving certificate as files on disk (a mounted `kubernetes.io/tls` Secret, or the pair Fluxgate generated),
 * watched and reloaded. A new pair is used only once it parses and its key matches its certificate, so a
 * half-written Secret update never breaks the listener; until then the last good pair stays in use.
 */
import { readFile } from "node:fs/promises";
import type { Logger } from "pino";
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";
import { certNotAfter, keyMatchesCert } from "../../certs/inspect.ts";
import { watchFiles } from "../watch-files.ts";
import type { FileWatch } from "../watch-files.ts";
import type { TlsPair } from "./listen.ts";

export type TlsSourceOptions = {
  certFile: string;
  keyFile: string;
  intervalMs: number;
  log: Logger;
  registry: Registry;
  /** A new, valid pair; the listeners switch to it. */
  onChange: (pair: TlsPair) => Promise<void>;
};

export type TlsSource = {
  /** The pair in use, or undefined while none valid has been read yet. */
  current(): TlsPair | undefined;
  /** Resolves with the first valid pair (waits for the files to appear, as a freshly mounted Secret may not be there yet). */
  ready(signal?: AbortSignal): Promise<TlsPair>;
  /** Reads the files now. */
  check(): Promise<boolean>;
  close(): void;
};

type Loaded = { ok: true; pair: TlsPair; notAfter: Date } | { ok: false; why: string };

async function loadPair(certFile: string, keyFile: string): Promise<Loaded> {
  let cert: string;
  let key: string;
  try {
    [cert, key] = await Promise.all([readFile(certFile, "utf8"), readFile(keyFile, "utf8")]);
  } catch (e) {
    return { ok: false, why: `cannot read ${(e as NodeJS.ErrnoException).path ?? certFile}: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  }
  let notAfter: Date;
  try {
    notAfter = certNotAfter(cert);
  } catch (e) {
    return { ok: false, why: `${certFile} is not a PEM certificate: ${(e as Error).message}` };
  }
  if (!(await keyMatchesCert(cert, key).catch(() => false))) {
    return { ok: false, why: `${keyFile} is not the private key of ${certFile} (the pair may be mid-update)` };
  }
  return { ok: true, pair: { cert, key }, notAfter };
}

/**
 * Opens the pair and watches it. Never throws for bad files: it logs, keeps the last good pair and tries again.
 * @example const tls = await openTlsSource({ certFile, keyFile, intervalMs: 10_000, log, registry, onChange: (p) => listener.setTls(p) })
 */
export async function openTlsSource(options: TlsSourceOptions): Promise<TlsSource> {
  const { certFile, keyFile, log } = options;
  const reloads = new Counter({
    name: "fluxgate_tls_reloads_total",
    help: "Serving certificate loads from disk, by result (loaded, rejected).",
    labelNames: ["result"] as const,
    registers: [options.registry],
  });
  const expiry = new Gauge({
    name: "fluxgate_tls_certificate_expiry_timestamp_seconds",
    help: "notAfter of the serving certificate in use, as a Unix timestamp.",
    registers: [options.registry],
  });
  let current: TlsPair | undefined;
  let lastWhy = "";
  let waiters: Array<(p: TlsPair) => void> = [];

  const apply = async (): Promise<void> => {
    const loaded = await loadPair(certFile, keyFile);
    if (!loaded.ok) {
      reloads.inc({ result: "rejected" });
      if (loaded.why !== lastWhy) log.warn({ certFile, keyFile, reason: loaded.why }, current === undefined ? "no usable serving certificate yet" : "keeping the current serving certificate");
      lastWhy = loaded.why;
      return;
    }
    lastWhy = "";
    if (current !== undefined && current.cert === loaded.pair.cert && current.key === loaded.pair.key) return;
    const first = current === undefined;
    if (!first) await options.onChange(loaded.pair);
    current = loaded.pair;
    reloads.inc({ result: "loaded" });
    expiry.set(loaded.notAfter.getTime() / 1000);
    log.info({ certFile, notAfter: loaded.notAfter.toISOString() }, first ? "serving certificate loaded" : "serving certificate reloaded");
    for (const w of waiters) w(loaded.pair);
    waiters = [];
  };

  await apply();
  const watch: FileWatch = await watchFiles([certFile, keyFile], { intervalMs: options.intervalMs, onChange: apply });

  return {
    current: () => current,
    ready(signal) {
      if (current !== undefined) return Promise.resolve(current);
      return new Promise((resolve, reject) => {
        waiters.push(resolve);
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
    async check() {
      const changed = await watch.check();
      // A pair rejected earlier (mid-update) is valid now even though its bytes did not change again.
      if (!changed && lastWhy !== "") await apply();
      return changed;
    },
    close: () => watch.close(),
  };
}
