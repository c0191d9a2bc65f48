/**
 * The static tool registry: a fixed list, compiled in (allowed in memory: it is configuration, not
 * state). Availability is decided by configuration at cold start.
 */
export interface ToolInfo {
  name: string;
  description: string;
  available: boolean;
  /** Why it is unavailable, when it is. */
  reason: string | null;
}

export function listTools(options: { e2bConfigured: boolean }): ToolInfo[] {
  return [
    {
      name: "code_execution",
      description: "Runs Python or JavaScript in a per-conversation E2B sandbox (realtime service).",
      available: options.e2bConfigured,
      reason: options.e2bConfigured ? null : "E2B_API_KEY is not configured",
    },
  ];
}
