import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyResultV2,
  APIGatewayProxyStructuredResultV2,
} from "aws-lambda";
import {
  FUNCTION_GROUPS,
  type FunctionGroupName,
  ROUTES,
  type RouteDef,
  routeKey,
} from "../../stacks/routes";

/** API Gateway's own payload limit for HTTP APIs. */
const MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

type Handler = (
  event: APIGatewayProxyEventV2,
  context: Record<string, unknown>,
) => Promise<APIGatewayProxyResultV2>;

interface CompiledRoute {
  def: RouteDef;
  key: string;
  pattern: RegExp;
  params: string[];
}

function compile(def: RouteDef): CompiledRoute {
  const params: string[] = [];
  const source = def.path
    .split("/")
    .map((seg) => {
      const m = /^\{([A-Za-z0-9_]+)\}$/.exec(seg);
      if (!m?.[1]) return seg.replace(/[.*+?^$()|[\]\\]/g, "\\$&");
      params.push(m[1]);
      return "([^/]+)";
    })
    .join("/");
  return { def, key: routeKey(def), pattern: new RegExp(`^${source}$`), params };
}

/** Loads the handler module of a function group: the same export the group's Lambda runs. */
async function loadGroupHandler(group: FunctionGroupName): Promise<Handler> {
  const [file, exportName] = FUNCTION_GROUPS[group].handler.split(".") as [string, string];
  const mod = (await import(new URL(`../../${file}.ts`, import.meta.url).href)) as Record<string, unknown>;
  const fn = mod[exportName];
  if (typeof fn !== "function") throw new Error(`${file} has no export ${exportName}`);
  return fn as Handler;
}

export interface LocalApiOptions {
  port: number;
  host?: string;
  /** Defaults to the route table of stacks/routes.ts. */
  routes?: readonly RouteDef[];
  loadHandler?: (group: FunctionGroupName) => Promise<Handler>;
}

export interface LocalApi {
  url: string;
  server: Server;
  close(): Promise<void>;
}

const text = (res: ServerResponse, status: number, message: string) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ message }));
};

/**
 * An API Gateway HTTP API (payload format 2.0) on one port: each request becomes an
 * APIGatewayProxyEventV2 and goes to the handler export of its route's function group, exactly as
 * the deployed Lambda would receive it.
 */
export async function startLocalApi(options: LocalApiOptions): Promise<LocalApi> {
  const compiled = (options.routes ?? ROUTES).map(compile);
  const load = options.loadHandler ?? loadGroupHandler;
  // one promise per function group, like one warm Lambda per group: a fixed, small set
  const handlers = new Map<FunctionGroupName, Promise<Handler>>();

  const server = createServer(async (req, res) => {
    try {
      await serve(req, res);
    } catch {
      if (!res.headersSent) text(res, 500, "Internal Server Error");
      else res.destroy();
    }
  });

  async function serve(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? "/", "http://local");
    const method = (req.method ?? "GET").toUpperCase();
    let match: { route: CompiledRoute; values: string[] } | undefined;
    for (const route of compiled) {
      if (route.def.method !== method) continue;
      const m = route.pattern.exec(url.pathname);
      if (m) {
        match = { route, values: m.slice(1) };
        break;
      }
    }
    if (!match) return text(res, 404, "Not Found");

    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_PAYLOAD_BYTES) return text(res, 413, "Request Entity Too Large");
      chunks.push(chunk as Buffer);
    }
    const raw = Buffer.concat(chunks);
    const contentType = String(req.headers["content-type"] ?? "");
    const isText =
      raw.length === 0 || /^(text\/|application\/(json|x-www-form-urlencoded|xml))|\+json/.test(contentType);

    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
    }
    const query: Record<string, string> = {};
    for (const [k, v] of url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
    const pathParameters: Record<string, string> = {};
    match.route.params.forEach((name, i) => {
      const value = match.values[i] ?? "";
      try {
        pathParameters[name] = decodeURIComponent(value);
      } catch {
        pathParameters[name] = value;
      }
    });
    const now = new Date();
    const requestId = randomUUID();
    const event: APIGatewayProxyEventV2 = {
      version: "2.0",
      routeKey: match.route.key,
      rawPath: url.pathname,
      rawQueryString: url.search.slice(1),
      headers,
      requestContext: {
        accountId: "local",
        apiId: "local",
        domainName: headers.host ?? "localhost",
        domainPrefix: "local",
        http: {
          method,
          path: url.pathname,
          protocol: `HTTP/${req.httpVersion}`,
          sourceIp: req.socket.remoteAddress ?? "127.0.0.1",
          userAgent: headers["user-agent"] ?? "",
        },
        requestId,
        routeKey: match.route.key,
        stage: "$default",
        time: now.toUTCString(),
        timeEpoch: now.getTime(),
      },
      isBase64Encoded: !isText,
      ...(headers.cookie ? { cookies: headers.cookie.split(/;\s*/) } : {}),
      ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
      ...(match.route.params.length ? { pathParameters } : {}),
      ...(raw.length ? { body: isText ? raw.toString("utf8") : raw.toString("base64") } : {}),
    };

    const group = match.route.def.group;
    let handler = handlers.get(group);
    if (!handler) {
      handler = load(group);
      handlers.set(group, handler);
      handler.catch(() => handlers.delete(group));
    }
    const result = await (await handler)(event, { awsRequestId: requestId, functionName: `candor-${group}` });
    writeResult(res, result);
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host ?? "127.0.0.1", () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${options.host ?? "127.0.0.1"}:${addr.port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Payload format 2.0 response rules, including the inference for non-structured results. */
function writeResult(res: ServerResponse, result: APIGatewayProxyResultV2) {
  const structured: APIGatewayProxyStructuredResultV2 =
    typeof result === "object" && result !== null && "statusCode" in result
      ? (result as APIGatewayProxyStructuredResultV2)
      : { statusCode: 200, headers: { "content-type": "application/json" }, body: JSON.stringify(result) };
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(structured.headers ?? {})) headers[k.toLowerCase()] = String(v);
  if (structured.cookies?.length) headers["set-cookie"] = structured.cookies;
  const body = structured.body
    ? Buffer.from(structured.body, structured.isBase64Encoded ? "base64" : "utf8")
    : Buffer.alloc(0);
  headers["content-length"] = String(body.length);
  res.writeHead(structured.statusCode ?? 200, headers);
  res.end(body);
}
