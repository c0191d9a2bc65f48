/**
 * Where the Upstash conformance suite points: the local endpoint in front of this run's Redis, or,
 * with `CANDOR_CONFORMANCE_TARGET=cloud` and real credentials, Upstash itself.
 */
import { randomBytes } from "node:crypto";
import { startLocalUpstash } from "../../infra/local/upstash/index";

export type UpstashTarget = {
  mode: "local" | "cloud";
  url: string;
  token: string;
  close(): Promise<void>;
};

export function cloudCredentials(): { url: string; token: string } | null {
  const url = process.env.UPSTASH_REDIS_REST_URL;
  const token = process.env.UPSTASH_REDIS_REST_TOKEN;
  if (process.env.CANDOR_CONFORMANCE_TARGET !== "cloud" || !url || !token) return null;
  return { url, token };
}

export async function startUpstashTarget(redisUrl: string): Promise<UpstashTarget> {
  const cloud = cloudCredentials();
  if (cloud) return { mode: "cloud", ...cloud, close: async () => {} };
  const token = randomBytes(16).toString("hex");
  const endpoint = await startLocalUpstash({ redisUrl, token });
  return { mode: "local", url: endpoint.url, token, close: endpoint.close };
}
