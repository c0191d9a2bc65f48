import { createHandler, json } from "./http/handler";
import { core } from "./root";

export const handler = createHandler(core, {
  "GET /health": async () => {
    const health = await core.health();
    return json(health.status === "down" ? 503 : 200, health, { "cache-control": "no-store" });
  },
});
