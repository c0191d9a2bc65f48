-- The Supabase role model. On a Supabase project these roles exist already; locally (PostgreSQL 15 or
-- PGlite) they are created here. Roles are cluster-wide, so creation tolerates a concurrent creator.
do $$
declare
  r record;
begin
  for r in select * from (values
      ('anon', 'nologin noinherit'),
      ('authenticated', 'nologin noinherit'),
      ('service_role', 'nologin noinherit bypassrls'),
      ('authenticator', 'login noinherit')
    ) as t(name, opts)
  loop
    if not exists (select 1 from pg_roles where rolname = r.name) then
      begin
        execute format('create role %I %s', r.name, r.opts);
      exception when duplicate_object or unique_violation then
        null; -- another database of this cluster created it first
      end;
    end if;
  end loop;
end
$$;

grant anon, authenticated, service_role to authenticator;

grant usage on schema public to anon, authenticated, service_role;

-- Functions are executable by PUBLIC by default in Postgres; here nothing is, unless granted by name.
-- (A per-schema default can only add privileges, so the revoke is the global one.)
alter default privileges revoke execute on functions from public;
