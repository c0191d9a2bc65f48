import type { ChatMessage } from "./model-provider.port";

export interface PricingCandidate {
  id: string;
  provider: string;
  model: string;
  input_usd_per_mtok: string;
  output_usd_per_mtok: string;
  cached_input_usd_per_mtok: string | null;
  context_window_tokens: number | null;
  /** OpenAI-compatible endpoint from the tenant policy, or null for a first-party provider. */
  base_url: string | null;
}

export interface BeginTurnInput {
  tenantId: string;
  kind: "conversation" | "completion";
  requestHash: string;
  model: string | null;
  conversationId?: string;
  path?: string;
  content?: string;
  idempotencyKey: string | null;
  maxOutputTokens: number | null;
  /** An upper bound of the input tokens of the request's own text (its bytes), for the budget. */
  estimatedInputTokens: number;
  leaseSeconds: number;
}

/** What the turn's stored response holds; the HTTP routes shape it for their clients. */
export interface TurnRecord {
  turn_id: string;
  user_message: Record<string, unknown> | null;
  assistant_message: Record<string, unknown> & { content: string };
  usage: { input_tokens: number; output_tokens: number; cached_input_tokens: number };
  cost: { usd: string; pricing_id: string };
  model: string;
  provider: string;
  finish_reason: string | null;
  created_at: string;
}

export type BeginTurnResult =
  | { status: "replay"; response: TurnRecord }
  | {
      status: "started";
      turn_id: string;
      attempt: number;
      user_message: Record<string, unknown> | null;
      candidates: PricingCandidate[];
      max_output_tokens: number;
      prompt: ChatMessage[];
      contexts: { id: string; name: string; content: string; token_count: number }[];
    };

export interface CompleteTurnInput {
  tenantId: string;
  turnId: string;
  attempt: number;
  pricingId: string;
  content: string;
  inputTokens: number;
  outputTokens: number;
  cachedInputTokens: number;
  finishReason: string;
}

export interface FailTurnInput {
  tenantId: string;
  turnId: string;
  attempt: number;
  error: { code: string; failure?: string };
  /** Set when the provider reported usage for the failed call: then, and only then, it is charged. */
  charge?: { pricingId: string; inputTokens: number; outputTokens: number; cachedInputTokens: number };
}

export interface TurnStore {
  begin(input: BeginTurnInput): Promise<BeginTurnResult>;
  complete(input: CompleteTurnInput): Promise<TurnRecord>;
  fail(input: FailTurnInput): Promise<void>;
}
