/** Local token estimate (limits, context-window trimming). Billing never uses it. */
export interface TokenCounter {
  count(text: string): number;
}
