/**
 * `GET /status` (server-rendered HTML, no build step) and `GET /status.json` on the health listener: what this
 * process runs and sees — versions, readiness, tenants, every deployment window open or closed with its next
 * transition in the window's zone, and the last deliveries the receiver answered.
 */
import type { Logger } from "pino";
import type { Policy } from "../policy/tenancy.ts";
import { windowActivity } from "../policy/windows.ts";
import { formatInZone } from "../policy/zoned-time.ts";
import { REVISION, VERSION, runtime } from "../version.ts";
import { baseApp } from "./app.ts";
import type { Readiness } from "./readiness.ts";

/** One answered delivery, as the receiver records it. */
export type DeliveryRecord = { at: string; receiver: string; provider: string; eventType: string; status: number; result: string; events: string[]; reason?: string };

/** The last `size` deliveries, newest first. */
export function deliveryLog(size = 100): { record(d: DeliveryRecord): void; list(): DeliveryRecord[] } {
  const entries: DeliveryRecord[] = [];
  return {
    record(d) {
      entries.unshift(d);
      if (entries.length > size) entries.length = size;
    },
    list: () => [...entries],
  };
}

export type StatusOptions = {
  log: Logger;
  readiness: Readiness;
  roles: readonly string[];
  policy: () => Policy;
  deliveries: () => DeliveryRecord[];
  now?: () => Date;
};

export type StatusData = {
  fluxgate: { version: string; revision: string; runtime: string; runtimeVersion: string; roles: string[] };
  ready: boolean;
  checks: Array<{ name: string; ready: boolean; reason: string }>;
  tenants: Array<{ name: string; namespaces: string[]; serviceAccountName: string }>;
  windows: Array<{ name: string; kind: string; timeZone: string; active: boolean; nextTransition?: string; nextTransitionUtc?: string }>;
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

/** The HTML page for `data`; every value is escaped. */
export function statusHtml(d: StatusData): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fluxgate status</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}.ok{color:#176f2c}.bad{color:#b00020}.empty{color:#777}</style>
</head><body>
<h1>Fluxgate ${escape(d.fluxgate.version)} <span class="${d.ready ? "ok" : "bad"}">${d.ready ? "ready" : "not ready"}</span></h1>
<p>revision ${escape(d.fluxgate.revision)} · ${escape(d.fluxgate.runtime)} ${escape(d.fluxgate.runtimeVersion)} · roles ${escape(d.fluxgate.roles.join(", "))} · ${escape(d.generatedAt)}</p>
<h2>Readiness</h2>
${table(["check", "state", "reason"], d.checks.map((c) => [c.name, c.ready ? "ok" : "failed", c.reason]), "no checks registered")}
<h2>Tenants</h2>
${table(["tenant", "namespaces", "service account"], d.tenants.map((t) => [t.name, t.namespaces.join(", "), t.serviceAccountName]), "no tenants: the policy judges nothing")}
<h2>Deployment windows</h2>
${table(["window", "kind", "now", "next transition"], d.windows.map((w) => [w.name, w.kind, w.active ? "active" : "inactive", w.nextTransition ?? "none within 400 days"]), "no deployment windows")}
<h2>Last deliveries</h2>
${table(["received", "receiver", "provider", "event", "answer", "events / reason"], d.deliveries.map((x) => [x.at, x.receiver, x.provider, x.eventType, `${x.status} ${x.result}`, x.events.length > 0 ? x.events.join(" ") : (x.reason ?? "")]), "no deliveries yet")}
</body></html>
`;
}

/** The routes, to `.use()` on the health listener's app. */
export function statusApp(o: StatusOptions) {
  return baseApp("status", o.log)
    .get("/status.json", () => Response.json(statusData(o)))
    .get("/status", () => new Response(statusHtml(statusData(o)), { headers: { "content-type": "text/html; charset=utf-8" } }));
}
