-- The tenant's cost ledger, aggregated. Sums are numeric, exact; money leaves as text.
create function public.usage_summary(
  p_tenant_id uuid, p_from timestamptz, p_to timestamptz, p_group_by text default 'day')
returns jsonb
language plpgsql stable as $$
declare
  result jsonb;
begin
  if p_group_by not in ('day', 'model', 'conversation', 'path') then
    raise sqlstate 'PT400' using message = 'group_by must be day, model, conversation or path',
      detail = '{"param":"group_by"}';
  end if;
  if p_to <= p_from then
    raise sqlstate 'PT400' using message = 'to must be after from', detail = '{"param":"to"}';
  end if;
  with rows as (
    select case p_group_by
             when 'day' then to_char(date_trunc('day', e.created_at at time zone 'UTC'), 'YYYY-MM-DD')
             when 'model' then e.provider || '/' || e.model
             when 'conversation' then coalesce(e.conversation_id::text, 'none')
             else coalesce(e.conversation_id::text || '/' || e.path_name, 'none')
           end as key,
           e.cost_usd, e.input_tokens, e.output_tokens, e.cached_input_tokens
      from public.cost_events e
     where e.tenant_id = p_tenant_id and e.created_at >= p_from and e.created_at < p_to
  ), groups as (
    select key, sum(cost_usd) as cost, sum(input_tokens)::bigint as input_tokens,
           sum(output_tokens)::bigint as output_tokens, sum(cached_input_tokens)::bigint as cached_input_tokens,
           count(*)::bigint as turns
      from rows group by key
  )
  select jsonb_build_object(
    'group_by', p_group_by,
    'from', p_from,
    'to', p_to,
    'data', coalesce((select jsonb_agg(jsonb_build_object('key', g.key, 'cost_usd', g.cost::text,
                 'input_tokens', g.input_tokens, 'output_tokens', g.output_tokens,
                 'cached_input_tokens', g.cached_input_tokens, 'turns', g.turns) order by g.key)
               from groups g), '[]'::jsonb),
    'total_usd', coalesce((select sum(cost_usd) from rows), 0)::text,
    'total_turns', (select count(*) from rows))
  into result;
  return result;
end
$$;

revoke execute on function public.usage_summary(uuid, timestamptz, timestamptz, text) from public, anon, authenticated;
grant execute on function public.usage_summary(uuid, timestamptz, timestamptz, text) to service_role;
