/**
 * The HTTP face of the emulator: routes kube-apiserver paths (RequestInfo rules) to discovery, reads, writes and
 * watches; applies injected faults; records every request; turns every failure into a `metav1.Status` body.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { load } from "js-yaml";
import type { KubeObject, StatusBody } from "./admission-types.ts";
import type { Api, Scope } from "./api.ts";
import { requestUser, type TokenUsers } from "./auth.ts";
import { apiGroup, apiGroupList, apiResourceList, apiVersions, VERSION_INFO } from "./discovery.ts";
import type { Faults } from "./faults.ts";
import { decodeKubeProtobuf } from "./protobuf.ts";
import { get, list, selectedObjects } from "./reads.ts";
import { badRequest, failure, internalError, KubeStatusError, pathNotFound, serverError, tooLarge, tooManyRequests, unsupportedMediaType, warningHeader } from "./status.ts";
import { serveWatch, type WatchSet } from "./watch.ts";
import { create, patch, remove, removeCollection, update, type WriteResult } from "./writes.ts";

/** One request as the emulator saw it (`emulator.requests`). */
export type RecordedRequest = {
  method: string;
  path: string;
  query: Record<string, string>;
  /** kube-apiserver RequestInfo verb: get, list, watch, create, update, patch, delete, deletecollection. */
  verb: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
  /** HTTP status answered (200 for a watch that started). */
  status: number;
  /** The user the request acted as. */
  user: string;
  contentType?: string;
};

/** What the REST layer needs besides the API state. */
export type RestContext = {
  api: Api;
  faults: Faults;
  requests: RecordedRequest[];
  watches: WatchSet;
  tokens: TokenUsers;
  bookmarkIntervalMs: number;
  /** `host:port` for `/api`'s serverAddressByClientCIDRs. */
  serverAddress: () => string;
};

const MAX_BODY = 3 * 1024 * 1024;
const BODY_TYPES = ["application/json", "application/yaml", "application/vnd.kubernetes.protobuf"];

type Route =
  | { kind: "discovery"; body: () => unknown }
  | { kind: "text"; body: string }
  | { kind: "resource"; group: string; version: string; resource: string; namespace?: string; name?: string; subresource?: string };

function route(ctx: RestContext, parts: string[]): Route | undefined {
  const reg = ctx.api.registry;
  if (parts.length === 1 && parts[0] === "version") return { kind: "discovery", body: () => VERSION_INFO };
  if (parts.length === 1 && (parts[0] === "healthz" || parts[0] === "livez" || parts[0] === "readyz")) return { kind: "text", body: "ok" };
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === "api") {
    if (parts.length === 1) return { kind: "discovery", body: () => apiVersions(ctx.serverAddress()) };
    group = "";
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === "apis") {
    if (parts.length === 1) return { kind: "discovery", body: () => apiGroupList(reg) };
    if (parts.length === 2) {
      const g = apiGroup(reg, parts[1]!);
      return g === undefined ? undefined : { kind: "discovery", body: () => g };
    }
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else return undefined;
  if (rest.length === 0) {
    const doc = apiResourceList(reg, group, version);
    return doc === undefined ? undefined : { kind: "discovery", body: () => doc };
  }
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length > 2 && rest[2] !== "status" && rest[2] !== "finalize") {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length > 3) return undefined;
  const r: Route = { kind: "resource", group, version, resource: rest[0]! };
  if (namespace !== undefined) r.namespace = namespace;
  if (rest[1] !== undefined) r.name = rest[1];
  if (rest[2] !== undefined) r.subresource = rest[2];
  return r;
}

function verbOf(method: string, hasName: boolean, watch: boolean): string | undefined {
  switch (method) {
    case "GET":
      return hasName ? "get" : watch ? "watch" : "list";
    case "POST":
      return hasName ? undefined : "create";
    case "PUT":
      return hasName ? "update" : undefined;
    case "PATCH":
      return hasName ? "patch" : undefined;
    case "DELETE":
      return hasName ? "delete" : "deletecollection";
    default:
      return undefined;
  }
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string | string[]> = {}): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(code, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new KubeStatusError(tooLarge(`limit is ${MAX_BODY}`)));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function parseObjectBody(bytes: Buffer, contentType: string): unknown {
  const type = contentType.split(";")[0]!.trim().toLowerCase();
  if (type === "application/vnd.kubernetes.protobuf") {
    try {
      return decodeKubeProtobuf(bytes);
    } catch {
      throw new KubeStatusError(unsupportedMediaType(BODY_TYPES));
    }
  }
  if (type !== "" && type !== "application/json" && type !== "application/yaml" && type !== "*/*") throw new KubeStatusError(unsupportedMediaType(BODY_TYPES));
  const raw = bytes.toString("utf8");
  try {
    return type === "application/yaml" ? load(raw) : JSON.parse(raw);
  } catch (e) {
    throw new KubeStatusError(badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`));
  }
}

function waitOrClose(ms: number, res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    res.on("close", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** The request listener of the emulator's HTTP(S) server. */
export function restHandler(ctx: RestContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    void handle(ctx, req, res).catch((e: unknown) => {
      const status = e instanceof KubeStatusError ? e.status : internalError(e instanceof Error ? e.message : String(e));
      send(res, status.code, status);
    });
  };
}

async function handle(ctx: RestContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://emulator");
  const method = (req.method ?? "GET").toUpperCase();
  const parts = url.pathname.split("/").filter((p) => p !== "").map((p) => decodeURIComponent(p));
  const user = requestUser(req.headers, ctx.tokens);
  const r = route(ctx, parts);
  const watchParam = url.searchParams.get("watch");
  const watch = watchParam === "true" || watchParam === "1";
  const record: RecordedRequest = {
    method,
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    verb: r?.kind === "resource" ? (verbOf(method, r.name !== undefined, watch) ?? method.toLowerCase()) : method.toLowerCase(),
    status: 0,
    user: user.username,
  };
  if (req.headers["content-type"] !== undefined) record.contentType = req.headers["content-type"];
  if (r?.kind === "resource") {
    record.resource = r.resource;
    if (r.subresource !== undefined) record.subresource = r.subresource;
    if (r.namespace !== undefined) record.namespace = r.namespace;
    if (r.name !== undefined) record.name = r.name;
  }
  ctx.requests.push(record);
  const reply = (code: number, body: unknown, headers: Record<string, string | string[]> = {}): void => {
    record.status = code;
    send(res, code, body, headers);
  };
  const replyStatus = (s: StatusBody, headers: Record<string, string | string[]> = {}): void => reply(s.code ?? 200, s, headers);

  const fault = ctx.faults.take({ verb: record.verb, ...(record.resource === undefined ? {} : { resource: record.resource }), ...(record.namespace === undefined ? {} : { namespace: record.namespace }), ...(record.name === undefined ? {} : { name: record.name }) });
  if (fault !== undefined) {
    if ("hangMs" in fault) {
      await waitOrClose(fault.hangMs, res);
      if (res.destroyed || res.writableEnded) return;
    } else if (fault.status === 429) {
      const retry = fault.retryAfterSeconds;
      const headers: Record<string, string> = retry === undefined ? {} : { "Retry-After": String(retry) };
      if (fault.plainText === true) {
        record.status = 429;
        res.writeHead(429, { "Content-Type": "text/plain; charset=utf-8", "X-Content-Type-Options": "nosniff", "Retry-After": String(retry ?? 1) });
        res.end("Too many requests, please try again later.\n");
      } else replyStatus(tooManyRequests(retry), headers);
      return;
    } else {
      replyStatus(serverError(fault.status));
      return;
    }
  }

  try {
    if (r === undefined) {
      replyStatus(pathNotFound());
      return;
    }
    if (r.kind === "text") {
      record.status = 200;
      res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(r.body);
      return;
    }
    if (r.kind === "discovery") {
      if (method !== "GET") {
        replyStatus(failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}));
        return;
      }
      reply(200, r.body());
      return;
    }
    const def = ctx.api.registry.get(r.group, r.version, r.resource);
    if (def === undefined || (r.subresource !== undefined && !(r.subresource === "status" && def.statusSubresource))) {
      replyStatus(pathNotFound());
      return;
    }
    const namespace = def.namespaced ? r.namespace : undefined;
    if ((!def.namespaced && r.namespace !== undefined) || (def.namespaced && r.namespace === undefined && r.name !== undefined)) {
      replyStatus(pathNotFound());
      return;
    }
    const verb = verbOf(method, r.name !== undefined, watch);
    if (verb === undefined || (def.namespaced && namespace === undefined && (verb === "create" || verb === "deletecollection"))) {
      replyStatus(failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {}));
      return;
    }
    const scope: Scope = { def, user, query: url.searchParams, userAgent: String(req.headers["user-agent"] ?? "") };
    if (namespace !== undefined) scope.namespace = namespace;
    if (r.name !== undefined) scope.name = r.name;
    if (r.subresource === "status") scope.subresource = "status";
    const contentType = String(req.headers["content-type"] ?? "");
    let result: WriteResult;
    switch (verb) {
      case "get":
        reply(200, get(ctx.api, scope));
        return;
      case "list":
        reply(200, list(ctx.api, scope));
        return;
      case "watch":
        record.status = 200;
        serveWatch(ctx.api, scope, res, ctx.watches, { bookmarkIntervalMs: ctx.bookmarkIntervalMs });
        return;
      case "create":
        result = await create(ctx.api, scope, parseObjectBody(await readBody(req), contentType));
        break;
      case "update":
        result = await update(ctx.api, scope, parseObjectBody(await readBody(req), contentType));
        break;
      case "patch":
        result = await patch(ctx.api, scope, contentType, (await readBody(req)).toString("utf8"));
        break;
      case "delete":
        result = await remove(ctx.api, scope, (await readBody(req)).toString("utf8"));
        break;
      default: {
        const raw = (await readBody(req)).toString("utf8");
        result = await removeCollection(ctx.api, scope, raw, selectedObjects(ctx.api, scope) as KubeObject[]);
      }
    }
    const headers: Record<string, string | string[]> = result.warnings.length === 0 ? {} : { Warning: result.warnings.map(warningHeader) };
    reply(result.code, result.body, headers);
  } catch (e) {
    if (e instanceof KubeStatusError) {
      replyStatus(e.status, e.headers);
      return;
    }
    throw e;
  }
}
