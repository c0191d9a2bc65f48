import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface CountingProxy {
  url: string;
  /** Requests forwarded so far, by "METHOD /path". */
  counts: Map<string, number>;
  total(match?: RegExp): number;
  reset(): void;
  close(): Promise<void>;
}

/**
 * An HTTP pass-through that counts what goes through it: put between the API and the Supabase
 * endpoint, it shows how many database round trips a request made.
 */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  const t = new URL(target);
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0] ?? "/";
    const key = `${req.method} ${path}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    const upstream = request(
      { host: t.hostname, port: t.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    total(match) {
      let n = 0;
      for (const [k, v] of counts) if (!match || match.test(k)) n += v;
      return n;
    },
    reset: () => counts.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
