import type { ServerResponse } from "node:http";
import { retryFrame } from "../sse/sse-frame";
import type { SseSink } from "../sse/subscription-hub";

/**
 * An SSE stream over one HTTP response. `writableLength` counts what is queued in the response
 * and on its socket: the bound the hub checks to cut a slow client.
 */
export class ResponseSseSink implements SseSink {
  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string>,
  ) {}

  open(retryMs: number): void {
    this.res.writeHead(200, {
      ...this.headers,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      connection: "keep-alive",
      // proxies (nginx, some ALB setups) must not buffer a stream
      "x-accel-buffering": "no",
    });
    this.res.write(retryFrame(retryMs));
  }

  write(chunk: string): number {
    if (this.res.writableEnded || this.res.destroyed) return 0;
    this.res.write(chunk);
    return this.res.writableLength;
  }

  queuedBytes(): number {
    return this.res.writableLength;
  }

  drained(): Promise<boolean> {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return Promise.resolve(false);
    if (!res.writableNeedDrain) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        res.off("drain", onDrain);
        res.off("close", onClose);
        resolve(ok);
      };
      const onDrain = () => done(true);
      const onClose = () => done(false);
      res.once("drain", onDrain);
      res.once("close", onClose);
    });
  }

  end(chunk?: string): void {
    const res = this.res;
    if (res.writableEnded || res.destroyed) return;
    // the connection goes with the stream: a client's keep-alive pool must not send its reconnect
    // down this socket (on shutdown this process would answer it 503, and EventSource gives up on a 503)
    res.once("finish", () => res.socket?.end());
    if (chunk) res.end(chunk);
    else res.end();
  }

  destroy(): void {
    this.res.destroy();
  }
}
