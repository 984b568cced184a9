/**
 * What a `fluxgate` verb is: its flags (for `node:util` `parseArgs`), its help text and its body. `src/cli/main.ts`
 * parses the flags strictly, answers `--help`, and maps thrown errors to exit codes, so a verb only does its job.
 */
import type { ParseArgsOptionsConfig } from "node:util";

/** Where a verb reads and writes: injected so tests run verbs in-process. */
export type Io = {
  out: (text: string) => void;
  err: (text: string) => void;
  env: Record<string, string | undefined>;
  cwd: string;
};

export type ParsedArgs = {
  values: Record<string, string | boolean | string[] | boolean[] | undefined>;
  positionals: string[];
};

export type Command = {
  name: string;
  /** One line for `fluxgate --help`. */
  summary: string;
  /** Full `--help` text of the verb (usage line, flags, examples). */
  help: string;
  /** Flags besides `--help`, which every verb has. */
  options: ParseArgsOptionsConfig;
  /** Whether positional arguments are accepted. */
  positionals?: boolean;
  /** Returns the exit code. Throw `UsageError` for a bad command line (exit 2), any other error exits 1. */
  run: (args: ParsedArgs, io: Io) => Promise<number>;
};

/** The value of a string flag, or undefined. */
export const stringFlag = (args: ParsedArgs, name: string): string | undefined => {
  const v = args.values[name];
  return typeof v === "string" ? v : undefined;
};
