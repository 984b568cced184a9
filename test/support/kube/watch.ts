/**
 * Watch streams (admission.md §5.5): one JSON event per line, flushed per event. Start points: no or `0`
 * resourceVersion → synthetic ADDED for what exists, then changes; `N` → changes after N, or one 410 ERROR event
 * when N is older than the kept history. Selectors follow the cacher: an object that stops matching is DELETED,
 * one that starts matching is ADDED. Bookmarks at a fixed interval when asked; the stream ends at `timeoutSeconds`.
 */
import type { ServerResponse } from "node:http";
import type { KubeObject } from "./admission-types.ts";
import { type Api, apiVersionOf, atVersion, type Scope } from "./api.ts";
import { selected, selectedObjects, selectorsOf } from "./reads.ts";
import { badRequest, expired, KubeStatusError } from "./status.ts";
import { RevisionCompactedError, type StoreEvent } from "./store.ts";

type EventType = "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";

/** Open watches, so the emulator can end them all when it stops. */
export class WatchSet {
  readonly #open = new Set<() => void>();
  add(close: () => void): () => void {
    this.#open.add(close);
    return () => this.#open.delete(close);
  }
  /** Ends every open watch stream. */
  closeAll(): void {
    for (const c of [...this.#open]) c();
  }
  get size(): number {
    return this.#open.size;
  }
}

/** Emulator-wide watch settings. */
export type WatchSettings = { bookmarkIntervalMs: number };

/**
 * Serves `?watch=true` on `res`. Throws `KubeStatusError` (before any byte is written) for bad parameters.
 * @example serveWatch(api, scope, res, watches, { bookmarkIntervalMs: 1000 })
 */
export function serveWatch(api: Api, scope: Scope, res: ServerResponse, watches: WatchSet, settings: WatchSettings): void {
  const def = scope.def;
  const q = scope.query;
  const sel = selectorsOf(scope);
  const rvParam = q.get("resourceVersion") ?? "";
  const bookmarks = q.get("allowWatchBookmarks") === "true" || q.get("allowWatchBookmarks") === "1";
  const initialEvents = q.get("sendInitialEvents") === "true";
  const timeoutParam = q.get("timeoutSeconds");
  let timeoutMs = (1800 + Math.random() * 1800) * 1000;
  if (timeoutParam !== null && timeoutParam !== "") {
    const t = Number(timeoutParam);
    if (!Number.isFinite(t) || t < 0) throw new KubeStatusError(badRequest(`timeoutSeconds: Invalid value: ${JSON.stringify(timeoutParam)}`));
    if (t > 0) timeoutMs = t * 1000;
  }
  let startRv: number | undefined;
  if (rvParam !== "" && rvParam !== "0") {
    startRv = Number(rvParam);
    if (!Number.isInteger(startRv) || startRv < 0) throw new KubeStatusError(badRequest(`resourceVersion: Invalid value: ${JSON.stringify(rvParam)}: must be a non-negative integer`));
  }
  if (initialEvents && rvParam !== "" && q.get("resourceVersionMatch") !== "NotOlderThan") {
    throw new KubeStatusError(
      badRequest("resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"),
    );
  }

  res.writeHead(200, { "Content-Type": "application/json", "Cache-Control": "no-cache, private", "Transfer-Encoding": "chunked" });
  res.socket?.setNoDelay(true);
  res.flushHeaders();
  let closed = false;
  const write = (type: EventType, object: KubeObject): void => {
    if (!closed) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const inScope = (e: StoreEvent): boolean => e.group === def.group && e.resource === def.resource && (scope.namespace === undefined || e.namespace === scope.namespace);
  const deliver = (e: StoreEvent): void => {
    if (!inScope(e)) return;
    const now = selected(sel, e.object);
    const before = e.prev !== undefined && selected(sel, e.prev);
    if (e.type === "ADDED") {
      if (now) write("ADDED", atVersion(e.object, def));
    } else if (e.type === "DELETED") {
      if (before) write("DELETED", atVersion(e.object, def));
    } else if (now && before) write("MODIFIED", atVersion(e.object, def));
    else if (now) write("ADDED", atVersion(e.object, def));
    else if (before) write("DELETED", atVersion(e.object, def));
  };
  const bookmark = (annotations?: Record<string, string>): void => {
    const metadata: KubeObject = { resourceVersion: String(api.store.revision) };
    if (annotations !== undefined) metadata.annotations = annotations;
    write("BOOKMARK", { kind: def.kind, apiVersion: apiVersionOf(def.group, def.version), metadata });
  };

  let unsubscribe = (): void => {};
  let timers: Array<ReturnType<typeof setTimeout>> = [];
  let interval: ReturnType<typeof setInterval> | undefined;
  let forget = (): void => {};
  const close = (): void => {
    if (closed) return;
    closed = true;
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    timers = [];
    if (interval !== undefined) clearInterval(interval);
    forget();
    res.end();
  };
  forget = watches.add(close);
  res.on("close", close);

  // Initial events and the subscription happen in one synchronous step, so no change falls in between.
  if (startRv === undefined) {
    for (const o of selectedObjects(api, scope)) write("ADDED", atVersion(o, def));
    if (initialEvents && bookmarks) bookmark({ "k8s.io/initial-events-end": "true" });
  } else {
    let backlog: StoreEvent[];
    try {
      backlog = api.store.since(startRv);
    } catch (e) {
      if (!(e instanceof RevisionCompactedError)) throw e;
      const status = expired(`too old resource version: ${startRv} (${e.oldest})`);
      write("ERROR", status as unknown as KubeObject);
      close();
      return;
    }
    for (const e of backlog) deliver(e);
  }
  unsubscribe = api.store.subscribe(deliver);
  if (bookmarks) {
    interval = setInterval(() => bookmark(), settings.bookmarkIntervalMs);
  }
  timers.push(setTimeout(close, timeoutMs));
}
