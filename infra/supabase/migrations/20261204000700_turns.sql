-- Chat turns: two RPCs per turn, each one transaction.
--   begin_turn:    policy, live price, budget (with a reservation), idempotency, user message, prompt
--   complete_turn: assistant message, cost row, month spend, path head, graph event (NOTIFY by trigger)
--   fail_turn:     marks the turn failed; charges only what the provider reported
-- Money is numeric; prices are USD per million tokens.

alter table public.tenant_policies
  -- OpenAI-compatible endpoints this tenant may use: {"<provider name>": {"base_url": "https://…"}}
  add column provider_endpoints jsonb not null default '{}'::jsonb;

alter table public.model_pricing
  add column context_window_tokens integer check (context_window_tokens > 0);

alter table public.tenant_spend
  -- worst-case cost of turns in flight, so concurrent turns cannot overrun the budget together
  add column reserved_usd numeric(30, 12) not null default 0;

alter table public.turns
  add column kind text not null default 'conversation' check (kind in ('conversation', 'completion')),
  add column reserved_usd numeric(30, 12) not null default 0,
  add column candidates jsonb not null default '[]'::jsonb;

-- The price in effect for a model now: the latest row whose effective_from has passed.
create function public.price_in_effect(p_provider text, p_model text) returns public.model_pricing
language sql stable as $$
  select * from public.model_pricing
   where provider = p_provider and model = p_model and effective_from <= now()
   order by effective_from desc limit 1
$$;

create function public.pricing_json(m public.model_pricing) returns jsonb
language sql immutable as $$
  select jsonb_build_object('id', m.id, 'provider', m.provider, 'model', m.model,
    'input_usd_per_mtok', m.input_usd_per_mtok::text, 'output_usd_per_mtok', m.output_usd_per_mtok::text,
    'cached_input_usd_per_mtok', m.cached_input_usd_per_mtok::text,
    'context_window_tokens', m.context_window_tokens, 'effective_from', m.effective_from)
$$;

-- Cost of a turn: cached input tokens at the cached price (the input price when none is set).
-- Rounded half-up to 1e-12 USD, the ledger's scale, so the response and the stored row are the
-- same number (prices have 10 decimals per million tokens: exact at that scale up to 1e-16/token).
create function public.turn_cost(m public.model_pricing, p_input integer, p_output integer, p_cached integer)
returns numeric
language sql immutable as $$
  select round(((greatest(p_input - p_cached, 0)::numeric * m.input_usd_per_mtok)
        + (p_cached::numeric * coalesce(m.cached_input_usd_per_mtok, m.input_usd_per_mtok))
        + (p_output::numeric * m.output_usd_per_mtok)) / 1000000, 12)
$$;

create function public.month_start(p_at timestamptz default now()) returns date
language sql stable as $$ select date_trunc('month', p_at at time zone 'UTC')::date $$;

-- Releases the reservations of turns whose process died long ago (lease expired for an hour):
-- they are marked failed; a client retry with the same idempotency key runs them again.
create function public.reap_abandoned_turns(p_tenant_id uuid) returns void
language plpgsql volatile as $$
declare
  t record;
begin
  for t in update public.turns
              set status = 'failed', error = jsonb_build_object('code', 'lease_expired'), completed_at = now()
            where tenant_id = p_tenant_id and status = 'running'
              and lease_expires_at < now() - interval '1 hour'
           returning reserved_usd, created_at loop
    update public.tenant_spend set reserved_usd = greatest(reserved_usd - t.reserved_usd, 0)
     where tenant_id = p_tenant_id and month = public.month_start(t.created_at);
  end loop;
end
$$;

create function public.begin_turn(
  p_tenant_id uuid,
  p_kind text,
  p_request_hash text,
  p_model text default null,
  p_conversation_id uuid default null,
  p_path text default 'main',
  p_content text default null,
  p_idempotency_key text default null,
  p_max_output_tokens integer default null,
  p_estimated_input_tokens integer default 0,
  p_lease_seconds integer default 120,
  p_max_prompt_messages integer default 500)
returns jsonb
language plpgsql volatile as $$
declare
  pol public.tenant_policies;
  t public.turns;
  model text;
  max_out integer;
  cand jsonb := '[]'::jsonb;
  cand_model text;
  price public.model_pricing;
  primary_price public.model_pricing;
  provider text;
  worst numeric := 0;
  cost numeric;
  spend public.tenant_spend;
  user_msg jsonb;
  head uuid;
  prompt jsonb;
  contexts jsonb;
  resumed boolean := false;
  input_bound bigint;
begin
  -- idempotency: the same key is the same turn. Concurrent requests with one key wait here for the
  -- first to commit its running row, then see it (409 in progress) instead of racing its insert.
  if p_idempotency_key is not null then
    perform pg_advisory_xact_lock(hashtextextended(p_tenant_id::text || ':' || p_idempotency_key, 7261));
    select * into t from public.turns
     where tenant_id = p_tenant_id and idempotency_key = p_idempotency_key
     for update;
    if found then
      if t.request_hash <> p_request_hash then
        raise sqlstate 'PT409' using message = 'Idempotency-Key was already used with a different request',
          detail = '{"param":"Idempotency-Key","reason":"key_reused"}';
      end if;
      if t.status = 'completed' then
        return jsonb_build_object('status', 'replay', 'response', t.response);
      end if;
      if t.status = 'running' and t.lease_expires_at > now() then
        raise sqlstate 'PT409' using message = 'A request with this Idempotency-Key is still running',
          detail = json_build_object('reason', 'in_progress',
            'retry_after', greatest(1, ceil(extract(epoch from t.lease_expires_at - now()))::int))::text;
      end if;
      resumed := true; -- failed, or running with an expired lease (its process died): run it again
    end if;
  end if;

  select * into pol from public.tenant_policies where tenant_id = p_tenant_id;
  if not found then
    raise sqlstate 'PT403' using message = 'this tenant has no policy';
  end if;

  model := coalesce(p_model, pol.default_model);
  if model is null then
    raise sqlstate 'PT400' using message = 'model is required: the tenant policy names no default model',
      detail = '{"param":"model"}';
  end if;
  if not (model = any(pol.allowed_models)) then
    if not exists (select 1 from public.model_pricing where model_pricing.model = begin_turn.model) then
      raise sqlstate 'PT400' using message = format('unknown model: %s', model), detail = '{"param":"model"}';
    end if;
    raise sqlstate 'PT403' using message = format('the tenant policy does not allow model %s', model),
      detail = '{"param":"model"}';
  end if;
  max_out := least(coalesce(p_max_output_tokens, pol.max_output_tokens), pol.max_output_tokens);

  -- A strict upper bound of the prompt's tokens for the budget: a token is at least one byte, so the
  -- prompt's bytes bound its tokens whatever the provider's tokenizer (p_estimated_input_tokens is
  -- the caller's bound for the new text; a conversation adds its path and contexts).
  input_bound := greatest(p_estimated_input_tokens, 0);
  if p_kind = 'conversation' then
    select input_bound + coalesce(octet_length(p_content), 0) + coalesce(sum(octet_length(m.content) + 8), 0)
      into input_bound
      from (with recursive chain as (
              select x.id, x.parent_id, x.content, x.depth from public.messages x
               where x.id = (select head_message_id from public.paths
                              where conversation_id = p_conversation_id and tenant_id = p_tenant_id and name = p_path)
              union all
              select x.id, x.parent_id, x.content, x.depth from public.messages x join chain c on x.id = c.parent_id
               where c.depth > 0)
            select * from chain order by depth desc limit p_max_prompt_messages) m;
    select input_bound + coalesce(sum(octet_length(c.content) + octet_length(c.name) + 8), 0) into input_bound
      from public.conversation_contexts cc join public.contexts c on c.id = cc.context_id
     where cc.conversation_id = p_conversation_id and cc.tenant_id = p_tenant_id;
  end if;

  -- the model and its failovers, each with the price in effect now; no price, no call
  foreach cand_model in array array[model] || array(select f from unnest(pol.failover_models) f
                                                     where f <> model and f = any(pol.allowed_models)) loop
    price := null;
    select p.* into price from public.model_pricing p
     where p.model = cand_model and p.effective_from <= now()
       and (p.provider = any(pol.allowed_providers) or p.provider = any(array(select jsonb_object_keys(pol.provider_endpoints))))
     order by p.effective_from desc limit 1;
    if price.id is null then
      if cand_model = model then
        raise sqlstate 'PT503' using message = format('no price is in effect for model %s', model),
          detail = '{"reason":"pricing_unavailable"}';
      end if;
      continue; -- an unpriced failover model is skipped, never called
    end if;
    if cand_model = model then
      primary_price := price;
    end if;
    cost := public.turn_cost(price, least(input_bound, 2000000000)::integer, max_out, 0);
    worst := greatest(worst, cost);
    cand := cand || jsonb_build_array(public.pricing_json(price) || jsonb_build_object(
      'base_url', pol.provider_endpoints -> price.provider ->> 'base_url'));
  end loop;

  -- budget: month spend + turns in flight + this turn's worst case; one turn at a time per tenant here
  insert into public.tenant_spend (tenant_id, month) values (p_tenant_id, public.month_start())
  on conflict do nothing;
  perform public.reap_abandoned_turns(p_tenant_id);
  select * into spend from public.tenant_spend
   where tenant_id = p_tenant_id and month = public.month_start() for update;
  if pol.monthly_budget_usd is not null
     and spend.spend_usd + spend.reserved_usd - (case when resumed then t.reserved_usd else 0 end) + worst
         > pol.monthly_budget_usd then
    raise sqlstate 'PT402' using message = 'the monthly budget would be exceeded by this request',
      detail = json_build_object('budget_usd', pol.monthly_budget_usd::text,
        'spent_usd', spend.spend_usd::text)::text;
  end if;

  if p_kind = 'conversation' then
    perform public.lock_conversation(p_tenant_id, p_conversation_id);
  end if;

  if resumed then
    update public.tenant_spend set reserved_usd = greatest(reserved_usd - t.reserved_usd, 0) + worst
     where tenant_id = p_tenant_id and month = public.month_start();
    update public.turns
       set status = 'running', attempt = attempt + 1, lease_expires_at = now() + make_interval(secs => p_lease_seconds),
           model = primary_price.model, provider = primary_price.provider, pricing_id = primary_price.id,
           reserved_usd = worst, candidates = cand, error = null, completed_at = null
     where id = t.id returning * into t;
    if t.user_message_id is not null then
      select public.message_json(m) into user_msg from public.messages m where m.id = t.user_message_id;
    end if;
  else
    update public.tenant_spend set reserved_usd = reserved_usd + worst
     where tenant_id = p_tenant_id and month = public.month_start();
    insert into public.turns (tenant_id, kind, conversation_id, path_name, idempotency_key, request_hash, status,
                              lease_expires_at, model, provider, pricing_id, reserved_usd, candidates)
    values (p_tenant_id, p_kind, p_conversation_id, case when p_kind = 'conversation' then p_path end,
            p_idempotency_key, p_request_hash, 'running', now() + make_interval(secs => p_lease_seconds),
            primary_price.model, primary_price.provider, primary_price.id, worst, cand)
    returning * into t;
  end if;

  if p_kind = 'conversation' then
    if user_msg is null then
      user_msg := public.append_message(p_tenant_id, p_conversation_id, p_path, 'user', p_content, null, null, t.id);
      update public.turns set user_message_id = (user_msg ->> 'id')::uuid where id = t.id;
    end if;
    select head_message_id into head from public.paths
     where conversation_id = p_conversation_id and name = p_path;
    -- the path from the root to the head, newest p_max_prompt_messages of it, oldest first
    with recursive chain as (
      select m.id, m.parent_id, m.role, m.content, m.depth from public.messages m where m.id = head
      union all
      select m.id, m.parent_id, m.role, m.content, m.depth
        from public.messages m join chain c on m.id = c.parent_id
       where c.depth > 0
    )
    select coalesce(jsonb_agg(jsonb_build_object('role', x.role, 'content', x.content) order by x.depth), '[]'::jsonb)
      into prompt
      from (select * from chain order by depth desc limit p_max_prompt_messages) x;
    select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'name', c.name, 'content', c.content,
                                                 'token_count', c.token_count) order by cc.position), '[]'::jsonb)
      into contexts
      from public.conversation_contexts cc join public.contexts c on c.id = cc.context_id
     where cc.conversation_id = p_conversation_id;
  end if;

  return jsonb_build_object('status', 'started', 'turn_id', t.id, 'attempt', t.attempt,
    'user_message', user_msg, 'candidates', cand, 'max_output_tokens', max_out,
    'prompt', coalesce(prompt, '[]'::jsonb), 'contexts', coalesce(contexts, '[]'::jsonb));
end
$$;

-- Records the provider's answer. Idempotent: completing a completed turn returns its response.
-- The attempt fences a process whose lease expired and was taken over: its late answer is refused.
create function public.complete_turn(
  p_tenant_id uuid,
  p_turn_id uuid,
  p_attempt integer,
  p_pricing_id uuid,
  p_content text,
  p_input_tokens integer,
  p_output_tokens integer,
  p_cached_input_tokens integer default 0,
  p_finish_reason text default null)
returns jsonb
language plpgsql volatile as $$
declare
  t public.turns;
  price public.model_pricing;
  cost numeric;
  assistant jsonb;
  user_msg jsonb;
  response jsonb;
begin
  select * into t from public.turns where id = p_turn_id and tenant_id = p_tenant_id for update;
  if not found then
    raise sqlstate 'PT404' using message = 'turn not found';
  end if;
  if t.status = 'completed' then
    return t.response;
  end if;
  if t.status <> 'running' or t.attempt <> p_attempt then
    raise sqlstate 'PT409' using message = 'this turn is no longer run by this attempt',
      detail = '{"reason":"stale_attempt"}';
  end if;
  if not exists (select 1 from jsonb_array_elements(t.candidates) c where (c ->> 'id')::uuid = p_pricing_id) then
    raise sqlstate 'PT400' using message = 'pricing row is not one of this turn''s candidates';
  end if;
  select * into price from public.model_pricing where id = p_pricing_id;
  if p_input_tokens < 0 or p_output_tokens < 0 or p_cached_input_tokens < 0 or p_cached_input_tokens > p_input_tokens then
    raise sqlstate 'PT400' using message = 'invalid usage numbers';
  end if;
  cost := public.turn_cost(price, p_input_tokens, p_output_tokens, p_cached_input_tokens);

  if t.kind = 'conversation' then
    assistant := public.append_message(p_tenant_id, t.conversation_id, t.path_name, 'assistant', p_content,
                                       price.model, price.provider, t.id);
    select public.message_json(m) into user_msg from public.messages m where m.id = t.user_message_id;
  end if;

  insert into public.cost_events (tenant_id, turn_id, pricing_id, provider, model, conversation_id, path_name,
                                  input_tokens, output_tokens, cached_input_tokens, cost_usd)
  values (p_tenant_id, t.id, price.id, price.provider, price.model, t.conversation_id, t.path_name,
          p_input_tokens, p_output_tokens, p_cached_input_tokens, cost);

  update public.tenant_spend
     set spend_usd = spend_usd + cost, reserved_usd = greatest(reserved_usd - t.reserved_usd, 0)
   where tenant_id = p_tenant_id and month = public.month_start(t.created_at);
  if not found then
    insert into public.tenant_spend (tenant_id, month, spend_usd) values (p_tenant_id, public.month_start(t.created_at), cost);
  end if;

  response := jsonb_build_object(
    'turn_id', t.id,
    'user_message', user_msg,
    'assistant_message', coalesce(assistant, jsonb_build_object('role', 'assistant', 'content', p_content)),
    'usage', jsonb_build_object('input_tokens', p_input_tokens, 'output_tokens', p_output_tokens,
                                'cached_input_tokens', p_cached_input_tokens),
    'cost', jsonb_build_object('usd', cost::text, 'pricing_id', price.id),
    'model', price.model,
    'provider', price.provider,
    'finish_reason', p_finish_reason,
    'created_at', now());
  update public.turns
     set status = 'completed', response = completion.response, completed_at = now(), model = price.model,
         provider = price.provider, pricing_id = price.id, reserved_usd = 0
    from (select response) completion
   where id = t.id;
  if t.kind = 'conversation' then
    update public.conversations set updated_at = now() where id = t.conversation_id;
  end if;
  return response;
end
$$;

-- The provider failed. Nothing is charged unless the provider reported usage (p_pricing_id given).
create function public.fail_turn(
  p_tenant_id uuid,
  p_turn_id uuid,
  p_attempt integer,
  p_error jsonb,
  p_pricing_id uuid default null,
  p_input_tokens integer default null,
  p_output_tokens integer default null,
  p_cached_input_tokens integer default 0)
returns void
language plpgsql volatile as $$
declare
  t public.turns;
  price public.model_pricing;
  cost numeric := 0;
begin
  select * into t from public.turns where id = p_turn_id and tenant_id = p_tenant_id for update;
  if not found or t.status <> 'running' or t.attempt <> p_attempt then
    return; -- already settled by another attempt: nothing to do
  end if;
  if p_pricing_id is not null and p_input_tokens is not null and p_output_tokens is not null
     and exists (select 1 from jsonb_array_elements(t.candidates) c where (c ->> 'id')::uuid = p_pricing_id) then
    select * into price from public.model_pricing where id = p_pricing_id;
    cost := public.turn_cost(price, p_input_tokens, p_output_tokens, least(p_cached_input_tokens, p_input_tokens));
    insert into public.cost_events (tenant_id, turn_id, pricing_id, provider, model, conversation_id, path_name,
                                    input_tokens, output_tokens, cached_input_tokens, cost_usd)
    values (p_tenant_id, t.id, price.id, price.provider, price.model, t.conversation_id, t.path_name,
            p_input_tokens, p_output_tokens, least(p_cached_input_tokens, p_input_tokens), cost)
    on conflict (turn_id) do nothing;
  end if;
  update public.tenant_spend
     set spend_usd = spend_usd + cost, reserved_usd = greatest(reserved_usd - t.reserved_usd, 0)
   where tenant_id = p_tenant_id and month = public.month_start(t.created_at);
  update public.turns set status = 'failed', error = p_error, completed_at = now(), reserved_usd = 0
   where id = t.id;
end
$$;

-- Policies and prices (admin, service role).
create function public.set_tenant_policy(p_tenant_id uuid, p_policy jsonb) returns jsonb
language plpgsql volatile as $$
declare
  pol public.tenant_policies;
  unknown text;
begin
  if not exists (select 1 from public.tenants where id = p_tenant_id) then
    raise sqlstate 'PT404' using message = 'tenant not found';
  end if;
  select k into unknown from jsonb_object_keys(p_policy) k
   where k not in ('allowed_providers', 'allowed_models', 'default_model', 'failover_models', 'requests_per_minute',
                   'tokens_per_minute', 'monthly_budget_usd', 'max_output_tokens', 'features', 'provider_endpoints')
   limit 1;
  if unknown is not null then
    raise sqlstate 'PT400' using message = format('unknown policy field: %s', unknown),
      detail = json_build_object('param', unknown)::text;
  end if;
  update public.tenant_policies set
    allowed_providers = case when p_policy ? 'allowed_providers'
      then array(select jsonb_array_elements_text(p_policy -> 'allowed_providers')) else allowed_providers end,
    allowed_models = case when p_policy ? 'allowed_models'
      then array(select jsonb_array_elements_text(p_policy -> 'allowed_models')) else allowed_models end,
    default_model = case when p_policy ? 'default_model' then p_policy ->> 'default_model' else default_model end,
    failover_models = case when p_policy ? 'failover_models'
      then array(select jsonb_array_elements_text(p_policy -> 'failover_models')) else failover_models end,
    requests_per_minute = case when p_policy ? 'requests_per_minute'
      then (p_policy ->> 'requests_per_minute')::int else requests_per_minute end,
    tokens_per_minute = case when p_policy ? 'tokens_per_minute'
      then (p_policy ->> 'tokens_per_minute')::int else tokens_per_minute end,
    monthly_budget_usd = case when p_policy ? 'monthly_budget_usd'
      then (p_policy ->> 'monthly_budget_usd')::numeric else monthly_budget_usd end,
    max_output_tokens = case when p_policy ? 'max_output_tokens'
      then (p_policy ->> 'max_output_tokens')::int else max_output_tokens end,
    features = case when p_policy ? 'features' then p_policy -> 'features' else features end,
    provider_endpoints = case when p_policy ? 'provider_endpoints' then p_policy -> 'provider_endpoints'
      else provider_endpoints end,
    updated_at = now()
  where tenant_id = p_tenant_id
  returning * into pol;
  if pol.allowed_providers is null then
    raise sqlstate 'PT400' using message = 'allowed_providers must be a list';
  end if;
  return to_jsonb(pol) - 'tenant_id' || jsonb_build_object('tenant_id', pol.tenant_id,
    'monthly_budget_usd', pol.monthly_budget_usd::text);
end
$$;

create function public.set_model_price(
  p_provider text, p_model text, p_input_usd_per_mtok numeric, p_output_usd_per_mtok numeric,
  p_cached_input_usd_per_mtok numeric default null, p_effective_from timestamptz default null,
  p_context_window_tokens integer default null)
returns jsonb
language sql volatile as $$
  insert into public.model_pricing (provider, model, input_usd_per_mtok, output_usd_per_mtok,
                                    cached_input_usd_per_mtok, effective_from, context_window_tokens)
  values (p_provider, p_model, p_input_usd_per_mtok, p_output_usd_per_mtok, p_cached_input_usd_per_mtok,
          coalesce(p_effective_from, now()), p_context_window_tokens)
  on conflict (provider, model, effective_from) do update
    set input_usd_per_mtok = excluded.input_usd_per_mtok, output_usd_per_mtok = excluded.output_usd_per_mtok,
        cached_input_usd_per_mtok = excluded.cached_input_usd_per_mtok,
        context_window_tokens = excluded.context_window_tokens
  returning public.pricing_json(model_pricing)
$$;

-- The models this tenant may use, each with the price in effect (GET /v1/models).
create function public.list_tenant_models(p_tenant_id uuid) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(public.pricing_json(p) order by p.provider, p.model), '[]'::jsonb)
    from public.tenant_policies pol
    cross join lateral unnest(pol.allowed_models) am(model)
    cross join lateral (
      select mp.* from public.model_pricing mp
       where mp.model = am.model and mp.effective_from <= now()
         and (mp.provider = any(pol.allowed_providers)
              or mp.provider = any(array(select jsonb_object_keys(pol.provider_endpoints))))
       order by mp.effective_from desc limit 1) p
   where pol.tenant_id = p_tenant_id
$$;

do $$
declare
  f regprocedure;
begin
  for f in select p.oid::regprocedure from pg_proc p join pg_namespace n on n.oid = p.pronamespace
            where n.nspname = 'public' loop
    execute format('revoke execute on function %s from public, anon, authenticated', f);
    execute format('grant execute on function %s to service_role', f);
  end loop;
end
$$;
