/**
 * `fluxgate serve`: runs the configured roles until SIGTERM/SIGINT, then shuts down gracefully. With no flags and
 * no file it runs the embedded mode: every role, self-signed certificates, the in-process bus.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { LevelWithSilent } from "pino";
import { configPath, loadConfig } from "../config/load.ts";
import { LOG_LEVELS, ROLES, listenAddress } from "../config/schema.ts";
import type { Config, Role } from "../config/schema.ts";
import { watchConfig } from "../config/watch-config.ts";
import { UsageError } from "../errors.ts";
import { createLogger } from "../observability/logger.ts";
import type { Logger } from "../observability/logger.ts";
import { startServer } from "../server/start.ts";
import type { RouteSet, StartOptions } from "../server/start.ts";
import { REVISION, VERSION, runtime } from "../version.ts";
import type { Command, Io, ParsedArgs } from "./command.ts";
import { stringFlag } from "./command.ts";

const ADDR_FLAGS = { "admission-addr": "admission", "receiver-addr": "receiver", "metrics-addr": "metrics", "health-addr": "health" } as const;

export const serveCommand: Command = {
  name: "serve",
  summary: "Run the admission gate, webhook receiver and apply worker",
  help: `Usage: fluxgate serve [flags]

Runs the roles named in the configuration (all of them by default) until SIGTERM or SIGINT, then stops
accepting, lets in-flight requests finish (http.shutdownTimeout) and exits 0.

With no configuration file this is the embedded mode: admission (HTTPS :9443, self-signed certificate created
under .fluxgate/certs on first start and reused after), receiver (:9292), metrics (:8080/metrics), health
(:9440/healthz, /readyz, /status) and the in-process bus. Without a cluster either, it is the trial: the
manifests in examples/trial stand in for one (a GitHub Receiver with a public token, a tenant, a window) and
the worker logs the reconciles it would request.

Flags:
  -c, --config <file>        configuration file (YAML); env FLUXGATE_CONFIG; reloaded when it changes
      --roles <list>         comma-separated roles to run: ${ROLES.join(",")} (overrides the file)
      --admission-addr <a>   admission HTTPS listener, e.g. :9443 or 127.0.0.1:9443
      --receiver-addr <a>    webhook receiver listener (default :9292)
      --metrics-addr <a>     Prometheus metrics listener (default :8080)
      --health-addr <a>      /healthz and /readyz listener (default :9440)
      --log-level <level>    ${LOG_LEVELS.join(", ")} (default info)
      --manifests <dir>      read Flux objects, Receivers with their Secrets and FluxgatePolicies from these YAML
                             files instead of a cluster; the worker only logs the reconciles it would request
  -h, --help                 this help

Examples:
  fluxgate serve
  fluxgate serve --config /etc/fluxgate/config.yaml
  fluxgate serve --roles receiver --receiver-addr :9292 --health-addr :9440
  fluxgate serve --manifests ./clusters/staging --log-level debug
`,
  options: {
    config: { type: "string", short: "c" },
    roles: { type: "string" },
    "admission-addr": { type: "string" },
    "receiver-addr": { type: "string" },
    "metrics-addr": { type: "string" },
    "health-addr": { type: "string" },
    "log-level": { type: "string" },
    manifests: { type: "string" },
  },
  run: (args, io) => runServe(args, io),
};

/** Flag values, checked once; applied to the file's config on start and after every reload. */
function flagOverrides(args: ParsedArgs): (c: Config) => Config {
  const listen: Partial<Config["listen"]> = {};
  for (const [flag, key] of Object.entries(ADDR_FLAGS)) {
    const v = stringFlag(args, flag);
    if (v === undefined) continue;
    const r = listenAddress.safeParse(v);
    if (!r.success) throw new UsageError(`--${flag}: ${r.error.issues[0]?.message ?? "invalid address"}`);
    listen[key] = r.data;
  }
  let roles: Role[] | undefined;
  const rolesFlag = stringFlag(args, "roles");
  if (rolesFlag !== undefined) {
    const list = rolesFlag.split(",").map((r) => r.trim()).filter((r) => r !== "");
    const bad = list.filter((r) => !(ROLES as readonly string[]).includes(r));
    if (list.length === 0 || bad.length > 0) throw new UsageError(`--roles: expected a comma-separated list of ${ROLES.join(", ")}, got "${rolesFlag}"`);
    roles = [...new Set(list)] as Role[];
  }
  const level = stringFlag(args, "log-level");
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level: expected one of ${LOG_LEVELS.join(", ")}, got "${level}"`);
  }
  return (c) => ({
    ...c,
    ...(roles === undefined ? {} : { roles }),
    listen: { ...c.listen, ...listen },
    log: level === undefined ? c.log : { ...c.log, level: level as LevelWithSilent },
  });
}

/** The example the trial reads when there is no configuration file and no cluster. */
export const TRIAL_MANIFESTS = fileURLToPath(new URL("../../examples/trial", import.meta.url));

/** `--manifests` always wins; with no configuration file, the trial's example stands in for a missing cluster. */
function manifestsOption(flag: string | undefined, file: string | undefined, cwd: string): { manifests?: StartOptions["manifests"] } {
  if (flag !== undefined) return { manifests: { dir: resolve(cwd, flag), when: "always" } };
  if (file === undefined) return { manifests: { dir: TRIAL_MANIFESTS, when: "no-cluster" } };
  return {};
}

export type ServeHooks = {
  /** Routes of later roles; tests inject slow routes to prove draining. */
  routes?: RouteSet;
  /** Called once everything listens (tests read the ports from here). */
  onStarted?: (info: { listeners: Record<string, string> }) => void;
  /** Where logs go; stdout by default. */
  logger?: Logger;
};

/** The body of `fluxgate serve`, with hooks for tests. Resolves with the exit code after shutdown. */
export async function runServe(args: ParsedArgs, io: Io, hooks: ServeHooks = {}): Promise<number> {
  const override = flagOverrides(args);
  const file = configPath(stringFlag(args, "config"), io.env, io.cwd);
  const config = override(await loadConfig(file));
  const log = hooks.logger ?? createLogger({ level: config.log.level });
  log.level = config.log.level;
  const rt = runtime();
  log.info({ version: VERSION, revision: REVISION, runtime: rt.name, runtimeVersion: rt.version, config: file ?? "(embedded defaults)", roles: config.roles }, "starting fluxgate");

  const server = await startServer(config, {
    log,
    baseDir: file === undefined ? io.cwd : dirname(file),
    env: io.env,
    ...(file === undefined ? {} : { configFile: file }),
    ...(hooks.routes === undefined ? {} : { routes: hooks.routes }),
    ...manifestsOption(stringFlag(args, "manifests"), file, io.cwd),
  });
  const configWatch =
    file === undefined
      ? undefined
      : await watchConfig(file, config, {
          intervalMs: 5_000,
          onChange: (next) => server.reconfigure(override(next)),
          onError: (e) => log.error({ file: e.file, issues: e.issues }, "configuration change rejected; keeping the last good configuration"),
        });

  const listeners = Object.fromEntries(Object.entries(server.listeners).map(([k, l]) => [k, l.url]));
  hooks.onStarted?.({ listeners });

  const stopped = new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn({ signal }, "second signal: exiting without waiting");
        resolve(1);
        return;
      }
      log.info({ signal }, "signal received");
      configWatch?.close();
      void server.shutdown().then(
        () => resolve(0),
        (e) => {
          log.error({ err: e }, "shutdown failed");
          resolve(1);
        },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
  return stopped;
}
