/**
 * A TCP pass-through that injects faults between a client and a server (the local Upstash endpoint
 * and Redis, in the fault suite), without touching the server other test runs share:
 * - `cut()`: refuse. Drops every connection and stops listening: connects get ECONNREFUSED, as if
 *   the server were stopped. `restore()` listens again on the same port.
 * - `setMode({ kind: "delay", ms })`: every chunk, both ways, is forwarded `ms` later (order kept).
 * - `setMode({ kind: "hang" })`: connections are accepted but nothing is forwarded either way; the
 *   held bytes are released, in order, when the mode changes back (a hung server that recovers).
 * - `setMode({ kind: "reset" })`: a connection is reset (TCP RST) as soon as the client sends
 *   something: the request is written, the answer never comes, the peer sees ECONNRESET.
 * - `setMode({ kind: "pass" })`: back to a plain pass-through.
 */
import net from "node:net";

export type TcpProxyMode =
  | { kind: "pass" }
  | { kind: "delay"; ms: number }
  | { kind: "hang" }
  | { kind: "reset" };

export type TcpProxy = {
  port: number;
  /** Drops every open connection and stops listening: the endpoint sees Redis vanish. */
  cut(): Promise<void>;
  /** Listens again on the same port. */
  restore(): Promise<void>;
  /** Changes how data is forwarded, for open and new connections alike. */
  setMode(mode: TcpProxyMode): void;
  readonly mode: TcpProxyMode;
  /** Connections reset by the `reset` mode so far. */
  readonly resets: number;
  close(): Promise<void>;
};

type Link = { from: net.Socket; to: net.Socket; releaseAt: number; held: Buffer[]; upstream: boolean };

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const links = new Set<Link>();
  let mode: TcpProxyMode = { kind: "pass" };
  let resets = 0;

  const write = (link: Link, chunk: Buffer) => {
    if (!link.to.destroyed) link.to.write(chunk);
  };
  const forward = (link: Link, chunk: Buffer) => {
    if (mode.kind === "hang" || link.held.length > 0) {
      link.held.push(chunk);
      return;
    }
    const delay = mode.kind === "delay" ? mode.ms : 0;
    const now = Date.now();
    // keep the byte order: a chunk never overtakes one scheduled before it
    const at = Math.max(now + delay, link.releaseAt);
    link.releaseAt = at;
    if (at <= now) write(link, chunk);
    else setTimeout(() => write(link, chunk), at - now);
  };

  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    const pair: [net.Socket, net.Socket][] = [
      [client, upstream],
      [upstream, client],
    ];
    for (const [from, to] of pair) {
      const link: Link = { from, to, releaseAt: 0, held: [], upstream: from === client };
      links.add(link);
      sockets.add(from);
      from.on("data", (chunk: Buffer) => {
        if (mode.kind === "reset" && link.upstream) {
          resets++;
          client.resetAndDestroy();
          upstream.resetAndDestroy();
          return;
        }
        forward(link, chunk);
      });
      from.on("error", () => to.destroy());
      from.on("close", () => {
        sockets.delete(from);
        links.delete(link);
        to.destroy();
      });
    }
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(0);
  const { port } = server.address() as net.AddressInfo;

  const cut = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    port,
    cut,
    restore: () => listen(port),
    setMode(next) {
      mode = next;
      if (next.kind === "hang") return;
      // a recovered server answers what it was sent while it hung
      for (const link of links) {
        const held = link.held.splice(0);
        for (const chunk of held) forward(link, chunk);
      }
    },
    get mode() {
      return mode;
    },
    get resets() {
      return resets;
    },
    close: () => {
      mode = { kind: "pass" };
      return server.listening ? cut() : Promise.resolve();
    },
  };
}
