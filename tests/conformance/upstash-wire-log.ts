/**
 * Records what the Upstash clients put on the wire by wrapping the global `fetch` they call, so the
 * same path assertions work against the local endpoint and against Upstash cloud.
 */
export type WireRequest = {
  /** "/" for a single command (the client posts to the base URL itself), "/pipeline", "/multi-exec". */
  path: string;
  /** The commands of the body; a single command is wrapped so every entry has the same shape. */
  commands: unknown[][];
  /** Whether the request asked for `Upstash-Encoding: base64` responses. */
  base64: boolean;
};

export type WireLog = {
  readonly requests: WireRequest[];
  /** Requests made after `mark` (a value of `requests.length` taken earlier). */
  since(mark: number): WireRequest[];
  restore(): void;
};

export function recordUpstashRequests(baseUrl: string): WireLog {
  const original = globalThis.fetch;
  const base = new URL(baseUrl);
  const requests: WireRequest[] = [];
  globalThis.fetch = (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (url.origin === base.origin && typeof init?.body === "string") {
      const body: unknown = JSON.parse(init.body);
      const isList = Array.isArray(body) && body.every((item) => Array.isArray(item));
      requests.push({
        path: url.pathname,
        commands: isList ? (body as unknown[][]) : [body as unknown[]],
        base64: new Headers(init.headers).get("upstash-encoding") === "base64",
      });
    }
    return original(input, init);
  };
  return {
    requests,
    since: (mark) => requests.slice(mark),
    restore: () => {
      globalThis.fetch = original;
    },
  };
}

/** The command names of some requests, in order, lower-cased. */
export const commandNames = (requests: WireRequest[]): string[] =>
  requests.flatMap((r) => r.commands.map((c) => String(c[0]).toLowerCase()));
