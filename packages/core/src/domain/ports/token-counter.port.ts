/** Local token estimate (limits, context-window trimming). Billing never uses it. */
export interface TokenCounter {
  /** Async: the tokenizer's tables load on first use, so bundles that never count pay nothing. */
  count(text: string): Promise<number>;
}
