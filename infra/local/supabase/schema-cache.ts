import type { SqlDatabase } from "../db/sql-database";
import { PgrstError } from "./errors";

export interface RoutineParam {
  name: string;
  /** The declared type, usable in a column definition list (`integer`, `character varying`, `public.t`). */
  type: string;
  required: boolean;
  variadic: boolean;
}

export interface Routine {
  schema: string;
  name: string;
  params: RoutineParam[];
  returnType: string;
  setOf: boolean;
  /** A composite result: a table/row type, or OUT/INOUT/TABLE parameters. */
  composite: boolean;
  volatility: "i" | "s" | "v";
}

export interface SchemaCache {
  /** Keyed by `schema.name`; several entries are overloads. */
  routines: Map<string, Routine[]>;
  /** `schema.name` of every table, view, materialized view and foreign table of the exposed schemas. */
  relations: Set<string>;
}

/**
 * Modelled on PostgREST's `funcsSqlQuery` (SchemaCache.hs): input arguments with their declared type
 * (bit/character widened like PostgREST does, since a length would truncate silently), which are
 * required (no DEFAULT), the return type with domains resolved one level, set-returning, composite
 * (a row type or any OUT/INOUT/TABLE argument), volatility. Functions with more than one unnamed
 * argument, or one unnamed argument that is not json/jsonb/text/xml/bytea, cannot be called and are
 * left out. Only plain functions (`prokind = 'f'`). Produced as one JSON text so both drivers agree.
 */
const ROUTINES_SQL = `
with args as (
  select a.oid,
         json_agg(json_build_object(
           'name', coalesce(a.name, ''),
           'type', case a.type
                     when 'bit'::regtype then 'bit varying'
                     when 'bit[]'::regtype then 'bit varying[]'
                     when 'character'::regtype then 'character varying'
                     when 'character[]'::regtype then 'character varying[]'
                     else a.type::regtype::text end,
           'required', a.pos <= a.pronargs - a.pronargdefaults,
           'variadic', coalesce(a.mode = 'v', false)
         ) order by a.pos) as params,
         case count(*) - count(nullif(a.name, ''))
           when 0 then true
           when 1 then (array_agg(a.type order by a.pos))[1]
                       in ('bytea'::regtype, 'json'::regtype, 'jsonb'::regtype, 'text'::regtype, 'xml'::regtype)
           else false
         end as callable
    from (
      select p.oid, p.pronargs, p.pronargdefaults, u.name, u.type, u.mode,
             row_number() over (partition by p.oid order by u.idx) as pos
        from pg_proc p,
             unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames, p.proargmodes)
               with ordinality as u(type, name, mode, idx)
       where u.type is not null and coalesce(u.mode, 'i') in ('i', 'b', 'v')
    ) a
   group by a.oid
)
select coalesce(json_agg(json_build_object(
         'schema', pn.nspname,
         'name', p.proname,
         'params', coalesce(a.params, '[]'::json),
         'returnType', rt.oid::regtype::text,
         'setOf', p.proretset,
         'composite', rt.typtype = 'c' or coalesce(p.proargmodes::text[] && '{t,b,o}', false),
         'volatility', p.provolatile
       ) order by pn.nspname, p.proname, p.oid), '[]'::json)::text as routines
  from pg_proc p
  join pg_namespace pn on pn.oid = p.pronamespace
  join pg_type t0 on t0.oid = p.prorettype
  join pg_type rt on rt.oid = coalesce(nullif(t0.typbasetype, 0), t0.oid)
  left join args a on a.oid = p.oid
 where pn.nspname in (select json_array_elements_text($1::text::json))
   and p.prokind = 'f'
   and rt.oid <> 'trigger'::regtype
   and coalesce(a.callable, true)
`;

const RELATIONS_SQL = `
select coalesce(json_agg(n.nspname || '.' || c.relname), '[]'::json)::text as relations
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'v', 'm', 'f', 'p')
   and n.nspname in (select json_array_elements_text($1::text::json))
`;

export async function loadSchemaCache(db: SqlDatabase, schemas: readonly string[]): Promise<SchemaCache> {
  const schemasJson = JSON.stringify(schemas);
  // An empty search_path makes regtype::text schema-qualify every type outside pg_catalog,
  // so the names are valid in the request SQL whatever its search_path is (PostgREST does the same).
  const [routinesRow, relationsRow] = await db.transaction(
    async (tx) => {
      await tx.query("select set_config('search_path', '', true)");
      const r = await tx.query<{ routines: string }>(ROUTINES_SQL, [schemasJson]);
      const t = await tx.query<{ relations: string }>(RELATIONS_SQL, [schemasJson]);
      return [r[0], t[0]] as const;
    },
    { readOnly: true },
  );
  const routines = new Map<string, Routine[]>();
  for (const routine of JSON.parse(routinesRow?.routines ?? "[]") as Routine[]) {
    const key = `${routine.schema}.${routine.name}`;
    routines.set(key, [...(routines.get(key) ?? []), routine]);
  }
  return { routines, relations: new Set(JSON.parse(relationsRow?.relations ?? "[]") as string[]) };
}

export interface RoutineCall {
  routine: Routine;
  /** How the arguments reach the function (PostgREST `CallParams`). */
  mode: "named" | "single-unnamed";
}

export interface FindRoutineRequest {
  schema: string;
  name: string;
  /** POST body keys, or GET/HEAD query-parameter names that are arguments. */
  argumentKeys: ReadonlySet<string>;
  /** POST with a JSON body: a single unnamed json/jsonb parameter may take the whole body. */
  isPost: boolean;
}

function signature(r: Routine): string {
  return `${r.schema}.${r.name}(${r.params.map((p) => (p.name ? `${p.name} => ${p.type}` : p.type)).join(", ")})`;
}

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}

/** PostgREST Plan.hs `findProc`: match by the set of argument names, required ones all present. */
// `Prefer: params=single-object` is not supported: PostgREST v13 removed it, and Supabase runs v13/v14.
function matchesParams(r: Routine, keys: ReadonlySet<string>): boolean {
  if (r.params.length === 0) return keys.size === 0;
  const required = new Set(r.params.filter((p) => p.required).map((p) => p.name));
  const optional = new Set(r.params.filter((p) => !p.required).map((p) => p.name));
  if (optional.size === 0) return sameSet(keys, required);
  if (required.size === 0) return [...keys].every((k) => optional.has(k));
  return sameSet(new Set([...keys].filter((k) => !optional.has(k))), required);
}

function hasSingleUnnamedJsonParam(r: Routine, isPost: boolean): boolean {
  const only = r.params.length === 1 ? r.params[0] : undefined;
  return isPost && only !== undefined && only.name === "" && (only.type === "json" || only.type === "jsonb");
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = current;
    }
  }
  return row[b.length] ?? 0;
}

function closest(target: string, candidates: Iterable<string>): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const name of candidates) {
    const distance = editDistance(target, name);
    if (distance <= Math.max(2, Math.floor(target.length / 3)) && (!best || distance < best.distance)) {
      best = { name, distance };
    }
  }
  return best?.name;
}

export function findRoutine(cache: SchemaCache, req: FindRoutineRequest): RoutineCall {
  const qualified = `${req.schema}.${req.name}`;
  const overloads = cache.routines.get(qualified) ?? [];
  const named = overloads.filter((r) => matchesParams(r, req.argumentKeys));
  const fallback = overloads.filter((r) => hasSingleUnnamedJsonParam(r, req.isPost));
  const single = named.length === 1 ? named[0] : undefined;
  if (single) return { routine: single, mode: "named" };
  const candidates = named.length > 0 ? named : fallback;
  const onlyFallback = named.length === 0 && fallback.length === 1 ? fallback[0] : undefined;
  if (onlyFallback) return { routine: onlyFallback, mode: "single-unnamed" };
  if (candidates.length > 1) {
    throw new PgrstError(300, {
      code: "PGRST203",
      message: `Could not choose the best candidate function between: ${candidates.map(signature).join(", ")}`,
      hint: "Try renaming the parameters or the function itself in the database so function overloading can be resolved",
    });
  }
  const keys = [...req.argumentKeys].sort();
  const withParams = keys.length ? `with parameters ${keys.join(", ")}` : "without parameters";
  let hint: string | null = null;
  const sameName = overloads[0];
  if (sameName) {
    hint = `Perhaps you meant to call the function ${signature(sameName)}`;
  } else {
    const inSchema = [...cache.routines.keys()].filter((k) => k.startsWith(`${req.schema}.`));
    const near = closest(qualified, inSchema);
    if (near) hint = `Perhaps you meant to call the function ${near}`;
  }
  throw new PgrstError(404, {
    code: "PGRST202",
    message: `Could not find the function ${qualified}(${keys.join(", ")}) in the schema cache`,
    details: `Searched for the function ${qualified} ${withParams} or with a single unnamed json/jsonb parameter, but no matches were found in the schema cache.`,
    hint,
  });
}

export function assertRelation(cache: SchemaCache, schema: string, name: string): void {
  const qualified = `${schema}.${name}`;
  if (cache.relations.has(qualified)) return;
  const near = closest(
    qualified,
    [...cache.relations].filter((r) => r.startsWith(`${schema}.`)),
  );
  throw new PgrstError(404, {
    code: "PGRST205",
    message: `Could not find the table '${qualified}' in the schema cache`,
    hint: near ? `Perhaps you meant the table '${near}'` : null,
  });
}
