/**
 * The Upstash checks of shared/reference/protocols.md C3, driven by the real @upstash/redis and
 * @upstash/ratelimit over real HTTP: against the local endpoint in front of this run's Redis, or
 * against Upstash itself with CANDOR_CONFORMANCE_TARGET=cloud and UPSTASH_REDIS_REST_URL/_TOKEN.
 */
import { createHash } from "node:crypto";
import { Ratelimit } from "@upstash/ratelimit";
import { errors, Redis, type RedisConfigNodejs } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  type LocalUpstash,
  startLocalUpstash,
  type UpstashRequestLog,
} from "../../infra/local/upstash/index";
import { hasRedis } from "../support/requires";
import { startTcpProxy } from "../support/tcp-proxy";
import { cloudCredentials, startUpstashTarget, type UpstashTarget } from "./upstash-target";
import { commandNames, recordUpstashRequests, type WireLog } from "./upstash-wire-log";

const cloud = cloudCredentials() !== null;
const runId = inject("runId");
const prefix = `${inject("redisPrefix")}upstash:`;
const key = (name: string): string => `${prefix}${name}`;

const sha1 = (text: string): string => createHash("sha1").update(text).digest("hex");
const failureOf = (promise: Promise<unknown>): Promise<Error> =>
  promise.then(
    (value) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error as Error,
  );

/** Fixed windows are aligned to multiples of the window: keep a 4-call sequence inside one. */
async function awayFromWindowEdge(windowMs: number): Promise<void> {
  const left = windowMs - (Date.now() % windowMs);
  if (left < 3_000) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

describe.runIf(cloud || hasRedis())("Upstash REST conformance (protocols.md C3)", () => {
  let target: UpstashTarget;
  let wire: WireLog;
  const client = (config: Partial<RedisConfigNodejs> = {}): Redis =>
    new Redis({ url: target.url, token: target.token, enableTelemetry: false, ...config });

  beforeAll(async () => {
    target = await startUpstashTarget(inject("redisUrl"));
    wire = recordUpstashRequests(target.url);
  });

  afterAll(async () => {
    wire?.restore();
    if (!target) return;
    // the global teardown only sweeps the local Redis: against cloud, this run's keys go here
    if (target.mode === "cloud") {
      const redis = client();
      let cursor = "0";
      do {
        const [next, keys] = await redis.scan(cursor, { match: `${inject("redisPrefix")}*`, count: 1000 });
        cursor = String(next);
        if (keys.length > 0) await redis.del(...keys);
      } while (cursor !== "0");
    }
    await target.close();
  });

  it("C3.1 default client auto-pipelines to /pipeline; enableAutoPipelining:false posts to /", async () => {
    const k = key("c31");
    const redis = client();
    let mark = wire.requests.length;
    expect(await redis.set(k, "hello")).toBe("OK");
    expect(await redis.get(k)).toBe("hello");
    expect(wire.since(mark).map((r) => r.path)).toEqual(["/pipeline", "/pipeline"]);
    expect(wire.since(mark).flatMap((r) => r.commands)).toEqual([
      ["set", k, "hello"],
      ["get", k],
    ]);

    const direct = client({ enableAutoPipelining: false });
    mark = wire.requests.length;
    expect(await direct.set(k, "again")).toBe("OK");
    expect(await direct.get(k)).toBe("again");
    expect(wire.since(mark).map((r) => [r.path, r.commands])).toEqual([
      ["/", [["set", k, "again"]]],
      ["/", [["get", k]]],
    ]);
  });

  it("C3.2 UTF-8 and emoji round-trip under base64 encoding; null, integers, PONG, nested arrays", async () => {
    const redis = client();
    const text = "héllo wörld — 你好 🎉👩‍💻";
    const mark = wire.requests.length;
    expect(await redis.set(key("c32"), text)).toBe("OK");
    expect(await redis.get(key("c32"))).toBe(text);
    expect(wire.since(mark).every((r) => r.base64)).toBe(true);
    expect(await redis.get(key("c32-missing"))).toBeNull();
    expect(await redis.incr(key("c32-counter"))).toBe(1);
    expect(await redis.incr(key("c32-counter"))).toBe(2);
    expect(await redis.ping()).toBe("PONG");
    expect(await redis.eval("return {1,'a',{2,'b'}}", [], [])).toEqual([1, "a", [2, "b"]]);
  });

  it("C3.3 a failing command rejects with the Redis error; pipelines fail per item", async () => {
    const text = key("c33-text");
    const count = key("c33-count");
    const redis = client({ enableAutoPipelining: false });
    await redis.set(text, "not a number");

    const failure = await failureOf(redis.incr(text));
    expect(failure).toBeInstanceOf(errors.UpstashError);
    expect(failure.message).toContain("ERR value is not an integer or out of range");
    expect(failure.message).toContain("command was");

    const kept = await redis.pipeline().set(count, 1).incr(text).incr(count).exec({ keepErrors: true });
    expect(kept.map((item) => item.error)).toEqual([
      undefined,
      expect.stringContaining("ERR value is not an integer"),
      undefined,
    ]);
    expect(kept[0]?.result).toBe("OK");
    expect(kept[2]?.result).toBe(2);

    const thrown = await failureOf(redis.pipeline().incr(count).incr(text).exec());
    expect(thrown).toBeInstanceOf(errors.UpstashError);
    expect(thrown.message).toMatch(/^Command 2 \[ incr \] failed: ERR value is not an integer/);
    // the items around the failure still ran: a pipeline is not a transaction
    expect(await redis.get(count)).toBe(3);
  });

  it("C3.4 multi() commits atomically; a transaction with an unknown command writes nothing", async () => {
    const redis = client();
    const counter = key("c34-counter");
    const untouched = key("c34-untouched");
    const mark = wire.requests.length;
    expect(await redis.multi().set(counter, 1).incr(counter).get(counter).exec()).toEqual(["OK", 2, 2]);
    expect(wire.since(mark).map((r) => r.path)).toEqual(["/multi-exec"]);

    const tx = redis.multi().set(untouched, "written").incr(counter);
    // @upstash/redis has no public way to queue an arbitrary command in a transaction; Pipeline
    // keeps its commands through `chain` (private in the typings, a plain method at runtime)
    (tx as unknown as { chain(c: { command: unknown[]; deserialize(r: unknown): unknown }): unknown }).chain({
      command: ["nosuchcommand", untouched],
      deserialize: (r) => r,
    });
    const failure = await failureOf(tx.exec());
    expect(failure).toBeInstanceOf(errors.UpstashError);
    expect(failure.message).toMatch(/unknown command/i);
    expect(await redis.get(untouched)).toBeNull();
    expect(await redis.get(counter)).toBe(2);
  });

  it("C3.5 a wrong token rejects with Unauthorized", async () => {
    const wrong = new Redis({ url: target.url, token: "not-the-token", enableTelemetry: false });
    const failure = await failureOf(wrong.get(key("c35")));
    expect(failure).toBeInstanceOf(errors.UpstashError);
    // Upstash answers `{"error":"Unauthorized"}` and has been seen answering WRONGPASS (protocols.md A3)
    expect(failure.message).toMatch(target.mode === "cloud" ? /Unauthorized|WRONGPASS/ : /Unauthorized/);
  });

  it("C3.6 evalsha of an unknown sha is NOSCRIPT; createScript().exec() falls back to EVAL", async () => {
    const redis = client();
    const failure = await failureOf(redis.evalsha(sha1(`never loaded ${runId}`), [], []));
    expect(failure).toBeInstanceOf(errors.UpstashError);
    expect(failure.message).toContain("NOSCRIPT");

    // unique text: the script cache of a shared Redis outlives test runs
    const tag = `${runId}-${Date.now()}`;
    const script = redis.createScript<string>(`return ARGV[1] .. '@${tag}'`);
    let mark = wire.requests.length;
    expect(await script.exec([], ["first"])).toBe(`first@${tag}`);
    expect(commandNames(wire.since(mark))).toEqual(["evalsha", "eval"]);
    mark = wire.requests.length;
    expect(await script.exec([], ["second"])).toBe(`second@${tag}`);
    expect(commandNames(wire.since(mark))).toEqual(["evalsha"]);
  });

  it("C3.7 fixedWindow, slidingWindow and tokenBucket limit at 3, report remaining, reset", async () => {
    const limiters = {
      fixedWindow: Ratelimit.fixedWindow(3, "60 s"),
      slidingWindow: Ratelimit.slidingWindow(3, "60 s"),
      tokenBucket: Ratelimit.tokenBucket(3, "60 s", 3),
    };
    for (const [name, limiter] of Object.entries(limiters)) {
      const ratelimit = new Ratelimit({
        redis: client(),
        limiter,
        prefix: `${inject("redisPrefix")}rl`,
        ephemeralCache: false,
        enableProtection: false,
        analytics: false,
      });
      const id = `c37-${name}-${runId}`;
      await awayFromWindowEdge(60_000);
      const results = [];
      for (let i = 0; i < 4; i++) results.push(await ratelimit.limit(id));
      const now = Date.now();
      expect(
        results.map((r) => r.success),
        name,
      ).toEqual([true, true, true, false]);
      expect(
        results.map((r) => r.remaining),
        name,
      ).toEqual([2, 1, 0, 0]);
      expect(
        results.map((r) => r.limit),
        name,
      ).toEqual([3, 3, 3, 3]);
      expect(
        results.every((r) => r.reset > now && r.reason === undefined),
        name,
      ).toBe(true);
      expect((await ratelimit.getRemaining(id)).remaining, name).toBe(0);

      await ratelimit.resetUsedTokens(id);
      const after = await ratelimit.limit(id);
      expect([after.success, after.remaining], name).toEqual([true, 2]);
    }
  });

  it("C3.8 after the first EVAL, later limit() calls are EVALSHA only", async () => {
    // a fresh endpoint has no script mapping yet, so the first call must show the NOSCRIPT fallback;
    // Upstash cloud keeps its script cache, so there the first call may already be EVALSHA only
    let fresh: LocalUpstash | undefined;
    let freshToken = target.token;
    if (target.mode === "local") {
      freshToken = "c38-token";
      fresh = await startLocalUpstash({ redisUrl: inject("redisUrl"), token: freshToken });
    }
    const url = fresh?.url ?? target.url;
    const freshWire = fresh ? recordUpstashRequests(url) : wire;
    try {
      const ratelimit = new Ratelimit({
        redis: new Redis({ url, token: freshToken, enableTelemetry: false }),
        limiter: Ratelimit.fixedWindow(10, "60 s"),
        prefix: `${inject("redisPrefix")}rl`,
        ephemeralCache: false,
      });
      await awayFromWindowEdge(60_000);
      const calls: string[][] = [];
      for (let i = 0; i < 4; i++) {
        const mark = freshWire.requests.length;
        const result = await ratelimit.limit(`c38-${runId}`);
        expect([result.success, result.remaining, result.reason]).toEqual([true, 9 - i, undefined]);
        calls.push(commandNames(freshWire.since(mark)));
      }
      if (fresh) expect(calls[0]).toEqual(["evalsha", "eval"]);
      else expect([["evalsha"], ["evalsha", "eval"]]).toContainEqual(calls[0]);
      expect(calls.slice(1)).toEqual([["evalsha"], ["evalsha"], ["evalsha"]]);
    } finally {
      if (fresh) {
        freshWire.restore();
        await fresh.close();
      }
    }
  });

  it("EXEC element errors come back per item; the rest of the transaction commits", async () => {
    const redis = client();
    const text = key("exec-text");
    const other = key("exec-other");
    await redis.set(text, "abc");
    const items = await redis.multi().incr(text).set(other, "committed").exec({ keepErrors: true });
    expect(items[0]?.error).toContain("ERR value is not an integer");
    expect(items[1]).toMatchObject({ result: "OK" });
    expect(await redis.get(other)).toBe("committed");
  });
});

// What follows is the local endpoint's own behaviour (HTTP surface, encoding on the wire, outages,
// refusals): there is nothing of ours to test when the target is Upstash cloud.
describe.runIf(!cloud && hasRedis())("local Upstash endpoint", () => {
  const token = "local-endpoint-token";
  const log: UpstashRequestLog[] = [];
  let endpoint: LocalUpstash;

  const post = async (path: string, body: unknown, options: { base64?: boolean; auth?: string } = {}) => {
    const headers: Record<string, string> = { "Content-Type": "application/json" };
    if (options.auth !== "") headers.Authorization = options.auth ?? `Bearer ${token}`;
    if (options.base64 ?? true) headers["Upstash-Encoding"] = "base64";
    const res = await fetch(`${endpoint.url}${path}`, {
      method: "POST",
      headers,
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    return { status: res.status, syncToken: res.headers.get("upstash-sync-token"), json: await res.json() };
  };

  beforeAll(async () => {
    endpoint = await startLocalUpstash({
      redisUrl: inject("redisUrl"),
      token,
      onRequest: (e) => log.push(e),
    });
  });
  afterAll(async () => {
    await endpoint?.close();
  });

  it("encodes every string as base64 except a top-level OK, and never integers, nulls or errors", async () => {
    const k = key("wire-emoji");
    const text = "naïve 🎉";
    expect(await post("/", ["set", k, text])).toMatchObject({ status: 200, json: { result: "OK" } });
    expect((await post("/", ["get", k])).json).toEqual({ result: Buffer.from(text).toString("base64") });
    expect((await post("/", ["get", k], { base64: false })).json).toEqual({ result: text });
    expect((await post("/", ["ping"])).json).toEqual({ result: "UE9ORw==" });
    expect((await post("/", ["get", key("wire-missing")])).json).toEqual({ result: null });
    expect((await post("/", ["strlen", k])).json).toEqual({ result: Buffer.byteLength(text) });
    // a status OK nested in an array must be encoded, or the client would decode "OK" to garbage
    const nested = await post("/", ["eval", "return {7, 'x', {redis.status_reply('OK'), 'y'}}", 0]);
    expect(nested.json).toEqual({ result: [7, "eA==", ["T0s=", "eQ=="]] });
    const pipeline = await post("/pipeline", [
      ["set", k, "v"],
      ["incr", k],
      ["get", k],
    ]);
    expect(pipeline).toMatchObject({
      status: 200,
      json: [{ result: "OK" }, { error: "ERR value is not an integer or out of range" }, { result: "dg==" }],
    });
  });

  it("returns binary values byte for byte under base64 (U+FFFD without it)", async () => {
    const k = key("wire-binary");
    // JSON cannot carry these bytes in a request: let Lua write them
    await post("/", ["eval", "return redis.call('SET', KEYS[1], string.char(0, 255, 128, 10))", 1, k]);
    const encoded = await post("/", ["get", k]);
    expect(Buffer.from(encoded.json.result as string, "base64")).toEqual(Buffer.from([0, 255, 128, 10]));
    expect((await post("/", ["get", k], { base64: false })).json).toEqual({ result: "\u0000\uFFFD\uFFFD\n" });
    const redis = new Redis({
      url: endpoint.url,
      token,
      enableTelemetry: false,
      automaticDeserialization: false,
    });
    expect(Buffer.from(String(await redis.getrange(k, 0, 0)))).toEqual(Buffer.from([0]));
  });

  it("refuses blocking, subscribing and connection-state commands with 400, without blocking", async () => {
    const started = Date.now();
    for (const command of [
      ["blpop", key("wire-list"), 0],
      ["BRPOP", key("wire-list"), 0],
      ["blmove", key("a"), key("b"), "LEFT", "RIGHT", 0],
      ["bzpopmin", key("wire-zset"), 0],
      ["xread", "BLOCK", 0, "STREAMS", key("wire-stream"), "$"],
      ["subscribe", key("channel")],
      ["psubscribe", `${prefix}*`],
      ["monitor"],
      ["multi"],
      ["select", 1],
    ]) {
      const res = await post("/", command);
      expect([res.status, res.json.error], String(command[0])).toEqual([400, expect.stringContaining("ERR")]);
    }
    const redis = new Redis({ url: endpoint.url, token, enableTelemetry: false });
    const failure = await failureOf(redis.exec(["blpop", key("wire-list"), "0"]));
    expect(failure).toBeInstanceOf(errors.UpstashError);
    expect(failure.message).toContain("not available over REST");
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it("speaks the HTTP surface: routes, methods, tokens, body errors, sync token", async () => {
    const welcome = await fetch(`${endpoint.url}/`);
    expect(welcome.status).toBe(200);
    expect((await fetch(`${endpoint.url}/nope`, { method: "POST" })).status).toBe(404);
    const get = await fetch(`${endpoint.url}/pipeline`);
    expect([get.status, get.headers.get("allow")]).toEqual([405, "POST"]);

    expect(await post("/", ["ping"], { auth: "" })).toMatchObject({
      status: 401,
      json: { error: "Unauthorized" },
    });
    expect(await post("/", ["ping"], { auth: "Bearer wrong" })).toMatchObject({ status: 401 });
    expect(await post(`/?_token=${token}`, ["ping"], { auth: "", base64: false })).toMatchObject({
      status: 200,
      json: { result: "PONG" },
    });

    expect(await post("/", "{not json")).toMatchObject({ status: 400, json: { error: expect.any(String) } });
    expect(await post("/", [])).toMatchObject({ status: 400 });
    expect(await post("/pipeline", [["get", key("x")], { not: "a command" }])).toMatchObject({ status: 400 });
    expect(await post("/", ["set", key("x"), null])).toMatchObject({ status: 400 });
    // numbers and booleans are arguments too (the client sends them as JSON scalars)
    expect((await post("/", ["set", key("scalar"), true], { base64: false })).json).toEqual({ result: "OK" });
    expect((await post("/", ["get", key("scalar")], { base64: false })).json).toEqual({ result: "true" });

    const huge = JSON.stringify(["set", key("huge"), "x".repeat(10 * 1024 * 1024 + 1)]);
    const tooLarge = await post("/", huge);
    expect(tooLarge.status).toBe(413);
    expect((await post("/", ["exists", key("huge")])).json).toEqual({ result: 0 });

    const first = Number((await post("/", ["ping"])).syncToken);
    const second = Number((await post("/", ["ping"])).syncToken);
    expect(second).toBeGreaterThan(first);
    expect(log.at(-1)).toEqual({ method: "POST", path: "/", status: 200, commands: [["ping"]] });
  });

  it("maps allow-key-locking scripts: SCRIPT LOAD answers sha1(original), EVALSHA and EXISTS use it", async () => {
    const script = `#!lua flags=no-writes,allow-key-locking\nreturn redis.call('GET', KEYS[1]) or '${runId}'`;
    const sha = sha1(script);
    expect((await post("/", ["script", "load", script], { base64: false })).json).toEqual({ result: sha });
    expect((await post("/", ["script", "exists", sha, sha1("unknown")])).json).toEqual({ result: [1, 0] });
    expect((await post("/", ["evalsha_ro", sha, 1, key("none")], { base64: false })).json).toEqual({
      result: runId,
    });
    // no-writes survived the rewrite: a write inside the read-only script is still refused
    const writing = `#!lua flags=no-writes,allow-key-locking\nreturn redis.call('SET', KEYS[1], '1')`;
    const refused = await post("/", ["eval", writing, 1, key("ro")]);
    expect(refused.status).toBe(400);
    expect(refused.json.error).toMatch(/write command/i);
  });

  it("answers 500 at once when Redis is unreachable, and ratelimit sees an error, not a timeout", async () => {
    const started = Date.now();
    const dead = await startLocalUpstash({ redisUrl: "redis://127.0.0.1:1", token });
    try {
      const redis = new Redis({ url: dead.url, token, enableTelemetry: false });
      const failure = await failureOf(redis.get(key("dead")));
      expect(failure).toBeInstanceOf(errors.UpstashError);
      expect(failure.message).toContain("Redis is unavailable");
      const multi = await failureOf(redis.multi().set(key("dead"), 1).exec());
      expect(multi.message).toContain("Redis is unavailable");
      const ratelimit = new Ratelimit({
        redis,
        limiter: Ratelimit.fixedWindow(3, "60 s"),
        prefix: `${inject("redisPrefix")}rl`,
        ephemeralCache: false,
      });
      expect((await failureOf(ratelimit.limit("dead"))).message).toContain("Redis is unavailable");
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      await dead.close();
    }
  });

  it("fails fast while Redis is gone and serves again once it is back", async () => {
    const redisUrl = new URL(inject("redisUrl"));
    const proxy = await startTcpProxy({ host: redisUrl.hostname, port: Number(redisUrl.port || 6379) });
    const viaProxy = new URL(redisUrl);
    viaProxy.port = String(proxy.port);
    const flaky = await startLocalUpstash({ redisUrl: viaProxy.toString(), token });
    try {
      const redis = new Redis({ url: flaky.url, token, enableTelemetry: false });
      const k = key("outage");
      expect(await redis.set(k, "before")).toBe("OK");

      await proxy.cut();
      const started = Date.now();
      const failure = await failureOf(redis.get(k));
      expect(failure).toBeInstanceOf(errors.UpstashError);
      expect(failure.message).toContain("Redis is unavailable");
      expect(Date.now() - started).toBeLessThan(1_000);

      await proxy.restore();
      await expect.poll(() => redis.get(k).catch(() => "still down"), { timeout: 5_000 }).toBe("before");
    } finally {
      await flaky.close();
      await proxy.close();
    }
  });
});
