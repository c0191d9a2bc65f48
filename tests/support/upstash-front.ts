/**
 * An HTTP pass-through put between the API and the local Upstash endpoint, to inject the faults
 * that live above TCP-to-Redis:
 * - `status`: the endpoint answers `status` (500 by default) with an Upstash-style error body,
 *   without forwarding (a tiny stub);
 * - `wrong-token`: the request is forwarded with another token, so the real endpoint answers 401;
 * - `reset`: the request is read in full, then its connection is reset (TCP RST): the client's
 *   fetch fails mid-request with ECONNRESET.
 * The target is set after start, because the API's environment (which names this front) has to
 * exist before the harness starts the endpoint.
 */
import { Agent, createServer, type IncomingHttpHeaders, request } from "node:http";
import type { AddressInfo } from "node:net";

export type UpstashFrontMode =
  | { kind: "pass" }
  | { kind: "status"; status: number }
  | { kind: "wrong-token" }
  | { kind: "reset" };

export interface UpstashFront {
  url: string;
  setTarget(url: string): void;
  setMode(mode: UpstashFrontMode): void;
  /** Requests seen since start, by mode kind. */
  readonly seen: Readonly<Record<UpstashFrontMode["kind"], number>>;
  close(): Promise<void>;
}

export async function startUpstashFront(): Promise<UpstashFront> {
  let target: URL | undefined;
  let mode: UpstashFrontMode = { kind: "pass" };
  const seen: Record<UpstashFrontMode["kind"], number> = { pass: 0, status: 0, "wrong-token": 0, reset: 0 };
  const agent = new Agent({ keepAlive: true, maxSockets: 32 });

  const server = createServer((req, res) => {
    const current = mode;
    seen[current.kind]++;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (current.kind === "reset") {
        req.socket.resetAndDestroy();
        return;
      }
      if (current.kind === "status") {
        res.writeHead(current.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: `ERR injected HTTP ${current.status}` }));
        return;
      }
      if (!target) {
        res.writeHead(502).end();
        return;
      }
      const headers: IncomingHttpHeaders = { ...req.headers, host: target.host };
      if (current.kind === "wrong-token") headers.authorization = "Bearer not-the-token";
      const up = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on("error", () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    setTarget(url) {
      target = new URL(url);
    },
    setMode(next) {
      mode = next;
    },
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        agent.destroy();
      }),
  };
}
