-- Cost anomaly scan (stacks/Jobs.ts, packages/functions/src/jobs/anomaly-scan.ts): each tenant's spend
-- in the last bucket [p_until - bucket, p_until) and in the p_baseline_buckets buckets before it.
-- An operator function across tenants, so the service role only; bounded by its arguments: at most
-- p_max_tenants tenants (the biggest spenders of the last bucket), each with at most p_baseline_buckets
-- non-zero buckets. Sums are numeric, exact; money leaves as text.

-- the scan reads the last day of every tenant by time: without this it would read the whole ledger
create index cost_events_created_idx on public.cost_events (created_at);

create function public.cost_spend_window(
  p_until timestamptz,
  p_bucket_seconds integer default 300,
  p_baseline_buckets integer default 288,
  p_max_tenants integer default 500)
returns jsonb
language plpgsql stable as $$
declare
  v_bucket interval;
  v_current_start timestamptz;
  v_from timestamptz;
  result jsonb;
begin
  if p_until is null then
    raise sqlstate 'PT400' using message = 'until is required', detail = '{"param":"until"}';
  end if;
  if p_bucket_seconds is null or p_bucket_seconds < 60 or p_bucket_seconds > 3600 then
    raise sqlstate 'PT400' using message = 'bucket_seconds must be between 60 and 3600',
      detail = '{"param":"bucket_seconds"}';
  end if;
  if p_baseline_buckets is null or p_baseline_buckets < 1 or p_baseline_buckets > 2016 then
    raise sqlstate 'PT400' using message = 'baseline_buckets must be between 1 and 2016',
      detail = '{"param":"baseline_buckets"}';
  end if;
  if p_max_tenants is null or p_max_tenants < 1 or p_max_tenants > 5000 then
    raise sqlstate 'PT400' using message = 'max_tenants must be between 1 and 5000',
      detail = '{"param":"max_tenants"}';
  end if;
  v_bucket := make_interval(secs => p_bucket_seconds);
  v_current_start := p_until - v_bucket;
  v_from := v_current_start - v_bucket * p_baseline_buckets;

  with current_spend as (
    select e.tenant_id, sum(e.cost_usd) as usd
      from public.cost_events e
     where e.created_at >= v_current_start and e.created_at < p_until
     group by e.tenant_id
  ), scanned as (
    select c.tenant_id, c.usd from current_spend c order by c.usd desc, c.tenant_id limit p_max_tenants
  ), history as (
    -- ago = 0 is the bucket just before the current one, p_baseline_buckets - 1 the oldest
    select e.tenant_id,
           (ceil(extract(epoch from (v_current_start - e.created_at)) / p_bucket_seconds))::int - 1 as ago,
           sum(e.cost_usd) as usd
      from public.cost_events e
      join scanned s on s.tenant_id = e.tenant_id
     where e.created_at >= v_from and e.created_at < v_current_start
     group by 1, 2
  )
  select jsonb_build_object(
    'until', p_until,
    'bucket_seconds', p_bucket_seconds,
    'baseline_buckets', p_baseline_buckets,
    'tenants_with_spend', (select count(*) from current_spend),
    'tenants', coalesce((
      select jsonb_agg(jsonb_build_object(
               'tenant_id', s.tenant_id,
               'current_usd', s.usd::text,
               'baseline', coalesce((
                 select jsonb_agg(jsonb_build_array(h.ago, h.usd::text) order by h.ago)
                   from history h where h.tenant_id = s.tenant_id), '[]'::jsonb))
             order by s.usd desc, s.tenant_id)
        from scanned s), '[]'::jsonb))
  into result;
  return result;
end
$$;

revoke execute on function public.cost_spend_window(timestamptz, integer, integer, integer)
  from public, anon, authenticated;
grant execute on function public.cost_spend_window(timestamptz, integer, integer, integer) to service_role;
