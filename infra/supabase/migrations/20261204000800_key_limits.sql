-- A per-key request limit, below the tenant's: one noisy key cannot use the whole tenant's allowance.
alter table public.api_keys
  add column requests_per_minute integer check (requests_per_minute > 0);

create or replace function public.authenticate_api_key(p_key_hash text) returns jsonb
language sql stable as $$
  select jsonb_build_object('key_id', k.id, 'tenant_id', k.tenant_id, 'scopes', to_jsonb(k.scopes),
    'prefix', k.prefix, 'requests_per_minute', p.requests_per_minute,
    'tokens_per_minute', p.tokens_per_minute, 'key_requests_per_minute', k.requests_per_minute)
    from public.api_keys k
    left join public.tenant_policies p on p.tenant_id = k.tenant_id
   where k.key_hash = p_key_hash and k.revoked_at is null
$$;

create function public.set_api_key_limit(p_tenant_id uuid, p_key_id uuid, p_requests_per_minute integer)
returns jsonb
language plpgsql volatile as $$
declare
  k public.api_keys;
begin
  update public.api_keys set requests_per_minute = p_requests_per_minute
   where id = p_key_id and tenant_id = p_tenant_id
  returning * into k;
  if not found then
    raise sqlstate 'PT404' using message = 'api key not found';
  end if;
  return jsonb_build_object('id', k.id, 'prefix', k.prefix, 'requests_per_minute', k.requests_per_minute,
    'key_hash', k.key_hash);
end
$$;

revoke execute on function public.authenticate_api_key(text), public.set_api_key_limit(uuid, uuid, integer)
  from public, anon, authenticated;
grant execute on function public.authenticate_api_key(text), public.set_api_key_limit(uuid, uuid, integer)
  to service_role;
