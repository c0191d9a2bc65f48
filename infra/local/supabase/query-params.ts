import { PgrstError } from "./errors";

/**
 * The query string as PostgREST reads it (ApiRequest/QueryParams.hs), restricted to what this
 * endpoint implements: `select` (columns, aliases, casts), root-level filters with the simple
 * operators, `order`, `limit`, `offset`. Anything else PostgREST would understand (embedding, `and`/`or`,
 * JSON paths, full-text search) is refused with PGRST100 rather than silently ignored.
 */
export type FilterOperator =
  | "eq"
  | "neq"
  | "gt"
  | "gte"
  | "lt"
  | "lte"
  | "like"
  | "ilike"
  | "match"
  | "imatch"
  | "is"
  | "in"
  | "cs"
  | "cd"
  | "ov";

export interface Filter {
  column: string;
  negated: boolean;
  operator: FilterOperator;
  /** `in`: the list; `is`: null | not_null | true | false | unknown; others: the raw value. */
  value: string | string[];
}

export interface OrderTerm {
  column: string;
  direction: "asc" | "desc" | undefined;
  nulls: "first" | "last" | undefined;
}

export interface SelectItem {
  column: string;
  alias: string | undefined;
  cast: string | undefined;
}

export interface QueryParams {
  /** undefined means `*`. */
  select: SelectItem[] | undefined;
  filters: Filter[];
  order: OrderTerm[];
  limit: number | undefined;
  offset: number;
  /** Query parameters that are RPC arguments (GET/HEAD): not reserved, not filters. */
  args: Map<string, string>;
}

// constant vocabularies of PostgREST query syntax (fixed, a few dozen names): not state
const SIMPLE_OPERATORS = new Set([
  "eq",
  "neq",
  "gt",
  "gte",
  "lt",
  "lte",
  "like",
  "ilike",
  "match",
  "imatch",
  "cs",
  "cd",
  "ov",
]);
const FTS_OPERATORS = new Set(["fts", "plfts", "phfts", "wfts"]);
// PostgREST's `reserved` and `reservedEmbeddable` (the latter also as the last segment of `a.b.order`)
const RESERVED = new Set(["select", "columns", "on_conflict"]);
const RESERVED_EMBEDDABLE = new Set(["order", "limit", "offset", "and", "or"]);

function badParam(message: string, details: string | null = null): PgrstError {
  return new PgrstError(400, { code: "PGRST100", message, details });
}

function lastSegment(key: string): string {
  const parts = key.split(".");
  return parts[parts.length - 1] ?? key;
}

/** PostgREST `hasOperator`: a value that starts with an operator makes the parameter a filter. */
function hasOperator(value: string): boolean {
  const parts = value.split(".");
  const first = parts[0] ?? "";
  if (first === "not" && parts.length >= 2) return true;
  if (first === "is" || first === "in") return true;
  if (parts.length >= 2 && (SIMPLE_OPERATORS.has(first) || FTS_OPERATORS.has(first))) return true;
  const paren = value.split("(");
  return paren.length >= 2 && FTS_OPERATORS.has(paren[0] ?? "");
}

function unquoteName(raw: string): string {
  const name = raw.trim();
  if (name.length >= 2 && name.startsWith('"') && name.endsWith('"'))
    return name.slice(1, -1).replace(/""/g, '"');
  return name;
}

/** Splits on commas outside double quotes and parentheses. */
function splitTopLevel(text: string): string[] {
  const out: string[] = [];
  let current = "";
  let quoted = false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] ?? "";
    if (ch === "\\" && quoted && i + 1 < text.length) {
      current += ch + (text[i + 1] ?? "");
      i++;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    else if (!quoted && ch === "(") depth++;
    else if (!quoted && ch === ")") depth--;
    if (ch === "," && !quoted && depth === 0) {
      out.push(current);
      current = "";
    } else {
      current += ch;
    }
  }
  out.push(current);
  return out;
}

function checkColumnName(name: string, context: string): string {
  if (!name) throw badParam(`failed to parse ${context}`, "empty column name");
  if (/->|\(|\)/.test(name)) {
    throw badParam(
      `failed to parse ${context}`,
      `'${name}': JSON paths and embedded resources are not supported here`,
    );
  }
  return name;
}

function parseSelect(raw: string): SelectItem[] | undefined {
  const items: SelectItem[] = [];
  for (const part of splitTopLevel(raw)) {
    const text = part.trim();
    if (text === "*") return undefined;
    if (text.includes("(")) {
      throw badParam(
        `failed to parse select parameter (${raw})`,
        "embedded resources are not supported here",
      );
    }
    const aliasMatch = /^("[^"]*"|[^:"]+):(?!:)(.*)$/.exec(text);
    const alias = aliasMatch?.[1] ? unquoteName(aliasMatch[1]) : undefined;
    const rest = aliasMatch?.[2] ?? text;
    const castIndex = rest.lastIndexOf("::");
    const cast = castIndex >= 0 ? rest.slice(castIndex + 2).trim() : undefined;
    const column = unquoteName(castIndex >= 0 ? rest.slice(0, castIndex) : rest);
    if (cast !== undefined && !/^[A-Za-z_][A-Za-z0-9_ ]*(\[\])?$/.test(cast)) {
      throw badParam(`failed to parse select parameter (${raw})`, `invalid cast ${cast}`);
    }
    items.push({ column: checkColumnName(column, `select parameter (${raw})`), alias, cast });
  }
  return items;
}

function parseInList(raw: string, original: string): string[] {
  if (!raw.startsWith("(") || !raw.endsWith(")")) throw badParam(`failed to parse filter (${original})`);
  const inner = raw.slice(1, -1);
  if (inner.trim() === "") return [];
  return splitTopLevel(inner).map((item) => {
    const t = item.trim();
    if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/\\(.)/g, "$1");
    return t;
  });
}

function parseFilter(key: string, raw: string): Filter {
  if (key.includes(".")) {
    throw badParam(`failed to parse filter (${key})`, "filters on embedded resources are not supported here");
  }
  const column = checkColumnName(unquoteName(key), `filter (${key})`);
  let rest = raw;
  let negated = false;
  if (rest.startsWith("not.")) {
    negated = true;
    rest = rest.slice(4);
  }
  const dot = rest.indexOf(".");
  const op = dot >= 0 ? rest.slice(0, dot) : rest;
  const value = dot >= 0 ? rest.slice(dot + 1) : "";
  if (op === "is") {
    const v = value.toLowerCase();
    if (!["null", "not_null", "true", "false", "unknown"].includes(v)) {
      throw badParam(`failed to parse filter (${raw})`, `unknown value for is: ${value}`);
    }
    return { column, negated, operator: "is", value: v };
  }
  if (op === "in") return { column, negated, operator: "in", value: parseInList(value, raw) };
  if (SIMPLE_OPERATORS.has(op) && dot >= 0) return { column, negated, operator: op as FilterOperator, value };
  throw badParam(`failed to parse filter (${raw})`, `unknown or unsupported operator ${op}`);
}

function parseOrder(raw: string): OrderTerm[] {
  return splitTopLevel(raw).map((term) => {
    const parts = term.trim().split(".");
    let nulls: OrderTerm["nulls"];
    let direction: OrderTerm["direction"];
    const last = parts[parts.length - 1];
    if (parts.length > 1 && (last === "nullsfirst" || last === "nullslast")) {
      nulls = last === "nullsfirst" ? "first" : "last";
      parts.pop();
    }
    const dir = parts[parts.length - 1];
    if (parts.length > 1 && (dir === "asc" || dir === "desc")) {
      direction = dir;
      parts.pop();
    }
    if (parts.length !== 1) {
      throw badParam(`failed to parse order (${raw})`, `unexpected '${parts.slice(1).join(".")}'`);
    }
    const column = checkColumnName(unquoteName(parts[0] ?? ""), `order (${raw})`);
    return { column, direction, nulls };
  });
}

function parseCount(name: string, raw: string): number {
  if (!/^\d+$/.test(raw)) throw badParam(`failed to parse ${name} parameter (${raw})`);
  return Number(raw);
}

/**
 * `forRpc`: parameters without an operator are function arguments (GET/HEAD) or ignored (POST);
 * on a table read they are filters, so `?id=1` is a 400 like PostgREST's "failed to parse filter".
 */
export function parseQueryParams(search: URLSearchParams, forRpc: boolean): QueryParams {
  const result: QueryParams = {
    select: undefined,
    filters: [],
    order: [],
    limit: undefined,
    offset: 0,
    args: new Map(),
  };
  for (const [key, value] of search) {
    if (key === "select") {
      result.select = parseSelect(value);
    } else if (key === "columns" || key === "on_conflict") {
      // meaningful only for writes, which this endpoint does not serve
    } else if (RESERVED_EMBEDDABLE.has(lastSegment(key))) {
      if (key.includes("."))
        throw badParam(`failed to parse ${key}`, "embedded resources are not supported here");
      if (key === "order") result.order.push(...parseOrder(value));
      else if (key === "limit") result.limit = parseCount("limit", value);
      else if (key === "offset") result.offset = parseCount("offset", value);
      else throw badParam(`failed to parse logic tree (${value})`, "and/or filters are not supported here");
    } else if (key.includes(".") || hasOperator(value) || (!forRpc && !RESERVED.has(key))) {
      result.filters.push(parseFilter(key, value));
    } else if (!RESERVED.has(key)) {
      result.args.set(key, value);
    }
  }
  return result;
}
