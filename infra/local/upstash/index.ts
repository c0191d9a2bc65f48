/**
 * A local Upstash Redis REST endpoint in front of a real Redis, so the real `@upstash/redis` and
 * `@upstash/ratelimit` clients run offline. Wire behaviour: shared/reference/protocols.md A and C1.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Redis } from "ioredis";
import { ioredisName, parseCommand, parseCommandList, type RedisCommand, RequestError } from "./commands";
import { RedisPool } from "./redis-pool";
import { isRedisReplyError, toUpstashValue } from "./replies";
import { ScriptRegistry } from "./script-registry";

export type UpstashRequestLog = {
  method: string;
  path: string;
  status: number;
  /** The commands of the body, name lower-cased, args as strings; empty when the body was refused. */
  commands: string[][];
};

export type LocalUpstashOptions = {
  redisUrl: string;
  token: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  host?: string;
  /** Shared connections for `/` and `/pipeline`. */
  poolSize?: number;
  /** Called once per answered request; tests use it to see which path and commands a client sent. */
  onRequest?: (entry: UpstashRequestLog) => void;
};

export type LocalUpstash = { url: string; close(): Promise<void> };

const MAX_BODY_BYTES = 10 * 1024 * 1024;
// the three routes of the REST API: a constant, not state
const PATHS = new Set(["/", "/pipeline", "/multi-exec"]);

type Reply = { status: number; body: unknown };

export async function startLocalUpstash(options: LocalUpstashOptions): Promise<LocalUpstash> {
  const pool = new RedisPool(options.redisUrl, options.poolSize ?? 4);
  await pool.settled();
  const scripts = new ScriptRegistry();
  const tokenDigest = digest(options.token);
  // single node: the token carries no consistency meaning, it only exercises the client's echo of it
  let syncToken = 0;

  /** Sends one command; the reply hook lets SCRIPT LOAD answer with the original script's hash. */
  const send = (conn: Redis, command: RedisCommand): Promise<unknown> => {
    const { command: sent, reply } = scripts.translate(command);
    const pending = conn.callBuffer(ioredisName(sent.name), ...sent.args);
    return reply ? pending.then(reply) : pending;
  };

  const execute = async (path: string, commands: RedisCommand[], base64: boolean): Promise<Reply> => {
    if (path === "/") {
      try {
        const [command] = commands;
        const value = command && (await send(pool.shared(), command));
        return { status: 200, body: { result: toUpstashValue(value, base64) } };
      } catch (error) {
        if (isRedisReplyError(error)) return { status: 400, body: { error: error.message } };
        throw error;
      }
    }
    if (path === "/pipeline") {
      const conn = pool.shared();
      const settled = await Promise.allSettled(commands.map((command) => send(conn, command)));
      return { status: 200, body: settled.map((item) => itemReply(item, base64)) };
    }
    return multiExec(commands, base64);
  };

  const multiExec = async (commands: RedisCommand[], base64: boolean): Promise<Reply> => {
    const conn = await pool.lease();
    let clean = false;
    try {
      await conn.callBuffer("MULTI");
      const translated = commands.map((command) => scripts.translate(command));
      const queued = await Promise.allSettled(
        translated.map(({ command }) => conn.callBuffer(ioredisName(command.name), ...command.args)),
      );
      const rejected = queued.find((item) => item.status === "rejected");
      if (rejected) {
        if (!isRedisReplyError(rejected.reason)) throw rejected.reason;
        // a command refused at queue time: nothing runs, like Upstash discarding the whole transaction
        await conn.callBuffer("DISCARD");
        clean = true;
        return { status: 400, body: { error: rejected.reason.message } };
      }
      const results = await conn.callBuffer("EXEC").catch((error: unknown) => {
        if (isRedisReplyError(error)) clean = true;
        throw error;
      });
      clean = true;
      if (!Array.isArray(results)) return { status: 400, body: { error: "EXECABORT Transaction discarded" } };
      const body = results.map((value: unknown, i) => {
        if (value instanceof Error) return { error: value.message };
        const fix = translated[i]?.reply;
        return { result: toUpstashValue(fix ? fix(value) : value, base64) };
      });
      return { status: 200, body };
    } catch (error) {
      if (isRedisReplyError(error)) return { status: 400, body: { error: error.message } };
      throw error;
    } finally {
      pool.release(conn, clean);
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://local");
    let commands: RedisCommand[] = [];
    let reply: Reply;
    try {
      if (!PATHS.has(url.pathname)) throw new RequestError(404, `Endpoint not found: ${url.pathname}`);
      if (req.method === "GET" && url.pathname === "/") {
        reply = { status: 200, body: "Welcome to Candor's local Upstash REST endpoint" };
      } else {
        if (req.method !== "POST") throw new RequestError(405, "Method not allowed");
        const bearer = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
        const presented = bearer ?? url.searchParams.get("_token");
        if (presented === null || !timingSafeEqual(digest(presented), tokenDigest)) {
          throw new RequestError(401, "Unauthorized");
        }
        const json = await readJson(req);
        commands = url.pathname === "/" ? [parseCommand(json)] : parseCommandList(json);
        const base64 = String(req.headers["upstash-encoding"]).toLowerCase() === "base64";
        reply = await execute(url.pathname, commands, base64);
      }
    } catch (error) {
      reply =
        error instanceof RequestError
          ? { status: error.status, body: { error: error.message } }
          : { status: 500, body: { error: `ERR Redis is unavailable: ${(error as Error).message}` } };
    }
    res.statusCode = reply.status;
    res.setHeader("upstash-sync-token", String(++syncToken));
    if (reply.status === 405) res.setHeader("Allow", "POST");
    // the rest of an oversized body is not read: this connection cannot carry another request
    if (reply.status === 413) res.setHeader("Connection", "close");
    if (typeof reply.body === "string") {
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.end(reply.body);
    } else {
      res.setHeader("Content-Type", "application/json");
      res.end(JSON.stringify(reply.body));
    }
    options.onRequest?.({
      method: req.method ?? "",
      path: url.pathname,
      status: reply.status,
      commands: commands.map((c) => [c.name.toLowerCase(), ...c.args]),
    });
  };

  // only a throwing onRequest hook can get here; the response has been sent by then
  const server = createServer((req, res) => void handle(req, res).catch(() => res.destroy()));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  // a wildcard bind is reachable on loopback, and a URL naming the wildcard is not portable
  const reachable = address === "0.0.0.0" ? "127.0.0.1" : address === "::" ? "::1" : address;
  const host = reachable.includes(":") ? `[${reachable}]` : reachable;

  return {
    url: `http://${host}:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      pool.close();
    },
  };
}

/** A pipeline item: Redis errors are per item; a lost connection fails the whole request (500). */
function itemReply(item: PromiseSettledResult<unknown>, base64: boolean): unknown {
  if (item.status === "fulfilled") return { result: toUpstashValue(item.value, base64) };
  if (isRedisReplyError(item.reason)) return { error: item.reason.message };
  throw item.reason;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES) {
    throw new RequestError(413, `ERR request body larger than ${MAX_BODY_BYTES} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  // keep draining past the limit so the client reads the 413 instead of a reset connection
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= MAX_BODY_BYTES) chunks.push(chunk);
  }
  if (size > MAX_BODY_BYTES)
    throw new RequestError(413, `ERR request body larger than ${MAX_BODY_BYTES} bytes`);
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new RequestError(400, "ERR invalid JSON body");
  }
}

// Comparing fixed-length digests keeps the check constant-time whatever length was presented.
const digest = (token: string): Buffer => createHash("sha256").update(token).digest();
