import { DependencyUnavailableError } from "@candor/core";

/** A database failure as the rest of the service sees it: the store is down, fail closed (503). */
export async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof DependencyUnavailableError) throw error;
    if (sqlState(error) === "PT404") throw error;
    throw new DependencyUnavailableError("postgres", "The database is unavailable", { cause: error });
  }
}

export function sqlState(error: unknown): string | undefined {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string")
    return error.code;
  return undefined;
}
