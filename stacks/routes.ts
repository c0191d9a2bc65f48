/**
 * The one route table. The SST Api stack and the local API Gateway v2 adapter both read it, so a
 * route exists in both or in neither. Each route belongs to a function group: one Lambda per group,
 * whose handler dispatches on the API Gateway `routeKey` ("GET /v1/conversations/{id}").
 */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

export interface FunctionGroup {
  /** Module path (from the repository root) and export, as SST's `handler` expects. */
  handler: string;
  memoryMB: number;
  timeoutSeconds: number;
}

export const FUNCTION_GROUPS = {
  health: { handler: "packages/functions/src/health.handler", memoryMB: 256, timeoutSeconds: 10 },
  conversations: {
    handler: "packages/functions/src/conversations.handler",
    memoryMB: 512,
    timeoutSeconds: 15,
  },
  contexts: { handler: "packages/functions/src/contexts.handler", memoryMB: 512, timeoutSeconds: 15 },
  turns: { handler: "packages/functions/src/turns.handler", memoryMB: 1024, timeoutSeconds: 30 },
  completions: { handler: "packages/functions/src/completions.handler", memoryMB: 1024, timeoutSeconds: 30 },
  account: { handler: "packages/functions/src/account.handler", memoryMB: 512, timeoutSeconds: 15 },
} as const satisfies Record<string, FunctionGroup>;

export type FunctionGroupName = keyof typeof FUNCTION_GROUPS;

export interface RouteDef {
  method: HttpMethod;
  /** API Gateway path syntax: `{id}` for a path parameter. */
  path: string;
  group: FunctionGroupName;
}

export const ROUTES: readonly RouteDef[] = [
  { method: "GET", path: "/health", group: "health" },

  { method: "POST", path: "/v1/conversations", group: "conversations" },
  { method: "GET", path: "/v1/conversations", group: "conversations" },
  { method: "GET", path: "/v1/conversations/{id}", group: "conversations" },
  { method: "PATCH", path: "/v1/conversations/{id}", group: "conversations" },
  { method: "DELETE", path: "/v1/conversations/{id}", group: "conversations" },
  { method: "GET", path: "/v1/conversations/{id}/messages", group: "conversations" },
  { method: "POST", path: "/v1/conversations/{id}/paths", group: "conversations" },
  { method: "GET", path: "/v1/conversations/{id}/paths", group: "conversations" },
  { method: "PATCH", path: "/v1/conversations/{id}/paths/{name}", group: "conversations" },
  { method: "PUT", path: "/v1/conversations/{id}/contexts", group: "conversations" },

  { method: "POST", path: "/v1/conversations/{id}/messages", group: "turns" },

  { method: "POST", path: "/v1/contexts", group: "contexts" },
  { method: "GET", path: "/v1/contexts", group: "contexts" },
  { method: "GET", path: "/v1/contexts/{id}", group: "contexts" },
  { method: "PATCH", path: "/v1/contexts/{id}", group: "contexts" },
  { method: "DELETE", path: "/v1/contexts/{id}", group: "contexts" },

  { method: "POST", path: "/v1/chat/completions", group: "completions" },
  { method: "GET", path: "/v1/models", group: "completions" },

  { method: "GET", path: "/v1/tools", group: "account" },
  { method: "GET", path: "/v1/usage", group: "account" },
  { method: "POST", path: "/v1/stream-tokens", group: "account" },
];

/** `"GET /v1/conversations/{id}"`: the API Gateway v2 route key. */
export const routeKey = (r: Pick<RouteDef, "method" | "path">): string => `${r.method} ${r.path}`;
