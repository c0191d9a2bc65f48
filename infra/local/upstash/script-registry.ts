import { createHash } from "node:crypto";
import type { RedisCommand } from "./commands";

const LOCKING_FLAG = "allow-key-locking";
// Bound: one entry per distinct script text that carried the flag; an application has a handful
// (ratelimit has five). It is local because it mirrors Upstash's own server-side script registry.
const MAX_SCRIPTS = 1000;

const sha1 = (text: string): string => createHash("sha1").update(text).digest("hex");

/**
 * Removes `allow-key-locking` from a `#!lua flags=…` shebang: Upstash understands it, stock Redis 7
 * rejects the script (`ERR Unexpected flag in script shebang`) and @upstash/ratelimit ≥ 2.1 sends it
 * on every limiter script (protocols.md A5). Returns the script unchanged when the flag is absent.
 */
export function stripKeyLockingFlag(script: string): string {
  if (!script.startsWith("#!")) return script;
  const end = script.indexOf("\n");
  const shebang = end === -1 ? script : script.slice(0, end);
  const parts = shebang.split(" ");
  const rewritten = parts.flatMap((part) => {
    if (!part.startsWith("flags=")) return [part];
    const flags = part
      .slice("flags=".length)
      .split(",")
      .filter((f) => f !== LOCKING_FLAG);
    return flags.length > 0 ? [`flags=${flags.join(",")}`] : [];
  });
  if (rewritten.length === parts.length && rewritten.every((p, i) => p === parts[i])) return script;
  return rewritten.join(" ") + (end === -1 ? "" : script.slice(end));
}

/**
 * Keeps `sha1(original) → sha1(rewritten)` so a client's EVALSHA of the hash it computed from the
 * text it sent (ratelimit hardcodes those hashes) reaches the script Redis actually cached.
 */
export class ScriptRegistry {
  readonly #rewrittenSha = new Map<string, string>();

  /**
   * The command to send to Redis, and how to fix its reply: SCRIPT LOAD must answer with the hash of
   * the original text. Registration happens here, before sending, so a later EVALSHA in the same
   * pipeline (same connection, in order) is already translated.
   */
  translate(command: RedisCommand): { command: RedisCommand; reply?: (value: unknown) => unknown } {
    const { name, args } = command;
    const upper = name.toUpperCase();
    const sub = args[0]?.toUpperCase();
    if ((upper === "EVAL" || upper === "EVAL_RO") && args[0] !== undefined) {
      return { command: { name, args: [this.#register(args[0]), ...args.slice(1)] } };
    }
    if ((upper === "EVALSHA" || upper === "EVALSHA_RO") && args[0] !== undefined) {
      return { command: { name, args: [this.#lookup(args[0]), ...args.slice(1)] } };
    }
    if (upper === "SCRIPT" && sub === "LOAD" && args[1] !== undefined) {
      const original = args[1];
      const script = this.#register(original);
      const reply = script === original ? undefined : () => Buffer.from(sha1(original));
      return { command: { name, args: [args[0] ?? "", script] }, reply };
    }
    if (upper === "SCRIPT" && sub === "EXISTS") {
      return { command: { name, args: [args[0] ?? "", ...args.slice(1).map((s) => this.#lookup(s))] } };
    }
    if (upper === "SCRIPT" && sub === "FLUSH") this.#rewrittenSha.clear();
    return { command };
  }

  #register(original: string): string {
    const script = stripKeyLockingFlag(original);
    if (script === original) return original;
    const key = sha1(original);
    this.#rewrittenSha.delete(key);
    this.#rewrittenSha.set(key, sha1(script));
    if (this.#rewrittenSha.size > MAX_SCRIPTS) {
      const oldest = this.#rewrittenSha.keys().next().value;
      if (oldest !== undefined) this.#rewrittenSha.delete(oldest);
    }
    return script;
  }

  #lookup(sha: string): string {
    return this.#rewrittenSha.get(sha.toLowerCase()) ?? sha;
  }
}
