import type { Filter, QueryParams } from "./query-params";
import type { RoutineCall } from "./schema-cache";

/**
 * The SQL PostgREST generates (Query/QueryBuilder.hs `callPlanToQuery`, `readPlanToQuery`;
 * SqlFragment.hs `fromJsonBodyF`, `asJsonF`, `asJsonSingleF`), reduced to what this endpoint serves.
 * Every output column is text: postgres.js and PGlite parse json and int8 differently, text they agree on.
 */
export interface BuiltQuery {
  text: string;
  params: unknown[];
}

export interface ReadOptions {
  query: QueryParams;
  /** `Prefer: count=exact` (planned/estimated are answered exactly too). */
  count: boolean;
  /** `Accept: application/vnd.pgrst.object+json`. */
  single: boolean;
  /** db-max-rows: caps every set-returning read. */
  maxRows: number | undefined;
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

const COMPARISON: Record<string, string> = {
  eq: "=",
  neq: "<>",
  gt: ">",
  gte: ">=",
  lt: "<",
  lte: "<=",
  like: "LIKE",
  ilike: "ILIKE",
  match: "~",
  imatch: "~*",
  cs: "@>",
  cd: "<@",
  ov: "&&",
};

const IS_VALUE: Record<string, string> = {
  null: "NULL",
  not_null: "NOT NULL",
  true: "TRUE",
  false: "FALSE",
  unknown: "UNKNOWN",
};

// Filter values are parameters of unknown type, so PostgreSQL types them from the column,
// like PostgREST's unknown-typed literals.
function filterSql(filter: Filter, params: unknown[]): string {
  const column = quoteIdent(filter.column);
  const param = (value: string) => {
    params.push(value);
    return `$${params.length}`;
  };
  let sql: string;
  if (filter.operator === "is") {
    sql = `${column} IS ${IS_VALUE[filter.value as string] ?? "NULL"}`;
  } else if (filter.operator === "in") {
    const list = filter.value as string[];
    sql = list.length ? `${column} IN (${list.map(param).join(", ")})` : "false";
  } else {
    const raw = filter.value as string;
    const value = filter.operator === "like" || filter.operator === "ilike" ? raw.replace(/\*/g, "%") : raw;
    sql = `${column} ${COMPARISON[filter.operator]} ${param(value)}`;
  }
  return filter.negated ? `NOT (${sql})` : sql;
}

function whereSql(filters: readonly Filter[], params: unknown[]): string {
  return filters.length ? ` WHERE ${filters.map((f) => filterSql(f, params)).join(" AND ")}` : "";
}

function orderSql(query: QueryParams): string {
  if (!query.order.length) return "";
  const terms = query.order.map((t) => {
    const dir = t.direction ? ` ${t.direction.toUpperCase()}` : "";
    const nulls = t.nulls ? ` NULLS ${t.nulls.toUpperCase()}` : "";
    return `${quoteIdent(t.column)}${dir}${nulls}`;
  });
  return ` ORDER BY ${terms.join(", ")}`;
}

function rangeSql(query: QueryParams, maxRows: number | undefined): string {
  const limits = [query.limit, maxRows].filter((n): n is number => n !== undefined);
  const limit = limits.length ? ` LIMIT ${Math.min(...limits)}` : "";
  const offset = query.offset > 0 ? ` OFFSET ${query.offset}` : "";
  return limit + offset;
}

function selectListSql(query: QueryParams): string {
  if (!query.select) return "pgrst_source.*";
  return query.select
    .map((item) => {
      const cast = item.cast ? `::${item.cast}` : "";
      return `${quoteIdent(item.column)}${cast} AS ${quoteIdent(item.alias ?? item.column)}`;
    })
    .join(", ");
}

type BodyShape = "scalar" | "scalar-set" | "row" | "row-set" | "void";

function bodySql(shape: BodyShape, single: boolean): string {
  const scalar = shape === "scalar" || shape === "scalar-set";
  const value = scalar ? "_postgrest_t.pgrst_scalar" : "_postgrest_t";
  if (shape === "void") return "NULL::text";
  if (single || shape === "scalar" || shape === "row")
    return `coalesce((json_agg(${value})->0)::text, 'null')`;
  return `coalesce(json_agg(${value}), '[]'::json)::text`;
}

function readSql(source: string, shape: BodyShape, opts: ReadOptions, params: unknown[]): string {
  const scalar = shape === "scalar" || shape === "scalar-set" || shape === "void";
  const where = whereSql(opts.query.filters, params);
  const selectList = scalar ? "pgrst_source.pgrst_scalar" : selectListSql(opts.query);
  const total = opts.count ? `(SELECT pg_catalog.count(*) FROM ${source}${where})::text` : "NULL::text";
  return `SELECT ${total} AS total_result_set,
       pg_catalog.count(*)::text AS page_total,
       ${bodySql(shape, opts.single)} AS body,
       nullif(current_setting('response.headers', true), '') AS response_headers,
       nullif(current_setting('response.status', true), '') AS response_status
  FROM (SELECT ${selectList} FROM ${source}${where}${orderSql(opts.query)}${rangeSql(opts.query, opts.maxRows)}) _postgrest_t`;
}

/**
 * An RPC. `payload` is the JSON object of arguments (the POST body as sent, or the GET arguments),
 * `present` the argument names actually given: only those are passed, in named notation, so omitted
 * parameters take their DEFAULT. json_to_record coerces each with the declared type.
 */
export function buildRpcQuery(
  call: RoutineCall,
  payload: string,
  present: ReadonlySet<string>,
  opts: ReadOptions,
): BuiltQuery {
  const { routine } = call;
  const params: unknown[] = [payload];
  const fn = `${quoteIdent(routine.schema)}.${quoteIdent(routine.name)}`;
  let args: string;
  let bodyLateral = "";
  if (call.mode !== "named") {
    // the whole body is the one argument (a single unnamed json/jsonb parameter)
    args = `pgrst_payload.json_data::${routine.params[0]?.type ?? "json"}`;
  } else {
    const passed = routine.params.filter((p) => present.has(p.name));
    args = passed
      .map((p) => `${p.variadic ? "VARIADIC " : ""}${quoteIdent(p.name)} := pgrst_body.${quoteIdent(p.name)}`)
      .join(", ");
    if (passed.length) {
      const columns = passed.map((p) => quoteIdent(p.name)).join(", ");
      const types = passed.map((p) => `${quoteIdent(p.name)} ${p.type}`).join(", ");
      bodyLateral = `,
       LATERAL (SELECT ${columns} FROM json_to_record(pgrst_payload.json_data) AS _(${types}) LIMIT 1) pgrst_body`;
    }
  }
  const scalarReturn = !routine.composite;
  const call_ = scalarReturn
    ? `LATERAL (SELECT ${fn}(${args}) pgrst_scalar) pgrst_call`
    : `LATERAL ${fn}(${args}) pgrst_call`;
  const shape: BodyShape =
    routine.returnType === "void"
      ? "void"
      : scalarReturn
        ? routine.setOf
          ? "scalar-set"
          : "scalar"
        : routine.setOf
          ? "row-set"
          : "row";
  // $1 is typed text, then cast: postgres.js would JSON.stringify a json-typed parameter a second time.
  // MATERIALIZED: the call runs exactly once, even when the body does not read its result (void)
  // and the count reads the source a second time.
  const source = `WITH pgrst_source AS MATERIALIZED (
  SELECT ${scalarReturn ? "pgrst_call.pgrst_scalar" : "pgrst_call.*"}
  FROM (SELECT $1::text::json AS json_data) pgrst_payload${bodyLateral},
       ${call_}
)
`;
  return { text: source + readSql("pgrst_source", shape, opts, params), params };
}

/** A read of a table or view: `GET /rest/v1/<table>`. */
export function buildTableQuery(schema: string, table: string, opts: ReadOptions): BuiltQuery {
  const params: unknown[] = [];
  const source = `${quoteIdent(schema)}.${quoteIdent(table)} pgrst_source`;
  return { text: readSql(source, "row-set", opts, params), params };
}
