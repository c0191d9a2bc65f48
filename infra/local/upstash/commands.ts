/** Turning a REST request body into Redis commands, and the commands the REST API refuses. */

/** A command as the client spelled it (Redis quotes an unknown name back verbatim), args as strings. */
export type RedisCommand = { name: string; args: string[] };

/**
 * The name to hand ioredis: its reply transformer keyed on exactly "hgetall" would turn the reply
 * array into an object, and Upstash answers HGETALL with the flat array.
 */
export const ioredisName = (name: string): string => (name === "hgetall" ? "HGETALL" : name);

/** A request the endpoint refuses before touching Redis; `status` is the HTTP status to answer with. */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// Over HTTP a blocking or subscribing command would hold a pooled connection hostage, and
// connection-state commands would leak into the requests that share that connection after it.
const REFUSED = new Set(
  [
    "BLPOP BRPOP BRPOPLPUSH BLMOVE BLMPOP BZPOPMIN BZPOPMAX BZMPOP WAIT WAITAOF",
    "SUBSCRIBE PSUBSCRIBE SSUBSCRIBE UNSUBSCRIBE PUNSUBSCRIBE SUNSUBSCRIBE MONITOR",
    "MULTI EXEC DISCARD WATCH UNWATCH SELECT HELLO AUTH QUIT RESET CLIENT SYNC PSYNC REPLICAOF SLAVEOF SHUTDOWN",
  ].flatMap((line) => line.split(" ")),
);

/**
 * One command from its JSON form: strings as they are, numbers and booleans as `String(v)` (the
 * client sends them as JSON scalars, protocols.md A1); anything else is not a Redis argument.
 */
export function parseCommand(raw: unknown): RedisCommand {
  if (!Array.isArray(raw) || raw.length === 0)
    throw new RequestError(400, "ERR command must be a non-empty JSON array");
  const parts = raw.map((v: unknown) => {
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    throw new RequestError(400, `ERR invalid argument type: ${v === null ? "null" : typeof v}`);
  });
  const [first = "", ...args] = parts;
  const upper = first.toUpperCase();
  const blockingRead =
    (upper === "XREAD" || upper === "XREADGROUP") && args.some((a) => a.toUpperCase() === "BLOCK");
  if (REFUSED.has(upper) || blockingRead) {
    throw new RequestError(400, `ERR Command is not available over REST: '${first.toLowerCase()}'`);
  }
  return { name: first, args };
}

/** The body of `/pipeline` and `/multi-exec`: a non-empty array of commands. */
export function parseCommandList(raw: unknown): RedisCommand[] {
  if (!Array.isArray(raw) || raw.length === 0)
    throw new RequestError(400, "ERR expected a non-empty JSON array of commands");
  return raw.map(parseCommand);
}
