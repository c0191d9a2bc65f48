/**
 * The fake provider's behaviour switches. One set is global (`setBehavior`, env, CLI); a request can
 * override any of them with an `x-fake-behavior: <json>` header, so concurrent tests sharing one
 * server do not interfere.
 */

/** Statuses the fake can answer with, each in the provider's own error shape. */
export const ERROR_STATUSES = [400, 401, 429, 500, 503, 529] as const;
export type ErrorStatus = (typeof ERROR_STATUSES)[number];

export type FakeBehavior = {
  /** Wait this long before answering (headers included), errors too. */
  latencyMs: number;
  /** Answer every request with this error instead of a completion; null = no forced error. */
  status: ErrorStatus | null;
  /**
   * Fraction (0..1) of requests answered with `failStatus`. Deterministic: the n-th model request
   * that reaches the check draws the n-th number of a mulberry32 sequence seeded with `failSeed`
   * (one global sequence, restarted by `reset()` or by setting `failRate`/`failSeed`), and fails when
   * that number is below `failRate`. Concurrent requests may draw in any order; the count is fixed.
   */
  failRate: number;
  failStatus: ErrorStatus;
  failSeed: number;
  /** `retry-after` (seconds) on 429 answers. */
  retryAfterSeconds: number;
  /** Accept the request and never answer; the entry is marked aborted once the client gives up. */
  timeout: boolean;
  /**
   * Answer 200 with a broken body. "garbage": JSON content type, body not JSON (in a stream: a `data:`
   * line that is not JSON); "schema": valid JSON in the wrong shape, which the SDKs do not validate.
   */
  malformed: false | "garbage" | "schema";
  /** Pause between SSE events of a streamed answer. */
  streamChunkDelayMs: number;
  /**
   * Close the socket after this many SSE events (Anthropic: every event, ping included; OpenAI:
   * every `data:` chunk). Non-streaming: after half of the body. null = never.
   */
  dropMidStream: number | null;
  /** Reply with a seeded lorem of this many words instead of the echo; null = echo. */
  replyWords: number | null;
  /**
   * Report the prompt prefix (everything before the last message) as read from the prompt cache:
   * Anthropic `cache_read_input_tokens`, OpenAI `prompt_tokens_details.cached_tokens`.
   */
  promptCaching: boolean;
};

export const DEFAULT_BEHAVIOR: Readonly<FakeBehavior> = Object.freeze({
  latencyMs: 0,
  status: null,
  failRate: 0,
  failStatus: 500,
  failSeed: 1,
  retryAfterSeconds: 1,
  timeout: false,
  malformed: false,
  streamChunkDelayMs: 0,
  dropMidStream: null,
  replyWords: null,
  promptCaching: false,
});

export class BehaviorError extends Error {
  override name = "BehaviorError";
}

const isStatus = (v: unknown): v is ErrorStatus => ERROR_STATUSES.includes(v as ErrorStatus);
const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;

type Check = (value: unknown) => boolean;
const CHECKS: { [K in keyof FakeBehavior]: [Check, string] } = {
  latencyMs: [isCount, "a non-negative integer"],
  status: [(v) => v === null || isStatus(v), `null or one of ${ERROR_STATUSES.join(", ")}`],
  failRate: [(v) => typeof v === "number" && v >= 0 && v <= 1, "a number from 0 to 1"],
  failStatus: [isStatus, `one of ${ERROR_STATUSES.join(", ")}`],
  failSeed: [Number.isInteger, "an integer"],
  retryAfterSeconds: [isCount, "a non-negative integer"],
  timeout: [(v) => typeof v === "boolean", "a boolean"],
  malformed: [(v) => v === false || v === "garbage" || v === "schema", 'false, "garbage" or "schema"'],
  streamChunkDelayMs: [isCount, "a non-negative integer"],
  dropMidStream: [(v) => v === null || isCount(v), "null or a non-negative integer"],
  replyWords: [(v) => v === null || (isCount(v) && v > 0), "null or a positive integer"],
  promptCaching: [(v) => typeof v === "boolean", "a boolean"],
};

/** Validates a partial behaviour (from code, a header, env or the control endpoint). */
export function parseBehavior(input: unknown, source: string): Partial<FakeBehavior> {
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new BehaviorError(`${source}: expected a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [key, raw] of Object.entries(input)) {
    const check = CHECKS[key as keyof FakeBehavior];
    if (!check) throw new BehaviorError(`${source}: unknown switch "${key}"`);
    // `malformed: true` is accepted as the common case
    const value = key === "malformed" && raw === true ? "garbage" : raw;
    if (!check[0](value)) throw new BehaviorError(`${source}: "${key}" must be ${check[1]}`);
    out[key] = value;
  }
  return out as Partial<FakeBehavior>;
}

export function parseBehaviorJson(text: string, source: string): Partial<FakeBehavior> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BehaviorError(`${source}: not valid JSON`);
  }
  return parseBehavior(json, source);
}

/** The deterministic draw behind `failRate` (mulberry32: small, fast, well distributed). */
export class FailSequence {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}
