import type { z } from "zod";
import { CandorError } from "../errors";

/** The first zod issue as a 400 naming the field (`param`); unknown fields named as such. */
export function invalidRequest(issue: z.core.$ZodIssue | undefined, prefix = ""): CandorError {
  const path = issue?.path.map(String).join(".") ?? "";
  if (issue?.code === "unrecognized_keys") {
    const keys = (issue as { keys?: string[] }).keys ?? [];
    return new CandorError(
      "invalid_request",
      `Unknown field${keys.length > 1 ? "s" : ""}: ${keys.join(", ")}`,
      {
        param: [path, keys[0]].filter(Boolean).join(".") || null,
      },
    );
  }
  const message = issue?.message ?? "invalid request";
  return new CandorError("invalid_request", `${prefix}${path ? `${path}: ` : ""}${message}`, {
    param: path || null,
  });
}

/** Validates a parsed request value: the data, or a 400 from the first issue. Never a 500. */
export function validate<S extends z.ZodType>(schema: S, value: unknown, prefix = ""): z.infer<S> {
  const result = schema.safeParse(value);
  if (!result.success) throw invalidRequest(result.error.issues[0], prefix);
  return result.data;
}
