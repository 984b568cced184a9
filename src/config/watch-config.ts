/**
 * Hot reload of the configuration file: on change, parse again; a good file replaces the running config, a bad
 * edit is reported and the last good config stays in force.
 */
import { readFile } from "node:fs/promises";
import { ConfigError } from "../errors.ts";
import { watchFiles } from "../watch-files.ts";
import type { FileWatch } from "../watch-files.ts";
import { parseConfig } from "./load.ts";
import type { Config } from "./schema.ts";

export type ConfigWatchOptions = {
  intervalMs: number;
  /** A new good config; `previous` is the one it replaces. */
  onChange: (next: Config, previous: Config) => void;
  /** A bad edit: the running config is kept. */
  onError: (error: ConfigError) => void;
};

export type ConfigWatch = { current(): Config; close(): void; check(): Promise<boolean> };

/** Watches `file`, starting from the already loaded `initial`. */
export async function watchConfig(file: string, initial: Config, options: ConfigWatchOptions): Promise<ConfigWatch> {
  let current = initial;
  const reload = async () => {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (e) {
      options.onError(new ConfigError(file, [{ path: "", message: `cannot read the file: ${(e as NodeJS.ErrnoException).code ?? String(e)}; keeping the last good configuration` }]));
      return;
    }
    let next: Config;
    try {
      next = parseConfig(text, file);
    } catch (e) {
      if (e instanceof ConfigError) options.onError(e);
      else options.onError(new ConfigError(file, [{ path: "", message: String(e) }], { cause: e }));
      return;
    }
    if (JSON.stringify(next) === JSON.stringify(current)) return;
    const previous = current;
    current = next;
    options.onChange(next, previous);
  };
  const watch: FileWatch = await watchFiles([file], { intervalMs: options.intervalMs, onChange: reload });
  return { current: () => current, close: () => watch.close(), check: () => watch.check() };
}
