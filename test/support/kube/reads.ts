/**
 * get and list (admission.md §5.4): selectors, `limit`/`continue` pages that all report the first page's
 * resourceVersion (later pages are read at that revision, rebuilt from the store's history), 410 once that
 * history is gone, exact-revision lists.
 */
import type { KubeObject } from "./admission-types.ts";
import { type Api, apiVersionOf, atVersion, metaOf, type Scope } from "./api.ts";
import { type FieldSelector, type LabelSelector, parseFieldSelector, parseLabelSelector, SelectorError } from "./selectors.ts";
import { badRequest, expired, KubeStatusError, notFound } from "./status.ts";
import { itemKey, RevisionCompactedError } from "./store.ts";

const CONTINUE_EXPIRED =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue parameter from the response.";

/** Label and field selectors of a list or watch request (400 on a bad one). */
export function selectorsOf(scope: Scope): { label: LabelSelector; field: FieldSelector } {
  try {
    return {
      label: parseLabelSelector(scope.query.get("labelSelector") ?? ""),
      field: parseFieldSelector(scope.query.get("fieldSelector") ?? "", scope.def.selectableFields),
    };
  } catch (e) {
    if (e instanceof SelectorError) throw new KubeStatusError(badRequest(e.message));
    throw e;
  }
}

/** Whether an object passes both selectors. */
export function selected(sel: { label: LabelSelector; field: FieldSelector }, obj: KubeObject): boolean {
  return sel.label.matches(metaOf(structuredClone(obj)).labels as Record<string, string> | undefined) && sel.field.matches(obj);
}

/** `GET` of one object. */
export function get(api: Api, scope: Scope): KubeObject {
  const def = scope.def;
  const o = api.store.get(def.group, def.resource, scope.namespace ?? "", scope.name!);
  if (o === undefined) throw new KubeStatusError(notFound({ group: def.group, resource: def.resource }, scope.name!));
  return atVersion(o, def);
}

type ContinueToken = { v: string; rv: number; start: string };

function encodeContinue(rv: number, lastKey: string): string {
  return Buffer.from(JSON.stringify({ v: "meta.k8s.io/v1", rv, start: `${lastKey}\u0000` })).toString("base64url");
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as ContinueToken;
    if (t.v !== "meta.k8s.io/v1" || typeof t.rv !== "number" || typeof t.start !== "string") throw new Error("bad token");
    return t;
  } catch {
    throw new KubeStatusError(badRequest(`continue key is not valid: ${token}`));
  }
}

function keyOf(o: KubeObject): string {
  const m = metaOf(o);
  return itemKey(String(m.namespace ?? ""), String(m.name));
}

/** The objects of a list/watch scope at `rv` (current when undefined), selectors applied, in key order. */
export function selectedObjects(api: Api, scope: Scope, rv?: number): KubeObject[] {
  const def = scope.def;
  const sel = selectorsOf(scope);
  const all = rv === undefined ? api.store.list(def.group, def.resource, scope.namespace) : api.store.listAt(def.group, def.resource, rv, scope.namespace);
  return all.filter((o) => selected(sel, o));
}

/** `GET` of a collection. Built-in list items carry no apiVersion/kind (typed lists); CR list items do. */
export function list(api: Api, scope: Scope): KubeObject {
  const def = scope.def;
  const q = scope.query;
  const limitParam = q.get("limit");
  const limit = limitParam === null || limitParam === "" ? 0 : Number(limitParam);
  if (!Number.isInteger(limit) || limit < 0) throw new KubeStatusError(badRequest(`limit: Invalid value: ${JSON.stringify(limitParam)}: must be a non-negative integer`));
  const cont = q.get("continue") ?? "";
  const rvParam = q.get("resourceVersion") ?? "";
  const rvMatch = q.get("resourceVersionMatch") ?? "";
  let readAt: number | undefined;
  let after = "";
  if (cont !== "") {
    if (rvParam !== "" && rvParam !== "0") throw new KubeStatusError(badRequest("specifying resource version is not allowed when using continue"));
    const t = decodeContinue(cont);
    if (t.rv < api.store.oldestRevision) throw new KubeStatusError(expired(CONTINUE_EXPIRED));
    readAt = t.rv;
    after = t.start;
  } else if (rvParam !== "" && rvParam !== "0" && (rvMatch === "Exact" || (limit > 0 && rvMatch === ""))) {
    const n = Number(rvParam);
    if (!Number.isInteger(n) || n < 0) throw new KubeStatusError(badRequest(`resourceVersion: Invalid value: ${JSON.stringify(rvParam)}: must be a non-negative integer`));
    readAt = n;
  }
  let items: KubeObject[];
  try {
    items = selectedObjects(api, scope, readAt);
  } catch (e) {
    if (e instanceof RevisionCompactedError) {
      throw new KubeStatusError(cont !== "" ? expired(CONTINUE_EXPIRED) : expired(`too old resource version: ${readAt} (${e.oldest})`));
    }
    throw e;
  }
  const listRv = readAt ?? api.store.revision;
  if (after !== "") items = items.filter((o) => `${keyOf(o)}\u0000` > after);
  // resourceVersion=0 is served from the watch cache, which ignores limit.
  const pageSize = rvParam === "0" && cont === "" ? 0 : limit;
  const metadata: KubeObject = { resourceVersion: String(listRv) };
  if (pageSize > 0 && items.length > pageSize) {
    const rest = items.length - pageSize;
    items = items.slice(0, pageSize);
    metadata.continue = encodeContinue(listRv, keyOf(items[items.length - 1]!));
    if (q.get("labelSelector") === null && q.get("fieldSelector") === null) metadata.remainingItemCount = rest;
  }
  const typedList = def.crd === undefined;
  return {
    apiVersion: apiVersionOf(def.group, def.version),
    kind: def.listKind,
    metadata,
    items: items.map((o) => {
      const v = atVersion(o, def);
      if (typedList) {
        delete v.apiVersion;
        delete v.kind;
      }
      return v;
    }),
  };
}
