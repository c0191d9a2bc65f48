/** The requests of the benchmarks: the same chat message, sent directly, through Candor, through the peer. */
import type { Agent } from "node:http";
import type { SqlDatabase } from "../../../infra/local/db/sql-database";
import type { Target } from "./load";
import { MODEL } from "./stack";

const content = (i: number) => `Benchmark message ${i}: what is the capital of France?`;
const chatBody = (i: number) =>
  JSON.stringify({ model: MODEL, messages: [{ role: "user", content: content(i) }] });

/** Straight to the fake provider's OpenAI route: the latency every gateway is compared with. */
export function directTarget(openaiBaseUrl: string, agent: Agent): Target {
  const u = new URL(openaiBaseUrl);
  return {
    name: "direct",
    base: u.origin,
    agent,
    expectStatus: 200,
    make: (i) => ({
      method: "POST",
      path: `${u.pathname}/chat/completions`,
      headers: { "content-type": "application/json", authorization: "Bearer bench-openai-key" },
      body: chatBody(i),
    }),
  };
}

/** Through Portkey's gateway to the same fake provider (its OpenAI provider with a custom host). */
export function portkeyTarget(portkeyUrl: string, openaiBaseUrl: string, agent: Agent): Target {
  return {
    name: "portkey",
    base: portkeyUrl,
    agent,
    expectStatus: 200,
    make: (i) => ({
      method: "POST",
      path: "/v1/chat/completions",
      headers: {
        "content-type": "application/json",
        authorization: "Bearer bench-openai-key",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": openaiBaseUrl,
      },
      body: chatBody(i),
    }),
  };
}

/** Candor's OpenAI-compatible route: auth, limits, live price, begin_turn, provider, complete_turn. */
export function candorCompletionsTarget(apiUrl: string, key: string, agent: Agent): Target {
  return {
    name: "candor",
    base: apiUrl,
    agent,
    expectStatus: 200,
    make: (i) => ({
      method: "POST",
      path: "/v1/chat/completions",
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: chatBody(i),
    }),
  };
}

/**
 * Candor's chat turn. Request i goes to conversation i mod P: with P above the concurrency no two
 * concurrent turns share a conversation (they would queue on its row lock, by design), and with
 * P ≥ requests / TURNS_PER_CONVERSATION each prompt stays a few messages long, like the direct call.
 */
export const TURNS_PER_CONVERSATION = 4;

export function candorTurnTarget(
  apiUrl: string,
  key: string,
  conversations: readonly string[],
  agent: Agent,
): Target {
  return {
    name: "candor",
    base: apiUrl,
    agent,
    expectStatus: 201,
    make: (i) => ({
      method: "POST",
      path: `/v1/conversations/${conversations[i % conversations.length]}/messages`,
      headers: { "content-type": "application/json", authorization: `Bearer ${key}` },
      body: JSON.stringify({ content: content(i) }),
    }),
  };
}

/**
 * Creates `count` conversations of the tenant (not measured) with the same RPC the API's
 * `POST /v1/conversations` calls, in one statement: thousands of them take a second, not minutes.
 */
export async function createConversations(
  db: SqlDatabase,
  tenantId: string,
  count: number,
): Promise<string[]> {
  const rows = await db.query<{ id: string }>(
    "select (public.create_conversation($1, 'bench'))->>'id' as id from generate_series(1, $2::int)",
    [tenantId, count],
  );
  return rows.map((r) => r.id);
}
