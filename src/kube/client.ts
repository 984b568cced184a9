/**
 * The Kubernetes API client Fluxgate uses: typed get/list/create/update/patch/apply/delete on any resource type
 * (the Flux kinds of `src/flux/kinds.ts` in practice), read-modify-write with conflict retry, watch streams, and
 * `requestReconcile`. Every call goes through the retry policy (429 after `Retry-After`, 5xx and wire failures with
 * back-off, up to a deadline) and is counted and timed in Prometheus; failures surface as `KubeApiError`.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Registry } from "prom-client";
import { z } from "zod";
import { FluxgateError, KubeApiError } from "../errors.ts";
import type { KubeApiErrorInit } from "../errors.ts";
import { fluxKind } from "../flux/kinds.ts";
import type { FluxKindName } from "../flux/kinds.ts";
import type { Logger } from "../observability/logger.ts";
import { failureFromResponse, statusSchema } from "./api-status.ts";
import type { KubeStatus } from "./api-status.ts";
import { kubeMetrics } from "./metrics.ts";
import type { KubeMetrics } from "./metrics.ts";
import { kubeListSchema, kubeObjectSchema } from "./object.ts";
import type { KubeObject } from "./object.ts";
import type { JsonPatchOp, MergePatch } from "./patches.ts";
import { reconcileRequestPatch } from "./reconcile-request.ts";
import type { ReconcileRequestOptions } from "./reconcile-request.ts";
import { apiVersionOf, resourceName, resourcePath } from "./resource.ts";
import type { ResourceType, Subresource } from "./resource.ts";
import { DEFAULT_RETRY_OPTIONS, runWithRetry, systemClock } from "./retry-policy.ts";
import type { AttemptResult, Failure, RetryClock, RetryOptions, RetryOutcome } from "./retry-policy.ts";
import { KubeTransportError, createTransport } from "./transport.ts";
import type { HttpResponse, Transport } from "./transport.ts";

export type KubeClientOptions = {
  /** From `loadKubeConfig`: in-cluster, a kubeconfig file, or an explicit server. */
  kubeConfig: KubeConfig;
  log: Logger;
  /** The process registry (`createMetrics().registry`); the client's metrics are added to it once. */
  registry: Registry;
  /** `fieldManager` of every write. Default `fluxgate`. */
  fieldManager?: string;
  /** Per attempt, capped by what is left of the retry deadline. Default 10 s. */
  requestTimeoutMs?: number;
  retry?: Partial<RetryOptions>;
  /** Tests pass a fake clock; default the real one. */
  clock?: RetryClock;
};

/** Per-call options. */
export type CallOptions = {
  signal?: AbortSignal;
  /** Overrides of the client's retry limits for this call. */
  retry?: Partial<RetryOptions>;
};

export type ListOptions = CallOptions & {
  /** Omit to list across all namespaces. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Items per page (`limit`); pages are fetched until the list is complete. Default 500, as kubectl. */
  pageSize?: number;
};

/** A complete list and the resourceVersion it was read at (start a watch from there). */
export type ListResult = { items: KubeObject[]; resourceVersion: string };

/** A patch body and its type; server-side apply has its own method, `apply`. */
export type Patch = { type: "merge"; body: MergePatch } | { type: "json"; ops: JsonPatchOp[] };

export type PatchOptions = CallOptions & { subresource?: Subresource };

export type ApplyOptions = CallOptions & {
  /** Take ownership of fields other managers own instead of failing with 409 (`force=true`). */
  force?: boolean;
  /** Default: the client's field manager. */
  fieldManager?: string;
  subresource?: Subresource;
};

export type WatchOptions = {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Start after this version (from a list); omit for synthetic ADDED events of everything first. */
  resourceVersion?: string;
  allowWatchBookmarks?: boolean;
  /** Asks the server to end the watch after this long. */
  timeoutSeconds?: number;
  /** Ends the watch from our side if the server has not after this long. Default `timeoutSeconds` + 30 s, or 1 h. */
  maxDurationMs?: number;
  signal?: AbortSignal;
};

/** One watch event. ERROR carries the server's Status (code 410 with reason Expired: relist). */
export type WatchEvent =
  | { type: "ADDED" | "MODIFIED" | "DELETED"; object: KubeObject }
  | { type: "BOOKMARK"; resourceVersion: string }
  | { type: "ERROR"; status: KubeStatus | undefined };

/** A Flux object by kind, namespace and name, as events and triggers name it. */
export type FluxObjectRef = { kind: FluxKindName; namespace: string; name: string };

type Verb = "get" | "list" | "create" | "update" | "patch" | "apply" | "delete" | "watch";

type CallSpec = {
  verb: Verb;
  type: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: Subresource;
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  query?: Record<string, string | undefined>;
  body?: string;
  contentType?: string;
};

/** A failed attempt, with the verb of the request that failed (read-modify-write makes two kinds). */
type CallFailure = Failure & { verb: Verb };

const watchEventSchema = z.object({ type: z.enum(["ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"]), object: z.unknown() });
const bookmarkSchema = z.object({ metadata: z.object({ resourceVersion: z.string() }) });

const CONTENT_TYPES = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
} as const;

/**
 * The client. Create one per process and share it.
 * @example
 * const kube = createKubeClient({ kubeConfig: loadKubeConfig({ from: "auto" }).kubeConfig, log, registry });
 * await kube.requestReconcile({ kind: "Kustomization", namespace: "dev", name: "apps" }, new Date());
 */
export function createKubeClient(options: KubeClientOptions): KubeClient {
  return new KubeClient(options, createTransport(options.kubeConfig));
}

export class KubeClient {
  readonly fieldManager: string;
  readonly metrics: KubeMetrics;
  readonly log: Logger;
  readonly #transport: Transport;
  readonly #retry: RetryOptions;
  readonly #clock: RetryClock;
  readonly #requestTimeoutMs: number;

  constructor(options: KubeClientOptions, transport: Transport) {
    this.fieldManager = options.fieldManager ?? "fluxgate";
    this.metrics = kubeMetrics(options.registry);
    this.log = options.log;
    this.#transport = transport;
    this.#retry = { ...DEFAULT_RETRY_OPTIONS, ...options.retry };
    this.#clock = options.clock ?? systemClock;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  /** The API server URL. */
  get server(): string {
    return this.#transport.server;
  }

  /** One object; 404 throws a `KubeApiError` with reason NotFound (see `isKubeNotFound`). */
  async get(type: ResourceType, namespace: string | undefined, name: string, options: CallOptions = {}): Promise<KubeObject> {
    const spec: CallSpec = { verb: "get", type, namespace, name, method: "GET" };
    return this.#object(spec, await this.#call(spec, options));
  }

  /** Every object (all pages), and the resourceVersion of the list. An expired `continue` token restarts the list. */
  async list(type: ResourceType, options: ListOptions = {}): Promise<ListResult> {
    for (let restarts = 0; ; restarts++) {
      const items: KubeObject[] = [];
      let resourceVersion: string | undefined;
      let token: string | undefined;
      let expired = false;
      do {
        const spec: CallSpec = {
          verb: "list",
          type,
          namespace: options.namespace,
          method: "GET",
          query: { labelSelector: options.labelSelector, fieldSelector: options.fieldSelector, limit: String(options.pageSize ?? 500), continue: token },
        };
        const outcome = await this.#attempts(spec, options);
        if (!outcome.ok && outcome.failure.status === 410 && token !== undefined && restarts < 2) {
          expired = true;
          break;
        }
        const res = this.#unwrap(spec, outcome);
        const page = this.#json(spec, res, kubeListSchema, outcome.attempts);
        resourceVersion ??= page.metadata.resourceVersion;
        for (const item of page.items) items.push(this.#item(spec, item, outcome.attempts));
        token = page.metadata.continue === "" ? undefined : page.metadata.continue;
      } while (token !== undefined);
      if (!expired) return { items, resourceVersion: resourceVersion ?? "" };
      this.log.info({ resource: resourceName(type), namespace: options.namespace }, "list continue token expired; listing again from the start");
    }
  }

  /** Creates `object` in its namespace (201). */
  async create(type: ResourceType, object: KubeObject, options: CallOptions = {}): Promise<KubeObject> {
    const spec: CallSpec = {
      verb: "create",
      type,
      namespace: this.#namespaceOf(type, object),
      method: "POST",
      query: { fieldManager: this.fieldManager },
      body: JSON.stringify(object),
      contentType: "application/json",
    };
    return this.#object(spec, await this.#call(spec, options));
  }

  /** Replaces `object` (PUT); its `metadata.resourceVersion` is required, and a stale one fails with 409 Conflict. */
  async update(type: ResourceType, object: KubeObject, options: CallOptions = {}): Promise<KubeObject> {
    const spec = this.#updateSpec(type, object);
    return this.#object(spec, await this.#call(spec, options));
  }

  /** Replaces the `status` of `object` through the status subresource; everything else it carries is ignored. */
  async updateStatus(type: ResourceType, object: KubeObject, options: CallOptions = {}): Promise<KubeObject> {
    const spec = this.#updateSpec(type, object, "status");
    return this.#object(spec, await this.#call(spec, options));
  }

  /**
   * Reads the object, lets `mutate` change a copy (return undefined to leave it; may be async), writes it back with
   * the version it read, and on 409 Conflict reads it again and calls `mutate` again, within the retry deadline.
   * @example await kube.modify(kind, "dev", "apps", (o) => ({ ...o, spec: { ...o.spec, suspend: true } }))
   */
  async modify(
    type: ResourceType,
    namespace: string | undefined,
    name: string,
    mutate: (current: KubeObject) => KubeObject | undefined | Promise<KubeObject | undefined>,
    options: CallOptions & { subresource?: Subresource } = {},
  ): Promise<KubeObject> {
    const get: CallSpec = { verb: "get", type, namespace, name, method: "GET" };
    const outcome = await runWithRetry<KubeObject, CallFailure>(
      async ({ number, remainingMs }) => {
        const read = await this.#once(get, remainingMs, options.signal);
        if (!read.ok) return read;
        const current = this.#object(get, read.value, number);
        const next = await mutate(structuredClone(current));
        if (next === undefined) return { ok: true, value: current };
        const put = this.#updateSpec(type, next, options.subresource);
        const written = await this.#once(put, remainingMs, options.signal);
        return written.ok ? { ok: true, value: this.#object(put, written.value, number) } : written;
      },
      { ...this.#runOptions(get, options), retryConflicts: true },
    );
    if (outcome.ok) return outcome.value;
    throw this.#error(outcome.failure.verb === "update" ? { ...get, subresource: options.subresource } : get, outcome);
  }

  /** A JSON merge patch or JSON Patch. A merge patch without `metadata.resourceVersion` never conflicts. */
  async patch(type: ResourceType, namespace: string | undefined, name: string, patch: Patch, options: PatchOptions = {}): Promise<KubeObject> {
    const spec: CallSpec = {
      verb: "patch",
      type,
      namespace,
      name,
      subresource: options.subresource,
      method: "PATCH",
      query: { fieldManager: this.fieldManager },
      body: JSON.stringify(patch.type === "merge" ? patch.body : patch.ops),
      contentType: CONTENT_TYPES[patch.type],
    };
    return this.#object(spec, await this.#call(spec, options));
  }

  /**
   * Server-side apply of `object` (`application/apply-patch+yaml`; JSON is YAML): creates it (201) or updates the
   * fields this manager owns. Fields owned by another manager fail with 409 unless `force`.
   */
  async apply(type: ResourceType, object: KubeObject, options: ApplyOptions = {}): Promise<KubeObject> {
    const spec: CallSpec = {
      verb: "apply",
      type,
      namespace: this.#namespaceOf(type, object),
      name: object.metadata.name,
      subresource: options.subresource,
      method: "PATCH",
      query: { fieldManager: options.fieldManager ?? this.fieldManager, force: options.force === true ? "true" : undefined },
      body: JSON.stringify(object),
      contentType: CONTENT_TYPES.apply,
    };
    return this.#object(spec, await this.#call(spec, options));
  }

  /** Deletes the object; with finalizers it stays (marked for deletion) until they are removed. */
  async delete(type: ResourceType, namespace: string | undefined, name: string, options: CallOptions = {}): Promise<void> {
    await this.#call({ verb: "delete", type, namespace, name, method: "DELETE" }, options);
  }

  /**
   * Asks Flux to reconcile the object now, as `flux reconcile` does: a merge patch of
   * `reconcile.fluxcd.io/requestedAt` (plus `forceAt`/`resetAt` for HelmRelease when asked), nothing else.
   * Returns the patched object; its `generation` is unchanged.
   * @example await kube.requestReconcile({ kind: "Kustomization", namespace: "dev", name: "apps" }, new Date())
   */
  async requestReconcile(ref: FluxObjectRef, now: Date, options: ReconcileRequestOptions & CallOptions = {}): Promise<KubeObject> {
    return this.patch(fluxKind(ref.kind), ref.namespace, ref.name, { type: "merge", body: reconcileRequestPatch(now, options) }, options);
  }

  /**
   * Opens a watch and yields its events until the server ends it (the generator returns), the connection fails
   * or it runs past `maxDurationMs` (throws `KubeApiError`, status 0), or `signal` aborts (returns). Not retried:
   * resuming is the caller's business (see `createInformer`). A non-2xx answer throws its `KubeApiError`.
   */
  async *watch(type: ResourceType, options: WatchOptions = {}): AsyncGenerator<WatchEvent, void, undefined> {
    const spec: CallSpec = {
      verb: "watch",
      type,
      namespace: options.namespace,
      method: "GET",
      query: {
        watch: "true",
        resourceVersion: options.resourceVersion,
        allowWatchBookmarks: options.allowWatchBookmarks === true ? "true" : undefined,
        timeoutSeconds: options.timeoutSeconds === undefined ? undefined : String(options.timeoutSeconds),
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
    };
    const resource = resourceName(type);
    const started = this.#clock.now();
    const attempt = { attempts: 1, elapsedMs: 0 };
    let stream;
    try {
      stream = await this.#transport.stream({ method: "GET", path: this.#path(spec), timeoutMs: this.#requestTimeoutMs, signal: options.signal });
    } catch (e) {
      if (!(e instanceof KubeTransportError)) throw e;
      this.metrics.requests.inc({ verb: "watch", resource, code: e.reason === "Timeout" ? "timeout" : "error" });
      throw this.#error(spec, { ...attempt, failure: { status: 0, reason: e.reason, message: e.message, verb: "watch" } });
    }
    this.metrics.requests.inc({ verb: "watch", resource, code: String(stream.status) });
    if ("body" in stream) {
      throw this.#error(spec, { ...attempt, elapsedMs: this.#clock.now() - started, failure: { ...failureFromResponse(stream, this.#clock.now()), verb: "watch" } });
    }
    const open = stream;
    const maxMs = options.maxDurationMs ?? (options.timeoutSeconds === undefined ? 3_600_000 : (options.timeoutSeconds + 30) * 1000);
    let overran = false;
    const cap = setTimeout(() => {
      overran = true;
      open.close();
    }, maxMs);
    const onAbort = () => open.close();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      for await (const line of open.lines()) {
        const event = this.#watchEvent(spec, line);
        if (event !== undefined) yield event;
      }
    } catch (e) {
      if (!(e instanceof KubeTransportError) || options.signal?.aborted === true) throw e;
      throw this.#error(spec, { ...attempt, elapsedMs: this.#clock.now() - started, failure: { status: 0, reason: e.reason, message: e.message, verb: "watch" } });
    } finally {
      clearTimeout(cap);
      options.signal?.removeEventListener("abort", onAbort);
      open.close();
    }
    if (overran && options.signal?.aborted !== true) {
      const message = `the server kept the watch open past ${maxMs}ms`;
      throw this.#error(spec, { ...attempt, elapsedMs: this.#clock.now() - started, failure: { status: 0, reason: "Timeout", message, verb: "watch" } });
    }
  }

  #watchEvent(spec: CallSpec, line: string): WatchEvent | undefined {
    let raw: unknown;
    try {
      raw = JSON.parse(line);
    } catch {
      this.log.warn({ resource: resourceName(spec.type), line: line.slice(0, 200) }, "watch sent a line that is not JSON; skipped");
      return undefined;
    }
    const parsed = watchEventSchema.safeParse(raw);
    if (!parsed.success) {
      this.log.warn({ resource: resourceName(spec.type), line: line.slice(0, 200) }, "watch sent an event of unknown shape; skipped");
      return undefined;
    }
    const { type, object } = parsed.data;
    if (type === "ERROR") {
      const status = statusSchema.safeParse(object);
      return { type, status: status.success ? status.data : undefined };
    }
    if (type === "BOOKMARK") {
      const b = bookmarkSchema.safeParse(object);
      if (b.success) return { type, resourceVersion: b.data.metadata.resourceVersion };
      this.log.warn({ resource: resourceName(spec.type) }, "watch sent a BOOKMARK without a resourceVersion; skipped");
      return undefined;
    }
    const obj = kubeObjectSchema.safeParse(withTypeMeta(spec.type, object));
    if (obj.success) return { type, object: obj.data };
    this.log.warn({ resource: resourceName(spec.type), type, issues: z.prettifyError(obj.error) }, "watch sent an object that does not parse; skipped");
    return undefined;
  }

  #updateSpec(type: ResourceType, object: KubeObject, subresource?: Subresource): CallSpec {
    return {
      verb: "update",
      type,
      namespace: this.#namespaceOf(type, object),
      name: object.metadata.name,
      subresource,
      method: "PUT",
      query: { fieldManager: this.fieldManager },
      body: JSON.stringify(object),
      contentType: "application/json",
    };
  }

  #namespaceOf(type: ResourceType, object: KubeObject): string | undefined {
    if (!type.namespaced) return undefined;
    const ns = object.metadata.namespace;
    if (ns === undefined || ns === "") {
      throw new FluxgateError("InvalidObject", `${resourceName(type)} "${object.metadata.name}": metadata.namespace is required for a namespaced resource`);
    }
    return ns;
  }

  #path(spec: CallSpec): string {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(spec.query ?? {})) if (v !== undefined) query.set(k, v);
    const q = query.toString();
    return resourcePath(spec.type, spec.namespace, spec.name, spec.subresource) + (q === "" ? "" : `?${q}`);
  }

  /** One HTTP exchange, counted and timed; wire failures and non-2xx answers become a `CallFailure`. */
  async #once(spec: CallSpec, remainingMs: number, signal: AbortSignal | undefined): Promise<AttemptResult<HttpResponse, CallFailure>> {
    const resource = resourceName(spec.type, spec.subresource);
    const timeoutMs = Math.min(this.#requestTimeoutMs, Math.max(remainingMs, 1000));
    const started = performance.now();
    let code = "error";
    try {
      const res = await this.#transport.request({ method: spec.method, path: this.#path(spec), body: spec.body, contentType: spec.contentType, timeoutMs, signal });
      code = String(res.status);
      if (res.status >= 200 && res.status <= 299) return { ok: true, value: res };
      return { ok: false, failure: { ...failureFromResponse(res, this.#clock.now()), verb: spec.verb } };
    } catch (e) {
      if (!(e instanceof KubeTransportError)) throw e;
      if (e.reason === "Timeout") code = "timeout";
      return { ok: false, failure: { status: 0, reason: e.reason, message: e.message, verb: spec.verb } };
    } finally {
      const seconds = (performance.now() - started) / 1000;
      this.metrics.requests.inc({ verb: spec.verb, resource, code });
      this.metrics.duration.observe({ verb: spec.verb, resource }, seconds);
      this.log.debug({ verb: spec.verb, resource, namespace: spec.namespace, name: spec.name, code, ms: Math.round(seconds * 1000) }, "kube request");
    }
  }

  #runOptions(spec: CallSpec, options: CallOptions) {
    const resource = resourceName(spec.type, spec.subresource);
    return {
      options: { ...this.#retry, ...options.retry },
      clock: this.#clock,
      signal: options.signal,
      onRetry: (r: { failure: CallFailure; cause: string; attempt: number; delayMs: number }) => {
        this.metrics.retries.inc({ verb: r.failure.verb, resource, reason: r.cause });
        this.log.warn(
          { verb: r.failure.verb, resource, namespace: spec.namespace, name: spec.name, status: r.failure.status, reason: r.failure.reason, message: r.failure.message, attempt: r.attempt, delayMs: r.delayMs },
          "Kubernetes API call failed; retrying",
        );
      },
    };
  }

  #attempts(spec: CallSpec, options: CallOptions): Promise<RetryOutcome<HttpResponse, CallFailure>> {
    return runWithRetry<HttpResponse, CallFailure>(({ remainingMs }) => this.#once(spec, remainingMs, options.signal), this.#runOptions(spec, options));
  }

  #unwrap(spec: CallSpec, outcome: RetryOutcome<HttpResponse, CallFailure>): HttpResponse & { attempts: number } {
    if (!outcome.ok) throw this.#error(spec, outcome);
    return { ...outcome.value, attempts: outcome.attempts };
  }

  async #call(spec: CallSpec, options: CallOptions): Promise<HttpResponse & { attempts: number }> {
    return this.#unwrap(spec, await this.#attempts(spec, options));
  }

  #object(spec: CallSpec, res: HttpResponse & { attempts?: number }, attempts = res.attempts ?? 1): KubeObject {
    return this.#item(spec, this.#json(spec, res, z.unknown(), attempts), attempts);
  }

  #item(spec: CallSpec, raw: unknown, attempts: number): KubeObject {
    const r = kubeObjectSchema.safeParse(withTypeMeta(spec.type, raw));
    if (r.success) return r.data;
    throw this.#invalid(spec, attempts, `the response is not a Kubernetes object: ${z.prettifyError(r.error)}`);
  }

  #json<S extends z.ZodType>(spec: CallSpec, res: HttpResponse, schema: S, attempts: number): z.infer<S> {
    let raw: unknown;
    try {
      raw = JSON.parse(res.body);
    } catch {
      throw this.#invalid(spec, attempts, `the response is not JSON: ${res.body.slice(0, 200)}`);
    }
    const r = schema.safeParse(raw);
    if (r.success) return r.data;
    throw this.#invalid(spec, attempts, `unexpected response: ${z.prettifyError(r.error)}`);
  }

  #invalid(spec: CallSpec, attempts: number, message: string): KubeApiError {
    return this.#error(spec, { attempts, elapsedMs: 0, failure: { status: 200, reason: "InvalidResponse", message, verb: spec.verb } });
  }

  #error(spec: CallSpec, outcome: { failure: CallFailure; attempts: number; elapsedMs: number; gaveUp?: string }): KubeApiError {
    const f = outcome.failure;
    const init: KubeApiErrorInit = {
      verb: f.verb,
      resource: resourceName(spec.type, spec.subresource),
      status: f.status,
      reason: f.reason,
      apiMessage: f.message,
      attempts: outcome.attempts,
      elapsedMs: outcome.elapsedMs,
    };
    if (spec.namespace !== undefined) init.namespace = spec.namespace;
    if (spec.name !== undefined) init.objectName = spec.name;
    if (outcome.gaveUp !== undefined) init.gaveUp = outcome.gaveUp;
    if (f.details !== undefined) init.details = f.details;
    return new KubeApiError(init);
  }
}

/** List items and watch objects of custom resources carry apiVersion/kind; core lists leave them out. */
function withTypeMeta(type: ResourceType, raw: unknown): unknown {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) return raw;
  return { apiVersion: apiVersionOf(type), kind: type.kind, ...raw };
}
