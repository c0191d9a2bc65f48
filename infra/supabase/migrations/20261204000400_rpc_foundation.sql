-- First RPC functions. Called through PostgREST (supabase-js .rpc) by the service role only.
-- Errors that callers act on use custom SQLSTATEs: PT4xx maps to HTTP 4xx at PostgREST.

create function public.health_check() returns jsonb
language sql stable as $$
  select jsonb_build_object('ok', true, 'database_time', now())
$$;

create function public.create_tenant(p_name text) returns jsonb
language plpgsql volatile as $$
declare
  t public.tenants;
begin
  if p_name is null or char_length(btrim(p_name)) = 0 or char_length(p_name) > 200 then
    raise sqlstate 'PT400' using message = 'tenant name must be 1 to 200 characters';
  end if;
  insert into public.tenants (name) values (btrim(p_name)) returning * into t;
  insert into public.tenant_policies (tenant_id) values (t.id);
  return jsonb_build_object('id', t.id, 'name', t.name, 'created_at', t.created_at);
end
$$;

create function public.create_api_key(
  p_tenant_id uuid,
  p_prefix text,
  p_key_hash text,
  p_scopes text[],
  p_name text default 'default'
) returns jsonb
language plpgsql volatile as $$
declare
  k public.api_keys;
  bad text;
begin
  if not exists (select 1 from public.tenants where id = p_tenant_id) then
    raise sqlstate 'PT404' using message = 'tenant not found';
  end if;
  select s into bad from unnest(p_scopes) s
   where s not in ('conversations:read', 'conversations:write', 'completions', 'usage:read', 'admin')
   limit 1;
  if bad is not null then
    raise sqlstate 'PT400' using message = format('unknown scope: %s', bad);
  end if;
  if coalesce(cardinality(p_scopes), 0) = 0 then
    raise sqlstate 'PT400' using message = 'a key needs at least one scope';
  end if;
  insert into public.api_keys (tenant_id, name, prefix, key_hash, scopes)
  values (p_tenant_id, coalesce(p_name, 'default'), p_prefix, p_key_hash, p_scopes)
  returning * into k;
  return jsonb_build_object('id', k.id, 'tenant_id', k.tenant_id, 'name', k.name, 'prefix', k.prefix,
    'scopes', to_jsonb(k.scopes), 'created_at', k.created_at);
end
$$;

-- The hot-path lookup: one indexed read, with the tenant's limits so the rate limiter needs no
-- second query. Unknown and revoked keys both come back as null.
create function public.authenticate_api_key(p_key_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object('key_id', k.id, 'tenant_id', k.tenant_id, 'scopes', to_jsonb(k.scopes),
    'prefix', k.prefix, 'requests_per_minute', p.requests_per_minute,
    'tokens_per_minute', p.tokens_per_minute)
    from public.api_keys k
    left join public.tenant_policies p on p.tenant_id = k.tenant_id
   where k.key_hash = p_key_hash and k.revoked_at is null
$$;

revoke execute on function public.health_check(), public.create_tenant(text),
  public.create_api_key(uuid, text, text, text[], text), public.authenticate_api_key(text),
  public.notify_graph_event() from public, anon, authenticated;
grant execute on function public.health_check() to service_role;
grant execute on function public.create_tenant(text) to service_role;
grant execute on function public.create_api_key(uuid, text, text, text[], text) to service_role;
grant execute on function public.authenticate_api_key(text) to service_role;
