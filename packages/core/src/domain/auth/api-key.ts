import { createHash, randomBytes } from "node:crypto";

export const API_KEY_PREFIX = "cnd_live_";
const KEY_PATTERN = /^cnd_live_[A-Za-z0-9]{32}$/;
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export const API_KEY_SCOPES = [
  "conversations:read",
  "conversations:write",
  "completions",
  "usage:read",
  "admin",
] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export interface GeneratedApiKey {
  /** The full key: shown once, never stored. */
  key: string;
  /** Stored and shown in listings: enough to recognise a key, not to use it. */
  prefix: string;
  /** sha-256 hex of the full key: the only form the store keeps. */
  hash: string;
}

export function hashApiKey(key: string): string {
  return createHash("sha256").update(key, "utf8").digest("hex");
}

export function isWellFormedApiKey(key: string): boolean {
  return KEY_PATTERN.test(key);
}

/** 32 characters from a 62-letter alphabet (about 190 bits), without modulo bias. */
export function generateApiKey(): GeneratedApiKey {
  let body = "";
  while (body.length < 32) {
    for (const byte of randomBytes(48)) {
      if (byte < 248 && body.length < 32) body += ALPHABET[byte % 62];
    }
  }
  const key = `${API_KEY_PREFIX}${body}`;
  return { key, prefix: key.slice(0, API_KEY_PREFIX.length + 6), hash: hashApiKey(key) };
}
