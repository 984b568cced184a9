/**
 * `GET /status` (server-rendered HTML, no build step) and `GET /status.json` on the health listener: what this
 * process runs and sees — versions, readiness, tenants, every deployment window open or closed with its next
 * transition in the window's zone, the triggers the worker holds, and the last deliveries with the objects they
 * targeted and what became of them.
 */
import type { Logger } from "pino";
import type { HeldTrigger, TriggerOutcome } from "../apply/applier.ts";
import { objectRefKey } from "../apply/inventory-object.ts";
import type { RoutedTarget } from "../apply/router.ts";
import type { ChangeEvent } from "../events/change-event.ts";
import type { Trigger } from "../events/trigger.ts";
import type { Policy } from "../policy/tenancy.ts";
import { windowActivity } from "../policy/windows.ts";
import { formatInZone } from "../policy/zoned-time.ts";
import { REVISION, VERSION, runtime } from "../version.ts";
import { baseApp } from "./app.ts";
import type { Readiness } from "./readiness.ts";

/** An object a delivery's events concern, and what became of its trigger so far. */
export type DeliveryTarget = { object: string; outcome: string };

/**
 * One delivery: as the receiver answered it, and — in a process that also runs the worker — the objects its events
 * targeted and what became of them. `status` and `result` are missing for events this process only routed (the
 * receiver that answered runs elsewhere).
 */
export type DeliveryRecord = {
  at: string;
  receiver: string;
  provider: string;
  eventType: string;
  status?: number;
  result?: string;
  events: string[];
  reason?: string;
  targets?: DeliveryTarget[];
};

export type DeliveryLog = {
  /** A delivery the receiver answered. */
  record(d: DeliveryRecord): void;
  /** The objects an event was routed to (the router). */
  routed(event: ChangeEvent, targets: readonly RoutedTarget[]): void;
  /** What became of the trigger an event carries (the applier). */
  outcome(trigger: Trigger, outcome: TriggerOutcome): void;
  /** Newest first. */
  list(): DeliveryRecord[];
};

const ROUTED_STATE: Record<RoutedTarget["state"], string> = {
  triggered: "triggered",
  coalesced: "coalesced into a newer event's trigger",
  suspended: "skipped: suspended",
};

/** The words the page shows for an applier outcome. */
export function describeOutcome(o: TriggerOutcome): string {
  switch (o.result) {
    case "requested":
      return "reconcile requested";
    case "would-request":
      return "dry run: reconcile would be requested";
    case "held":
      return `held until ${o.until} (deployment window closed)`;
    case "waiting":
      return `waiting for Flux to handle the previous request (at most until ${o.deadline})`;
    case "skipped":
      return `skipped: ${o.reason}`;
    case "gone":
      return "object gone";
    case "superseded":
      return "superseded by a newer event";
    case "failed":
      return `failed; retried in ${Math.round(o.retryMs / 1000)} s`;
  }
}

/** The last `size` deliveries, newest first, with their targets as the worker of this process reports them. */
export function deliveryLog(size = 100): DeliveryLog {
  // A ring, oldest at `next`: the worker adds an entry per routed event, so adding must not move the others.
  const entries: Array<DeliveryRecord | undefined> = new Array<DeliveryRecord | undefined>(size);
  let next = 0;
  const byEvent = new Map<string, DeliveryRecord>();
  const add = (d: DeliveryRecord) => {
    for (const id of entries[next]?.events ?? []) if (byEvent.get(id) === entries[next]) byEvent.delete(id);
    entries[next] = d;
    next = (next + 1) % size;
    for (const id of d.events) byEvent.set(id, d);
  };
  const newestFirst = (): DeliveryRecord[] => {
    const out: DeliveryRecord[] = [];
    for (let i = 1; i <= size; i++) {
      const d = entries[(next - i + size) % size];
      if (d !== undefined) out.push(d);
    }
    return out;
  };
  /** The entry of an event; a new one (answered elsewhere, or not recorded yet) from the event itself. */
  const entryFor = (e: Pick<ChangeEvent, "id" | "receivedAt" | "receiver" | "provider">, eventType: string): DeliveryRecord => {
    let d = byEvent.get(e.id);
    if (d === undefined) {
      d = { at: e.receivedAt, receiver: `${e.receiver.namespace}/${e.receiver.name}`, provider: e.provider, eventType, events: [e.id] };
      add(d);
    }
    return d;
  };
  return {
    record(d) {
      // The worker may have routed the event before the receiver got to record its answer (in-process bus).
      const early = d.events.map((id) => byEvent.get(id)).find((x) => x !== undefined);
      if (early === undefined) return add({ ...d });
      Object.assign(early, { ...d, targets: early.targets });
      for (const id of d.events) byEvent.set(id, early);
    },
    routed(event, targets) {
      const d = entryFor(event, event.eventType);
      // Merged by object: a delivery's other events add theirs, and on the in-process bus the applier can report
      // before the router does (what it said is kept).
      d.targets ??= [];
      for (const t of targets) {
        const known = d.targets.find((x) => x.object === t.object);
        if (known === undefined) d.targets.push({ object: t.object, outcome: ROUTED_STATE[t.state] });
        else if (t.state !== "triggered") known.outcome = ROUTED_STATE[t.state];
      }
    },
    outcome(trigger, outcome) {
      const d = entryFor(trigger.event, trigger.event.kind);
      const object = objectRefKey(trigger.target);
      d.targets ??= [];
      const target = d.targets.find((t) => t.object === object);
      if (target === undefined) d.targets.push({ object, outcome: describeOutcome(outcome) });
      else target.outcome = describeOutcome(outcome);
    },
    list: () => newestFirst().map((d) => ({ ...d, ...(d.targets === undefined ? {} : { targets: d.targets.map((t) => ({ ...t })) }) })),
  };
}

export type StatusOptions = {
  log: Logger;
  readiness: Readiness;
  roles: readonly string[];
  policy: () => Policy;
  deliveries: () => DeliveryRecord[];
  /** Triggers the worker of this process holds; none when it runs no worker. */
  held?: () => HeldTrigger[];
  now?: () => Date;
};

export type StatusData = {
  fluxgate: { version: string; revision: string; runtime: string; runtimeVersion: string; roles: string[] };
  ready: boolean;
  checks: Array<{ name: string; ready: boolean; reason: string }>;
  tenants: Array<{ name: string; namespaces: string[]; serviceAccountName: string }>;
  windows: Array<{ name: string; kind: string; timeZone: string; active: boolean; nextTransition?: string; nextTransitionUtc?: string }>;
  held: HeldTrigger[];
  deliveries: DeliveryRecord[];
  generatedAt: string;
};

/** The data both representations show. */
export function statusData(o: StatusOptions): StatusData {
  const now = (o.now ?? (() => new Date()))();
  const rt = runtime();
  const policy = o.policy();
  return {
    fluxgate: { version: VERSION, revision: REVISION, runtime: rt.name, runtimeVersion: rt.version, roles: [...o.roles] },
    ready: o.readiness.ready,
    checks: o.readiness.checks().map((c) => ({ name: c.name, ready: c.ready, reason: c.reason })),
    tenants: policy.tenants.map((t) => ({ name: t.name, namespaces: [...t.namespaces], serviceAccountName: t.serviceAccountName })),
    windows: policy.windows.map((w) => {
      const a = windowActivity(w, now);
      const zone = w.timeZone;
      return {
        name: w.name,
        kind: w.kind,
        timeZone: zone,
        active: a.active,
        ...(a.changesAt === undefined ? {} : { nextTransition: formatInZone(a.changesAt, zone), nextTransitionUtc: a.changesAt.toISOString() }),
      };
    }),
    held: o.held?.() ?? [],
    deliveries: o.deliveries(),
    generatedAt: now.toISOString(),
  };
}

const escape = (v: unknown): string =>
  String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] ?? c);

function table(headers: string[], rows: unknown[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${escape(empty)}</p>`;
  const head = headers.map((h) => `<th>${escape(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join("")}</tr>`).join("\n");
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function targetsText(targets: DeliveryTarget[] | undefined): string {
  if (targets === undefined) return "";
  if (targets.length === 0) return "no Flux object concerned";
  return targets.map((t) => `${t.object}: ${t.outcome}`).join("\n");
}

/** The HTML page for `data`; every value is escaped. */
export function statusHtml(d: StatusData): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fluxgate status</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top;white-space:pre-line}th{background:#f3f3f3}.ok{color:#176f2c}.bad{color:#b00020}.empty{color:#777}</style>
</head><body>
<h1>Fluxgate ${escape(d.fluxgate.version)} <span class="${d.ready ? "ok" : "bad"}">${d.ready ? "ready" : "not ready"}</span></h1>
<p>revision ${escape(d.fluxgate.revision)} · ${escape(d.fluxgate.runtime)} ${escape(d.fluxgate.runtimeVersion)} · roles ${escape(d.fluxgate.roles.join(", "))} · ${escape(d.generatedAt)}</p>
<h2>Readiness</h2>
${table(["check", "state", "reason"], d.checks.map((c) => [c.name, c.ready ? "ok" : "failed", c.reason]), "no checks registered")}
<h2>Tenants</h2>
${table(["tenant", "namespaces", "service account"], d.tenants.map((t) => [t.name, t.namespaces.join(", "), t.serviceAccountName]), "no tenants: the policy judges nothing")}
<h2>Deployment windows</h2>
${table(["window", "kind", "now", "next transition"], d.windows.map((w) => [w.name, w.kind, w.active ? "active" : "inactive", w.nextTransition ?? "none within 400 days"]), "no deployment windows")}
<h2>Held triggers</h2>
${table(["object", "held for", "until", "event", "change", "since"], d.held.map((h) => [h.object, h.reason === "window" ? "deployment window" : "previous request", h.until ?? "", h.event, h.change ?? "", h.since]), "no triggers held")}
<h2>Last deliveries</h2>
${table(["received", "receiver", "provider", "event", "answer", "events / reason", "targets"], d.deliveries.map((x) => [x.at, x.receiver, x.provider, x.eventType, x.status === undefined ? "(answered by another process)" : `${x.status} ${x.result ?? ""}`, x.events.length > 0 ? x.events.join(" ") : (x.reason ?? ""), targetsText(x.targets)]), "no deliveries yet")}
</body></html>
`;
}

/** The routes, to `.use()` on the health listener's app. */
export function statusApp(o: StatusOptions) {
  return baseApp("status", o.log)
    .get("/status.json", () => Response.json(statusData(o)))
    .get("/status", () => new Response(statusHtml(statusData(o)), { headers: { "content-type": "text/html; charset=utf-8" } }));
}
