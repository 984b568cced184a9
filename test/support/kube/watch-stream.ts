/**
 * Reads a watch stream in tests: every newline-terminated line is one event; `next()` waits for the next one,
 * `ended` settles when the server closes the stream.
 */

/** One watch event as sent. */
export type WatchEvent = { type: string; object: { kind?: string; apiVersion?: string; metadata?: Record<string, unknown>; [k: string]: unknown } };

/** An open watch. */
export type WatchStream = {
  status: number;
  contentType: string | null;
  events: WatchEvent[];
  /** The raw text received, for checking the framing. */
  raw: () => string;
  next(timeoutMs?: number): Promise<WatchEvent>;
  ended: Promise<void>;
  close(): void;
};

/** Opens `url` (a `?watch=true` URL) and parses its events. */
export async function openWatch(url: string, headers: Record<string, string> = {}): Promise<WatchStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers, signal: abort.signal });
  const events: WatchEvent[] = [];
  let read = 0;
  let raw = "";
  let waiter: (() => void) | undefined;
  let done = false;
  const ended = (async () => {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = "";
    try {
      for (;;) {
        const { value, done: finished } = await reader.read();
        if (finished) break;
        const text = decoder.decode(value, { stream: true });
        raw += text;
        buf += text;
        let nl: number;
        while ((nl = buf.indexOf("\n")) !== -1) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== "") events.push(JSON.parse(line) as WatchEvent);
          waiter?.();
        }
      }
    } catch {
      // aborted by close()
    } finally {
      done = true;
      waiter?.();
    }
  })();
  return {
    status: res.status,
    contentType: res.headers.get("content-type"),
    events,
    raw: () => raw,
    async next(timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs;
      while (read >= events.length) {
        if (done) throw new Error(`watch ended after ${events.length} events`);
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no watch event within ${timeoutMs} ms (got ${events.length})`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiter = () => {
            clearTimeout(t);
            resolve();
          };
        });
      }
      return events[read++]!;
    },
    ended,
    close: () => abort.abort(),
  };
}
