-- Fixtures for the Supabase conformance suite (tests/conformance/supabase.test.ts, protocols.md C3 9-15).
--
-- Locally the suite applies this file to a scratch database after the migrations (which create the
-- Supabase roles). Against a real Supabase project (CANDOR_CONFORMANCE_TARGET=cloud) run it once
-- in the SQL editor or with `psql "$SUPABASE_DB_URL" -f tests/conformance/supabase-fixtures.sql`,
-- then `notify pgrst, 'reload schema'` (included below). It is idempotent: safe to run again.
-- Everything it creates is named conformance_* in public, or lives in the conformance_private schema.

create table if not exists public.conformance_items (
  id int primary key,
  name text not null,
  qty int not null
);
insert into public.conformance_items (id, name, qty) values
  (1, 'a', 3), (2, 'b', 7), (3, 'c', 5), (4, 'd', 1), (5, 'e', 9)
on conflict (id) do nothing;
alter table public.conformance_items enable row level security;
drop policy if exists conformance_items_read on public.conformance_items;
create policy conformance_items_read on public.conformance_items for select to anon, authenticated using (true);

-- RLS on, no policy: anon and authenticated may select but see no row; service_role bypasses RLS.
create table if not exists public.conformance_private_rows (id int primary key, secret text not null);
insert into public.conformance_private_rows (id, secret) values (1, 's1'), (2, 's2') on conflict (id) do nothing;
alter table public.conformance_private_rows enable row level security;

create table if not exists public.conformance_unique (k text primary key);
insert into public.conformance_unique (k) values ('taken') on conflict (k) do nothing;
alter table public.conformance_unique enable row level security;
drop policy if exists conformance_unique_all on public.conformance_unique;
create policy conformance_unique_all on public.conformance_unique for all to anon, authenticated
  using (true) with check (true);

create table if not exists public.conformance_counters (name text primary key, n int not null);
alter table public.conformance_counters enable row level security;
drop policy if exists conformance_counters_all on public.conformance_counters;
create policy conformance_counters_all on public.conformance_counters for all to anon, authenticated
  using (true) with check (true);

grant select on public.conformance_items, public.conformance_private_rows to anon, authenticated, service_role;
grant select, insert on public.conformance_unique to anon, authenticated, service_role;
grant select, insert, update on public.conformance_counters to anon, authenticated, service_role;

-- C3.9: scalar
create or replace function public.conformance_add(a int, b int) returns int
language sql immutable as $$ select a + b $$;

-- C3.10: return shapes and argument coercion
create or replace function public.conformance_noop() returns void
language sql volatile as $$ select $$;

create or replace function public.conformance_series(n int) returns setof int
language sql stable as $$ select generate_series(1, n) $$;

create or replace function public.conformance_item(p_id int) returns public.conformance_items
language sql stable as $$ select * from public.conformance_items where id = p_id $$;

create or replace function public.conformance_items_min(min_qty int default 0) returns setof public.conformance_items
language sql stable as $$ select * from public.conformance_items where qty >= min_qty order by id $$;

create or replace function public.conformance_echo(j jsonb, arr int[]) returns jsonb
language sql immutable as $$
  select jsonb_build_object('j', j, 'arr', to_jsonb(arr), 'arr_type', pg_typeof(arr)::text, 'len', cardinality(arr))
$$;

create or replace function public.conformance_with_default(a int, b int default 10) returns int
language sql immutable as $$ select a + b $$;

create or replace function public.conformance_pair(x int, out doubled int, out label text)
language sql immutable as $$ select x * 2, 'x=' || x $$;

-- a single unnamed jsonb parameter takes the whole POST body
create or replace function public.conformance_body(jsonb) returns jsonb
language sql immutable as $$ select $1 $$;

-- overloads with the same argument names cannot be told apart: PGRST203
create or replace function public.conformance_overloaded(a int) returns text
language sql immutable as $$ select 'int' $$;
create or replace function public.conformance_overloaded(a text) returns text
language sql immutable as $$ select 'text' $$;

-- C3.12: error mapping
create or replace function public.conformance_raise() returns void
language plpgsql volatile as $$
begin
  raise exception 'conformance failure' using detail = 'the detail', hint = 'the hint';
end
$$;

create or replace function public.conformance_raise_pt402() returns void
language plpgsql volatile as $$
begin
  raise sqlstate 'PT402' using message = 'payment required';
end
$$;

create or replace function public.conformance_raise_pgrst() returns void
language plpgsql volatile as $$
begin
  raise sqlstate 'PGRST' using
    message = '{"code":"CF123","message":"custom teapot","details":"d","hint":"h"}',
    detail = '{"status":418,"headers":{"X-Conformance-Raise":"yes"}}';
end
$$;

create or replace function public.conformance_insert_unique(k text) returns void
language sql volatile as $$ insert into public.conformance_unique (k) values (k) $$;

create or replace function public.conformance_int(x int) returns int
language sql immutable as $$ select x $$;

-- executable by service_role only
create or replace function public.conformance_secret() returns text
language sql stable as $$ select 'secret' $$;

-- C3.13: role and claims as the function sees them
create or replace function public.conformance_whoami() returns jsonb
language sql stable as $$
  select jsonb_build_object(
    'current_user', current_user,
    'claims', nullif(current_setting('request.jwt.claims', true), '')::jsonb,
    'method', current_setting('request.method', true),
    'path', current_setting('request.path', true),
    'headers', nullif(current_setting('request.headers', true), '')::jsonb,
    'search_path', current_setting('search_path')
  )
$$;

-- C3.14: transaction mode
create or replace function public.conformance_bump(p_name text) returns int
language sql volatile as $$
  insert into public.conformance_counters (name, n) values (p_name, 1)
  on conflict (name) do update set n = public.conformance_counters.n + 1
  returning n
$$;

-- writes, then returns n rows: a failed .single() must roll the write back
create or replace function public.conformance_bump_series(p_name text, n int) returns setof int
language sql volatile as $$
  insert into public.conformance_counters (name, n) values (p_name, 1)
  on conflict (name) do update set n = public.conformance_counters.n + 1;
  select generate_series(1, n);
$$;

create or replace function public.conformance_tx_read_only() returns text
language sql stable as $$ select current_setting('transaction_read_only') $$;

create or replace function public.conformance_tx_read_only_volatile() returns text
language sql volatile as $$ select current_setting('transaction_read_only') $$;

-- a slow call, for the connection-loss check
create or replace function public.conformance_sleep(seconds double precision) returns text
language sql volatile as $$ select pg_sleep(seconds)::text $$;

-- response.status / response.headers GUCs
create or replace function public.conformance_created() returns text
language plpgsql volatile as $$
begin
  perform set_config('response.status', '201', true);
  perform set_config('response.headers', '[{"X-Conformance":"created"}]', true);
  return 'created';
end
$$;

-- Supabase grants EXECUTE to anon/authenticated by default; the local migrations grant nothing.
-- Say it explicitly either way.
do $$
declare
  f regprocedure;
begin
  for f in
    select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public' and p.proname like 'conformance\_%' and p.proname <> 'conformance_secret'
  loop
    execute format('grant execute on function %s to anon, authenticated, service_role', f);
  end loop;
end
$$;
revoke execute on function public.conformance_secret() from public, anon, authenticated;
grant execute on function public.conformance_secret() to service_role;

-- a schema that is NOT exposed through the API: requests naming it get 406 PGRST106
create schema if not exists conformance_private;
create or replace function conformance_private.hidden() returns int language sql immutable as $$ select 1 $$;

notify pgrst, 'reload schema';
