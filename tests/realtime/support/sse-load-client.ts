/**
 * Many SSE subscribers in a process of their own, so that parsing a thousand streams does not share
 * an event loop with the service under test. Started by the load tests as
 * `node --import tsx tests/realtime/support/sse-load-client.ts`, driven over IPC:
 *   {type: "open", url, count, variants: [{query, headers}]} → {type: "opened", statuses}
 *   {type: "wait", events, timeoutMs} → {type: "waited", complete}
 *   {type: "collect"} → {type: "collected", received: number[][], arrivals: number[][]} (epoch ms)
 *   {type: "close"} → {type: "closed"}
 */
import net from "node:net";

/**
 * One subscriber on a raw socket: the request by hand, and of the response only the `id:` lines
 * (each frame starts with one), found with a carry for lines split across reads. A thousand of
 * these cost the client process far less than a thousand HTTP clients with full SSE parsing, so the
 * latency measured is the service's, not this process's backlog.
 */
function openRaw(
  url: URL,
  headers: Record<string, string>,
  onId: (id: number) => void,
): Promise<{ status: number; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    socket.setNoDelay(true);
    socket.setEncoding("latin1");
    socket.once("error", reject);
    let head = true;
    let carry = "";
    socket.on("data", (chunk: string) => {
      let text = carry + chunk;
      if (head) {
        const end = text.indexOf("\r\n\r\n");
        if (end < 0) {
          carry = text;
          return;
        }
        head = false;
        resolve({ status: Number(text.slice(9, 12)), socket });
        text = text.slice(end + 4);
      }
      let at = text.indexOf("id: ");
      while (at >= 0) {
        const nl = text.indexOf("\n", at);
        if (nl < 0) break;
        if (at === 0 || text[at - 1] === "\n") onId(Number(text.slice(at + 4, nl)));
        at = text.indexOf("id: ", nl);
      }
      const lastNl = text.lastIndexOf("\n");
      carry = text.slice(lastNl + 1);
    });
    const extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("");
    socket.write(
      `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n${extra}\r\n`,
    );
  });
}

interface Variant {
  query: string;
  headers: Record<string, string>;
}

const clients: net.Socket[] = [];
const received: number[][] = [];
const arrivals: number[][] = [];
const now = () => performance.timeOrigin + performance.now();
const reply = (msg: unknown) => process.send?.(msg);

process.on("message", async (msg: { type: string; [k: string]: unknown }) => {
  if (msg.type === "open") {
    const url = msg.url as string;
    const count = msg.count as number;
    const variants = msg.variants as Variant[];
    const statuses: number[] = [];
    for (let i = 0; i < count; i += 100) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(100, count - i) }, (_, k) => {
          const index = i + k;
          const v = variants[index % variants.length] as Variant;
          const ids: number[] = [];
          const times: number[] = [];
          received[index] = ids;
          arrivals[index] = times;
          return openRaw(new URL(`${url}${v.query}`), v.headers, (id) => {
            ids.push(id);
            times.push(now());
          });
        }),
      );
      clients.push(...batch.map((c) => c.socket));
      statuses.push(...batch.map((c) => c.status));
    }
    reply({ type: "opened", statuses });
  } else if (msg.type === "wait") {
    const deadline = Date.now() + (msg.timeoutMs as number);
    const target = msg.events as number;
    while (received.some((r) => r.length < target) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    reply({ type: "waited", complete: received.every((r) => r.length >= target) });
  } else if (msg.type === "collect") {
    reply({ type: "collected", received, arrivals });
  } else if (msg.type === "close") {
    for (const c of clients) c.destroy();
    reply({ type: "closed" });
  }
});
reply({ type: "ready" });
