import { type IncomingHttpHeaders, request } from "node:http";

export interface SseEvent {
  id: string | undefined;
  event: string;
  data: string;
}

export interface SseClientOptions {
  headers?: Record<string, string>;
  /** Keep every event in `events` (default true; the load tests keep only what they measure). */
  keep?: boolean;
  onEvent?: (event: SseEvent, receivedAt: number) => void;
}

export interface SseClient {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body of a non-200 answer. */
  body: string;
  events: SseEvent[];
  comments: number;
  retry: number | undefined;
  /** Resolves when the server ends or cuts the stream (or close() is called). */
  ended: Promise<"end" | "error">;
  close(): void;
  /** Resolves once `predicate` holds after some event (or at once); rejects after timeoutMs. */
  until(predicate: () => boolean, timeoutMs?: number): Promise<void>;
}

/**
 * A minimal SSE client over one raw HTTP connection (no agent, no keep-alive reuse): light enough to
 * open a thousand of them in the test process. It parses `id:`, `event:`, `data:`, `retry:` and
 * comment lines.
 */
export function openSse(url: string, options: SseClientOptions = {}): Promise<SseClient> {
  const keep = options.keep ?? true;
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: "GET",
        agent: false,
        headers: { accept: "text/event-stream", ...options.headers },
      },
      (res) => {
        res.setEncoding("utf8");
        const waiters = new Set<() => void>();
        let endedResolve: (v: "end" | "error") => void = () => {};
        const ended = new Promise<"end" | "error">((r) => {
          endedResolve = r;
        });
        const client: SseClient = {
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: "",
          events: [],
          comments: 0,
          retry: undefined,
          ended,
          close: () => {
            req.destroy();
            res.destroy();
          },
          until(predicate, timeoutMs = 15_000) {
            if (predicate()) return Promise.resolve();
            return new Promise<void>((ok, fail) => {
              const check = () => {
                if (!predicate()) return;
                clearTimeout(timer);
                waiters.delete(check);
                ok();
              };
              const timer = setTimeout(() => {
                waiters.delete(check);
                fail(new Error(`SSE condition not met within ${timeoutMs} ms`));
              }, timeoutMs);
              waiters.add(check);
            });
          },
        };
        const notify = () => {
          for (const w of [...waiters]) w();
        };
        res.on("end", () => {
          endedResolve("end");
          notify();
        });
        res.on("error", () => endedResolve("error"));
        res.on("close", () => {
          endedResolve("error");
          notify();
        });
        if (client.status !== 200) {
          res.on("data", (chunk: string) => {
            client.body += chunk;
          });
          res.on("end", () => resolve(client));
          return;
        }
        let buffer = "";
        res.on("data", (chunk: string) => {
          buffer += chunk;
          let cut = buffer.indexOf("\n\n");
          if (cut < 0) return;
          const now = performance.now();
          while (cut >= 0) {
            const block = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            let id: string | undefined;
            let event = "message";
            let data: string | undefined;
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) client.comments++;
              else if (line.startsWith("id: ")) id = line.slice(4);
              else if (line.startsWith("event: ")) event = line.slice(7);
              else if (line.startsWith("data: "))
                data = data === undefined ? line.slice(6) : `${data}\n${line.slice(6)}`;
              else if (line.startsWith("retry: ")) client.retry = Number(line.slice(7));
            }
            if (data !== undefined) {
              const e = { id, event, data };
              if (keep) client.events.push(e);
              options.onEvent?.(e, now);
            }
            cut = buffer.indexOf("\n\n");
          }
          notify();
        });
        resolve(client);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Graph event ids of the events a client kept, as numbers. */
export const idsOf = (client: SseClient): number[] => client.events.map((e) => Number(e.id));
