/**
 * A tiny request/answer protocol over Node's IPC channel, between the bench driver and its child
 * processes (services, API, …). The children keep stdout for what the code under test writes (EMF
 * lines, logs) and never print their results there.
 */
import type { ChildProcess } from "node:child_process";

type Request = { id: number; op: string; arg?: unknown };
type Answer = { id: number; result?: unknown; error?: string };
type Ready = { ready: unknown };

export type IpcHandlers = Record<string, (arg: unknown) => unknown>;

/** Child side: answers the driver's calls, announces `ready`, exits when the driver goes away. */
export function serveIpc(handlers: IpcHandlers, ready: unknown): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error("start this process with an IPC channel (stdio 'ipc')");
  process.on("message", (raw) => {
    const m = raw as Request;
    const fn = handlers[m.op];
    Promise.resolve()
      .then(() => {
        if (!fn) throw new Error(`unknown op ${m.op}`);
        return fn(m.arg);
      })
      .then(
        (result) => send({ id: m.id, result } satisfies Answer),
        (error: unknown) =>
          send({ id: m.id, error: error instanceof Error ? error.message : String(error) } satisfies Answer),
      );
  });
  // an orphan must not outlive the bench run that started it
  process.on("disconnect", () => process.exit(0));
  send({ ready } satisfies Ready);
}

export interface IpcClient {
  call<T>(op: string, arg?: unknown): Promise<T>;
}

/** Driver side: waits for the child's `ready` payload (or its death), then calls by name. */
export function connectIpc<R>(
  child: ChildProcess,
  what: string,
  timeoutMs: number,
  stderr: () => string,
): Promise<{ ready: R; ipc: IpcClient }> {
  let seq = 0;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${what} did not start in ${timeoutMs} ms: ${stderr()}`)),
      timeoutMs,
    );
    child.on("message", (raw) => {
      const m = raw as Answer | Ready;
      if ("ready" in m) {
        clearTimeout(timer);
        resolve({
          ready: m.ready as R,
          ipc: {
            call<T>(op: string, arg?: unknown) {
              const id = ++seq;
              return new Promise<T>((ok, fail) => {
                pending.set(id, { resolve: ok as (v: unknown) => void, reject: fail });
                child.send({ id, op, arg } satisfies Request);
              });
            },
          },
        });
        return;
      }
      const p = pending.get(m.id);
      if (!p) return;
      pending.delete(m.id);
      if (m.error !== undefined) p.reject(new Error(`${what}: ${m.error}`));
      else p.resolve(m.result);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      const error = new Error(`${what} exited (${code ?? signal}): ${stderr()}`);
      reject(error);
      for (const p of pending.values()) p.reject(error);
      pending.clear();
    });
  });
}
