/**
 * The one error hierarchy of Fluxgate. Callers branch on the class (or the predicates below), never on message
 * text; the HTTP layer turns these into responses in one place (`src/server/error-response.ts`), the CLI into exit
 * codes (`src/cli/main.ts`).
 */

/** Base class: every error Fluxgate raises on purpose. `reason` is a stable machine-readable code. */
export class FluxgateError extends Error {
  override name = "FluxgateError";
  readonly reason: string;
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.reason = reason;
  }
}

/**
 * Something a client sent that we refuse; carries the HTTP status to answer with.
 * @example throw new RequestError(413, "RequestEntityTooLarge", "body is 4 MiB; the limit is 3 MiB")
 */
export class RequestError extends FluxgateError {
  override name = "RequestError";
  readonly status: number;
  /** Extra response headers, e.g. `Retry-After` on 503. */
  readonly headers: Record<string, string>;
  constructor(status: number, reason: string, message: string, options?: { cause?: unknown; headers?: Record<string, string> }) {
    super(reason, message, options);
    this.status = status;
    this.headers = options?.headers ?? {};
  }
}

/** One problem found in a configuration file: where it is and what was expected there. */
export type ConfigIssue = {
  /** Dotted key path, e.g. `listen.admission` or `tenants[2].name`; empty for the document root. */
  path: string;
  message: string;
  /** 1-based line in the file, when it could be located. */
  line?: number;
};

/**
 * A configuration file that cannot be used. The message names the file, every key path and what was expected,
 * e.g. `fluxgate.yaml:3: listen.admission: expected an address like ":9443" or "127.0.0.1:9443", got 9443`.
 */
export class ConfigError extends FluxgateError {
  override name = "ConfigError";
  readonly file: string;
  readonly issues: ConfigIssue[];
  constructor(file: string, issues: ConfigIssue[], options?: { cause?: unknown }) {
    super("InvalidConfig", formatConfigIssues(file, issues), options);
    this.file = file;
    this.issues = issues;
  }
}

/** A command line that cannot be run as given (unknown flag, missing value): exit code 2. */
export class UsageError extends FluxgateError {
  override name = "UsageError";
  constructor(message: string) {
    super("Usage", message);
  }
}

/** A dependency we need (NATS, the Kubernetes API, a certificate file) is not usable right now. */
export class UnavailableError extends FluxgateError {
  override name = "UnavailableError";
  constructor(reason: string, message: string, options?: { cause?: unknown }) {
    super(reason, message, options);
  }
}

/** What a failed Kubernetes API call was, and what came back; see `KubeApiError`. */
export type KubeApiErrorInit = {
  verb: string;
  /** `plural.group`, with `/status` for the subresource: `kustomizations.kustomize.toolkit.fluxcd.io`. */
  resource: string;
  namespace?: string;
  objectName?: string;
  /** HTTP status; 0 when no response came (connection refused or reset, timed out). */
  status: number;
  /** The Status body's reason (`NotFound`, `Conflict`, `TooManyRequests` …), else one derived from `status`, or `ConnectionError`/`Timeout`. */
  reason: string;
  /** The server's own message (Status `message`, or the plain-text body), or what went wrong on the wire. */
  apiMessage: string;
  /** Requests made, the first included. */
  attempts: number;
  elapsedMs: number;
  /** Set when retryable failures ran out of attempts or time: "gave up after 6 attempts in 30s". */
  gaveUp?: string;
  /** The Status body's `details` (`causes` for Invalid and apply conflicts, `retryAfterSeconds` …). */
  details?: unknown;
  cause?: unknown;
};

/**
 * A Kubernetes API call that failed, or kept failing until its retry deadline. The message says what and why:
 * `patch kustomizations.kustomize.toolkit.fluxcd.io dev/apps: gave up after 6 attempts in 30s: 503 ServiceUnavailable: etcdserver: leader changed`.
 * The object's name is `objectName` because `name` is the error class name on every `Error`.
 */
export class KubeApiError extends FluxgateError {
  override name = "KubeApiError";
  readonly verb: string;
  readonly resource: string;
  readonly namespace: string | undefined;
  readonly objectName: string | undefined;
  readonly status: number;
  readonly apiMessage: string;
  readonly attempts: number;
  readonly elapsedMs: number;
  readonly gaveUp: string | undefined;
  readonly details: unknown;
  constructor(init: KubeApiErrorInit) {
    super(init.reason, formatKubeApiError(init), { cause: init.cause });
    this.verb = init.verb;
    this.resource = init.resource;
    this.namespace = init.namespace;
    this.objectName = init.objectName;
    this.status = init.status;
    this.apiMessage = init.apiMessage;
    this.attempts = init.attempts;
    this.elapsedMs = init.elapsedMs;
    this.gaveUp = init.gaveUp;
    this.details = init.details;
  }
}

export const isKubeApiError = (e: unknown): e is KubeApiError => e instanceof KubeApiError;
/** True for a Kubernetes `NotFound` (404): the object (or its namespace) does not exist. */
export const isKubeNotFound = (e: unknown): boolean => e instanceof KubeApiError && e.status === 404;
export const isRequestError = (e: unknown): e is RequestError => e instanceof RequestError;
export const isConfigError = (e: unknown): e is ConfigError => e instanceof ConfigError;
export const isUsageError = (e: unknown): e is UsageError => e instanceof UsageError;

function formatConfigIssues(file: string, issues: ConfigIssue[]): string {
  const lines = issues.map((i) => {
    const where = i.line === undefined ? file : `${file}:${i.line}`;
    return `${where}: ${i.path === "" ? "(top level)" : i.path}: ${i.message}`;
  });
  return lines.length === 1 ? `invalid configuration ${lines[0]}` : `invalid configuration in ${file}:\n  ${lines.join("\n  ")}`;
}

function formatKubeApiError(i: KubeApiErrorInit): string {
  const target = i.objectName !== undefined ? ` ${i.namespace === undefined ? "" : `${i.namespace}/`}${i.objectName}` : i.namespace !== undefined ? ` in namespace ${i.namespace}` : "";
  const status = i.status === 0 ? i.reason : `${i.status} ${i.reason}`;
  return `${i.verb} ${i.resource}${target}: ${i.gaveUp === undefined ? "" : `${i.gaveUp}: `}${status}: ${i.apiMessage}`;
}
