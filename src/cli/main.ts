/**
 * `fluxgate <verb> [flags]`: parses flags strictly with `node:util` `parseArgs`, answers `--help` for every verb,
 * and turns errors into exit codes (2 for a bad command line, 1 for anything else) with a one-line message.
 */
import { parseArgs } from "node:util";
import { isConfigError, isUsageError, UsageError } from "../errors.ts";
import type { Command, Io } from "./command.ts";
import { certsCommand } from "./certs.ts";
import { checkCommand } from "./check.ts";
import { serveCommand } from "./serve.ts";
import { versionCommand } from "./version.ts";
import { windowsCommand } from "./windows.ts";

/** Every verb, in `--help` order. A new verb is one file and one entry here. */
export const COMMANDS: Command[] = [serveCommand, checkCommand, windowsCommand, certsCommand, versionCommand];

export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    "fluxgate: admission gate, webhook receiver and apply worker in front of Flux CD",
    "",
    "Usage: fluxgate <command> [flags]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    "Run 'fluxgate <command> --help' for a command's flags.",
    "",
  ].join("\n");
}

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: Io): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (e) {
    if (isUsageError(e)) {
      io.err(`fluxgate: ${e.message}\n`);
      return 2;
    }
    if (isConfigError(e)) {
      io.err(`fluxgate: ${e.message}\n`);
      return 1;
    }
    io.err(`fluxgate: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

async function dispatch(argv: string[], io: Io): Promise<number> {
  const [verb, ...rest] = argv;
  if (verb === undefined || verb === "--help" || verb === "-h" || verb === "help") {
    const topic = verb === "help" ? rest[0] : undefined;
    if (topic !== undefined) return dispatch([topic, "--help"], io);
    io.out(mainHelp());
    return verb === undefined ? 2 : 0;
  }
  if (verb === "--version") return dispatch(["version"], io);
  const command = COMMANDS.find((c) => c.name === verb);
  if (command === undefined) {
    throw new UsageError(`unknown command "${verb}"; expected one of: ${COMMANDS.map((c) => c.name).join(", ")} (see 'fluxgate --help')`);
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...command.options, help: { type: "boolean", short: "h" } },
      allowPositionals: command.positionals === true,
      strict: true,
    });
  } catch (e) {
    // parseArgs' messages name the flag ("Unknown option '--x'"); add where to look.
    throw new UsageError(`${command.name}: ${(e as Error).message.replace(/\. To specify a positional argument.*$/s, "")} (see 'fluxgate ${command.name} --help')`);
  }
  if (parsed.values.help === true) {
    io.out(command.help);
    return 0;
  }
  return command.run({ values: parsed.values, positionals: parsed.positionals }, io);
}
