/**
 * A minimal SSE subscriber for the fan-out benchmark: one raw HTTP connection (no agent), no event
 * kept; for each complete event with an `id:` it calls `onEvent(id, receivedAt)`. Light enough to
 * hold ten thousand of them in one process.
 */
import { request } from "node:http";

export interface SseSubscriber {
  status: number;
  close(): void;
}

export function subscribe(
  url: string,
  onEvent: (id: number, receivedAt: number) => void,
  timeoutMs = 30_000,
): Promise<SseSubscriber> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: `${u.pathname}${u.search}`,
        method: "GET",
        agent: false,
        headers: { accept: "text/event-stream" },
      },
      (res) => {
        clearTimeout(timer);
        res.setEncoding("utf8");
        let buffer = "";
        let id: number | undefined;
        res.on("data", (chunk: string) => {
          const at = performance.now();
          buffer += chunk;
          // bounded: at most one partial line is carried to the next chunk
          let nl = buffer.indexOf("\n");
          while (nl >= 0) {
            const line = buffer.slice(0, nl).replace(/\r$/, "");
            buffer = buffer.slice(nl + 1);
            if (line === "") {
              if (id !== undefined) onEvent(id, at);
              id = undefined;
            } else if (line.startsWith("id:")) id = Number(line.slice(3).trim());
            nl = buffer.indexOf("\n");
          }
        });
        res.on("error", () => {});
        resolve({
          status: res.statusCode ?? 0,
          close: () => {
            req.destroy();
            res.destroy();
          },
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error("SSE open timeout")), timeoutMs);
    req.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}
