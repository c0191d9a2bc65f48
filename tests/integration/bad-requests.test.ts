import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApi, type TestApi, type TestTenant } from "../support/api-harness";
import { hasPostgres } from "../support/requires";

const UUID = "3f2b8c1e-4d5a-4b6c-9d7e-8f9a0b1c2d3e";
const HUGE = "x".repeat(300_000);

interface BadRequest {
  name: string;
  method: string;
  path: string;
  /** A raw body string (sent as is) or a value to JSON-encode. */
  body?: string | unknown;
  raw?: boolean;
  status: number;
  param?: string | null;
}

describe.runIf(hasPostgres())("malformed input never gets a 500", () => {
  let api: TestApi;
  let t: TestTenant;
  let conv: string;
  let ctxId: string;

  beforeAll(async () => {
    api = await startTestApi();
    t = await api.createTenant();
    conv = (
      (await (await api.fetch("/v1/conversations", { method: "POST", key: t.key, json: {} })).json()) as {
        id: string;
      }
    ).id;
    ctxId = (
      (await (
        await api.fetch("/v1/contexts", { method: "POST", key: t.key, json: { name: "n", content: "c" } })
      ).json()) as { id: string }
    ).id;
  });
  afterAll(async () => api?.stop());

  const cases = (): BadRequest[] =>
    [
      {
        name: "invalid JSON",
        method: "POST",
        path: "/v1/conversations",
        body: "{not json",
        raw: true,
        status: 400,
      },
      { name: "JSON array body", method: "POST", path: "/v1/conversations", body: [1, 2], status: 400 },
      {
        name: "JSON string body",
        method: "POST",
        path: "/v1/conversations",
        body: '"hello"',
        raw: true,
        status: 400,
      },
      {
        name: "JSON null body",
        method: "POST",
        path: "/v1/conversations",
        body: "null",
        raw: true,
        status: 400,
      },
      {
        name: "unknown field",
        method: "POST",
        path: "/v1/conversations",
        body: { titel: "typo" },
        status: 400,
        param: "titel",
      },
      {
        name: "title wrong type",
        method: "POST",
        path: "/v1/conversations",
        body: { title: 42 },
        status: 400,
        param: "title",
      },
      {
        name: "title too long",
        method: "POST",
        path: "/v1/conversations",
        body: { title: "t".repeat(501) },
        status: 400,
        param: "title",
      },
      {
        name: "metadata array",
        method: "POST",
        path: "/v1/conversations",
        body: { metadata: [1] },
        status: 400,
        param: "metadata",
      },
      {
        name: "metadata too big",
        method: "POST",
        path: "/v1/conversations",
        body: { metadata: { a: "m".repeat(20_000) } },
        status: 400,
        param: "metadata",
      },
      {
        name: "context_ids not array",
        method: "POST",
        path: "/v1/conversations",
        body: { context_ids: "abc" },
        status: 400,
        param: "context_ids",
      },
      {
        name: "context_ids bad uuid",
        method: "POST",
        path: "/v1/conversations",
        body: { context_ids: ["nope"] },
        status: 400,
        param: "context_ids.0",
      },
      {
        name: "context_ids unknown",
        method: "POST",
        path: "/v1/conversations",
        body: { context_ids: [UUID] },
        status: 404,
      },
      {
        name: "context_ids repeated",
        method: "POST",
        path: "/v1/conversations",
        body: { context_ids: [ctxId, ctxId] },
        status: 400,
        param: "context_ids",
      },
      {
        name: "body over 256 KiB",
        method: "POST",
        path: "/v1/conversations",
        body: { title: HUGE },
        status: 413,
      },
      {
        name: "conversation id not a uuid",
        method: "GET",
        path: "/v1/conversations/123",
        status: 400,
        param: "id",
      },
      {
        name: "conversation id sql-ish",
        method: "GET",
        path: "/v1/conversations/'%3B%20drop%20table%20x--",
        status: 400,
        param: "id",
      },
      { name: "unknown conversation", method: "GET", path: `/v1/conversations/${UUID}`, status: 404 },
      {
        name: "list limit zero",
        method: "GET",
        path: "/v1/conversations?limit=0",
        status: 400,
        param: "limit",
      },
      {
        name: "list limit huge",
        method: "GET",
        path: "/v1/conversations?limit=100000",
        status: 400,
        param: "limit",
      },
      {
        name: "list limit text",
        method: "GET",
        path: "/v1/conversations?limit=ten",
        status: 400,
        param: "limit",
      },
      {
        name: "list cursor garbage",
        method: "GET",
        path: "/v1/conversations?cursor=%%%",
        status: 400,
        param: "cursor",
      },
      {
        name: "list cursor forged",
        method: "GET",
        path: `/v1/conversations?cursor=${Buffer.from('{"created_at":"x","id":"y"}').toString("base64url")}`,
        status: 400,
        param: "cursor",
      },
      {
        name: "list unknown query param",
        method: "GET",
        path: "/v1/conversations?sort=asc",
        status: 400,
        param: "sort",
      },
      { name: "patch empty body", method: "PATCH", path: `/v1/conversations/${UUID}`, body: {}, status: 400 },
      { name: "patch no body", method: "PATCH", path: `/v1/conversations/${UUID}`, status: 400 },
      {
        name: "patch bad id",
        method: "PATCH",
        path: "/v1/conversations/zzz",
        body: { title: "a" },
        status: 400,
        param: "id",
      },
      { name: "delete bad id", method: "DELETE", path: "/v1/conversations/1", status: 400, param: "id" },
      {
        name: "messages bad path name",
        method: "GET",
        path: () => `/v1/conversations/${conv}/messages?path=a%20b`,
        status: 400,
        param: "path",
      },
      {
        name: "messages unknown path",
        method: "GET",
        path: () => `/v1/conversations/${conv}/messages?path=nope`,
        status: 404,
      },
      {
        name: "messages cursor forged",
        method: "GET",
        path: () =>
          `/v1/conversations/${conv}/messages?cursor=${Buffer.from('{"d":"x"}').toString("base64url")}`,
        status: 400,
        param: "cursor",
      },
      {
        name: "fork missing name",
        method: "POST",
        path: () => `/v1/conversations/${conv}/paths`,
        body: { from_message_id: UUID },
        status: 400,
        param: "name",
      },
      {
        name: "fork bad message id",
        method: "POST",
        path: () => `/v1/conversations/${conv}/paths`,
        body: { name: "x", from_message_id: "m1" },
        status: 400,
        param: "from_message_id",
      },
      {
        name: "fork unknown message",
        method: "POST",
        path: () => `/v1/conversations/${conv}/paths`,
        body: { name: "x", from_message_id: UUID },
        status: 404,
      },
      {
        name: "fork name too long",
        method: "POST",
        path: () => `/v1/conversations/${conv}/paths`,
        body: { name: "n".repeat(65), from_message_id: UUID },
        status: 400,
        param: "name",
      },
      {
        name: "move head missing",
        method: "PATCH",
        path: () => `/v1/conversations/${conv}/paths/main`,
        body: {},
        status: 400,
        param: "head_message_id",
      },
      {
        name: "move head unknown path",
        method: "PATCH",
        path: () => `/v1/conversations/${conv}/paths/ghost`,
        body: { head_message_id: UUID },
        status: 404,
      },
      {
        name: "move head bad path name",
        method: "PATCH",
        path: () => `/v1/conversations/${conv}/paths/${"%F0%9F%92%A5"}`,
        body: { head_message_id: UUID },
        status: 400,
        param: "name",
      },
      {
        name: "contexts not a list",
        method: "PUT",
        path: () => `/v1/conversations/${conv}/contexts`,
        body: { context_ids: null },
        status: 400,
        param: "context_ids",
      },
      {
        name: "contexts too many",
        method: "PUT",
        path: () => `/v1/conversations/${conv}/contexts`,
        body: { context_ids: Array(51).fill(UUID) },
        status: 400,
        param: "context_ids",
      },
      {
        name: "context empty body",
        method: "POST",
        path: "/v1/contexts",
        body: {},
        status: 400,
        param: "name",
      },
      {
        name: "context empty content",
        method: "POST",
        path: "/v1/contexts",
        body: { name: "a", content: "" },
        status: 400,
        param: "content",
      },
      {
        name: "context content object",
        method: "POST",
        path: "/v1/contexts",
        body: { name: "a", content: { x: 1 } },
        status: 400,
        param: "content",
      },
      {
        name: "context name blank",
        method: "POST",
        path: "/v1/contexts",
        body: { name: "   ", content: "c" },
        status: 400,
        param: "name",
      },
      { name: "context bad id", method: "GET", path: "/v1/contexts/abc", status: 400, param: "id" },
      { name: "context unknown id", method: "GET", path: `/v1/contexts/${UUID}`, status: 404 },
      {
        name: "context patch unknown field",
        method: "PATCH",
        path: () => `/v1/contexts/${ctxId}`,
        body: { tokens: 5 },
        status: 400,
        param: "tokens",
      },
      {
        name: "context patch nothing",
        method: "PATCH",
        path: () => `/v1/contexts/${ctxId}`,
        body: {},
        status: 400,
      },
      {
        name: "NUL byte in title",
        method: "POST",
        path: "/v1/conversations",
        body: { title: "a\u0000b" },
        status: 400,
        param: "title",
      },
      {
        name: "NUL byte in context",
        method: "POST",
        path: "/v1/contexts",
        body: { name: "a", content: "x\u0000" },
        status: 400,
        param: "content",
      },
      { name: "unknown route", method: "GET", path: "/v1/nothing-here", status: 404 },
    ].map((c) => ({ ...c, path: typeof c.path === "function" ? c.path() : c.path }));

  it("answers every one of 50 malformed requests with a 4xx and the error envelope", async () => {
    const list = cases();
    expect(list.length).toBeGreaterThanOrEqual(40);
    const results: { name: string; status: number; param?: string | null }[] = [];
    for (const c of list) {
      const body = c.body === undefined ? undefined : c.raw ? (c.body as string) : JSON.stringify(c.body);
      const res = await api.fetch(c.path as string, {
        method: c.method,
        key: t.key,
        ...(body !== undefined ? { body, headers: { "content-type": "application/json" } } : {}),
      });
      const text = await res.text();
      const json = text
        ? (JSON.parse(text) as {
            error?: { type: string; param: string | null; request_id: string };
            message?: string;
          })
        : {};
      results.push({ name: c.name, status: res.status, ...(json.error ? { param: json.error.param } : {}) });
      expect(res.status, c.name).toBeLessThan(500);
      expect(res.status, c.name).toBe(c.status);
      if (c.status >= 400 && c.name !== "unknown route") {
        expect(json.error?.request_id, c.name).toBeTruthy();
        if (c.param !== undefined) expect(json.error?.param, c.name).toBe(c.param);
      }
    }
    expect(results.filter((r) => r.status >= 500)).toEqual([]);
  });
});
