/**
 * The deterministic "model": reply text and usage are pure functions of the request (and the
 * `replyWords` / `promptCaching` switches), so the same request always yields the same text and the
 * same usage, streamed or not.
 *
 * Token rule (documented, not a real tokenizer): a token is a maximal run of letters, digits and
 * underscores, or any other single non-space character; whitespace is free. So "Hello, world!" is 4.
 * - prompt tokens: for the system prompt (when non-empty) and for every message, 1 for the role plus
 *   the tokens of its text; plus the tokens of the JSON of the tool definitions, when any.
 * - output tokens: the tokens of the reply text.
 * - cached prompt tokens (only with `promptCaching`): the prompt tokens of everything before the last
 *   message (system, tools and earlier messages).
 */
import { createHash } from "node:crypto";

/** One prompt entry: a role ("system", "tools", or a message role) and the text that counts for tokens. */
export type PromptPart = { role: string; text: string };

export type CompletionInput = {
  model: string;
  /** System prompt and tool definitions first (role "system" / "tools"), then the messages in order. */
  prompt: PromptPart[];
  /** Text of the last user message (text blocks only). */
  lastUserText: string;
  /** null = no cap. */
  maxTokens: number | null;
  replyWords: number | null;
  promptCaching: boolean;
};

export type Completion = {
  text: string;
  /** "length" when max tokens cut the reply. */
  finish: "stop" | "length";
  promptTokens: number;
  /** Part of promptTokens read from the cache. */
  cachedTokens: number;
  outputTokens: number;
};

const TOKEN = /[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;

export function countTokens(text: string): number {
  let n = 0;
  for (const _ of text.matchAll(TOKEN)) n++;
  return n;
}

/** The prefix of `text` that ends with its `max`-th token. */
export function truncateToTokens(text: string, max: number): string {
  let n = 0;
  for (const m of text.matchAll(TOKEN)) {
    if (++n === max) return text.slice(0, m.index + m[0].length);
  }
  return text;
}

const partTokens = (part: PromptPart): number =>
  part.role === "tools" ? countTokens(part.text) : 1 + countTokens(part.text);

const LOREM = (
  "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore " +
  "et dolore magna aliqua enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip " +
  "ex ea commodo consequat duis aute irure in reprehenderit voluptate velit esse cillum fugiat nulla"
).split(" ");

function lorem(seedText: string, words: number): string {
  // 32 bytes of sha-256 per block of 16 words (2 bytes a word), as many blocks as needed
  const out: string[] = [];
  for (let block = 0; out.length < words; block++) {
    const digest = createHash("sha256").update(`${block}\n${seedText}`).digest();
    for (let i = 0; i + 1 < digest.length && out.length < words; i += 2) {
      out.push(LOREM[digest.readUInt16BE(i) % LOREM.length] ?? "lorem");
    }
  }
  const sentence = out.join(" ");
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}

export function replyText(model: string, lastUserText: string, replyWords: number | null): string {
  if (replyWords !== null) return lorem(`${model}\n${lastUserText}`, replyWords);
  return `Echo: ${Array.from(lastUserText).slice(0, 200).join("")}`.trimEnd();
}

export function complete(input: CompletionInput): Completion {
  const full = replyText(input.model, input.lastUserText, input.replyWords);
  const fullTokens = countTokens(full);
  const cut = input.maxTokens !== null && fullTokens > input.maxTokens;
  const text = cut ? truncateToTokens(full, input.maxTokens ?? 0) : full;
  const promptTokens = input.prompt.reduce((sum, part) => sum + partTokens(part), 0);
  const prefix = input.prompt.slice(0, -1);
  const cachedTokens = input.promptCaching ? prefix.reduce((sum, part) => sum + partTokens(part), 0) : 0;
  return {
    text,
    finish: cut ? "length" : "stop",
    promptTokens,
    cachedTokens,
    outputTokens: cut ? (input.maxTokens ?? 0) : fullTokens,
  };
}

/** Splits a reply into stream deltas (a word with its leading space each); joined, they are the text. */
export function deltas(text: string): string[] {
  const pieces: string[] = [...(text.match(/\s*\S+/g) ?? [])];
  const rest = text.slice(pieces.join("").length);
  if (rest) pieces.push(rest);
  return pieces;
}

/** Text of one message's content: a string, or the `text` of its text blocks/parts joined by "\n". */
export function contentText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter((b): b is { text: string } => isRecord(b) && b.type === "text" && typeof b.text === "string")
    .map((b) => b.text)
    .join("\n");
}

/** What one message's content counts for tokens: the text, plus the JSON of any non-text block. */
export function contentTokenText(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return content == null ? "" : JSON.stringify(content);
  return content
    .map((b) => (isRecord(b) && b.type === "text" && typeof b.text === "string" ? b.text : JSON.stringify(b)))
    .join("\n");
}

export const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);
