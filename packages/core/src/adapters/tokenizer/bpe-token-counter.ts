import { createHash } from "node:crypto";
import { LRUCache } from "lru-cache";
import type { TokenCounter } from "../../domain/ports/token-counter.port";

/** Texts shorter than this are counted directly: hashing them costs about as much as counting. */
const CACHE_MIN_CHARS = 2_048;

type CountTokens = (text: string) => number;

/**
 * o200k_base BPE counts (the encoding of current OpenAI models; a close estimate for Anthropic's).
 * The encoder (about 2.7 MB of tables) is imported on first use: with code splitting it is a
 * separate chunk, so a Lambda that never counts tokens (health, graph reads) never loads it.
 *
 * Bounded local optimization: an LRU of at most 1,000 counts of long texts (contexts are re-sent on
 * every turn), keyed by the sha-256 of the text, so it holds numbers, never text. Per instance, not
 * required for correctness: a miss just counts again.
 */
export class BpeTokenCounter implements TokenCounter {
  private readonly cache = new LRUCache<string, number>({ max: 1_000 });
  private encoder: Promise<CountTokens> | undefined;

  private load(): Promise<CountTokens> {
    this.encoder ??= import("gpt-tokenizer/encoding/o200k_base").then((m) => m.countTokens as CountTokens);
    return this.encoder;
  }

  async count(text: string): Promise<number> {
    const countTokens = await this.load();
    if (text.length < CACHE_MIN_CHARS) return countTokens(text);
    const key = createHash("sha256").update(text).digest("base64");
    const hit = this.cache.get(key);
    if (hit !== undefined) return hit;
    const n = countTokens(text);
    this.cache.set(key, n);
    return n;
  }
}
