-- The system of record. Every row carries its tenant_id; every RPC scopes by it.
-- Money is numeric (USD), never a float.

create table public.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 200),
  created_at timestamptz not null default now()
);

create table public.tenant_policies (
  tenant_id uuid primary key references public.tenants (id) on delete cascade,
  allowed_providers text[] not null default '{}',
  allowed_models text[] not null default '{}',
  default_model text,
  -- models tried in this order when the first fails; never a model outside allowed_models
  failover_models text[] not null default '{}',
  requests_per_minute integer check (requests_per_minute > 0),
  tokens_per_minute integer check (tokens_per_minute > 0),
  monthly_budget_usd numeric(20, 10) check (monthly_budget_usd >= 0),
  max_output_tokens integer not null default 1024 check (max_output_tokens > 0),
  features jsonb not null default '{}'::jsonb,
  updated_at timestamptz not null default now()
);

create table public.api_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  name text not null default 'default' check (char_length(name) between 1 and 200),
  prefix text not null,
  key_hash text not null unique check (key_hash ~ '^[0-9a-f]{64}$'),
  scopes text[] not null,
  created_at timestamptz not null default now(),
  revoked_at timestamptz
);
create index api_keys_tenant_idx on public.api_keys (tenant_id);

create table public.model_pricing (
  id uuid primary key default gen_random_uuid(),
  provider text not null,
  model text not null,
  input_usd_per_mtok numeric(20, 10) not null check (input_usd_per_mtok >= 0),
  output_usd_per_mtok numeric(20, 10) not null check (output_usd_per_mtok >= 0),
  cached_input_usd_per_mtok numeric(20, 10) check (cached_input_usd_per_mtok >= 0),
  effective_from timestamptz not null default now(),
  created_at timestamptz not null default now(),
  unique (provider, model, effective_from)
);
create index model_pricing_lookup_idx on public.model_pricing (model, effective_from desc);

create table public.contexts (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  name text not null,
  content text not null,
  token_count integer not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index contexts_tenant_idx on public.contexts (tenant_id, created_at desc, id desc);

create table public.conversations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  title text,
  metadata jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index conversations_tenant_idx on public.conversations (tenant_id, created_at desc, id desc);

create table public.conversation_contexts (
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  position integer not null,
  context_id uuid not null references public.contexts (id) on delete cascade,
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  primary key (conversation_id, position),
  unique (conversation_id, context_id)
);

create table public.messages (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  parent_id uuid references public.messages (id) on delete cascade,
  depth integer not null default 0,
  role text not null check (role in ('system', 'user', 'assistant')),
  content text not null,
  model text,
  provider text,
  turn_id uuid,
  token_count integer,
  created_at timestamptz not null default now()
);
create index messages_conversation_idx on public.messages (conversation_id, created_at);
create index messages_parent_idx on public.messages (parent_id);

create table public.paths (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  conversation_id uuid not null references public.conversations (id) on delete cascade,
  name text not null,
  head_message_id uuid references public.messages (id) on delete set null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (conversation_id, name)
);

-- One row per chat turn: the idempotency record and the lease of the process running it.
create table public.turns (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  conversation_id uuid,
  path_name text,
  idempotency_key text,
  request_hash text not null,
  status text not null check (status in ('running', 'completed', 'failed')),
  lease_expires_at timestamptz,
  attempt integer not null default 1,
  model text not null,
  provider text not null,
  pricing_id uuid references public.model_pricing (id),
  user_message_id uuid,
  response jsonb,
  error jsonb,
  created_at timestamptz not null default now(),
  completed_at timestamptz,
  unique (tenant_id, idempotency_key)
);
create index turns_created_idx on public.turns (created_at);

-- The ledger: at most one cost row per turn, priced with the pricing row the turn read.
-- No foreign key to conversations: the ledger outlives a deleted conversation.
create table public.cost_events (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  turn_id uuid not null unique references public.turns (id) on delete restrict,
  pricing_id uuid not null references public.model_pricing (id),
  provider text not null,
  model text not null,
  conversation_id uuid,
  path_name text,
  input_tokens integer not null check (input_tokens >= 0),
  output_tokens integer not null check (output_tokens >= 0),
  cached_input_tokens integer not null default 0 check (cached_input_tokens >= 0),
  cost_usd numeric(30, 12) not null check (cost_usd >= 0),
  created_at timestamptz not null default now()
);
create index cost_events_tenant_idx on public.cost_events (tenant_id, created_at);

create table public.tenant_spend (
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  month date not null,
  spend_usd numeric(30, 12) not null default 0,
  primary key (tenant_id, month)
);

-- Append-only change feed of the conversation graph, streamed by the realtime service.
create table public.graph_events (
  id bigserial primary key,
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  conversation_id uuid not null,
  type text not null,
  payload jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now()
);
create index graph_events_conversation_idx on public.graph_events (conversation_id, id);

create table public.sandbox_sessions (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references public.tenants (id) on delete cascade,
  conversation_id uuid not null,
  sandbox_id text not null,
  status text not null check (status in ('running', 'evicted', 'killed', 'failed')),
  created_at timestamptz not null default now(),
  last_used_at timestamptz not null default now(),
  ended_at timestamptz
);
create index sandbox_sessions_conversation_idx on public.sandbox_sessions (conversation_id);

-- RLS on every table, no policy for anon or authenticated: the public key reads nothing.
-- service_role has BYPASSRLS; Candor's server code is the only reader.
do $$
declare
  t text;
begin
  foreach t in array array['tenants', 'tenant_policies', 'api_keys', 'model_pricing', 'contexts',
    'conversations', 'conversation_contexts', 'messages', 'paths', 'turns', 'cost_events',
    'tenant_spend', 'graph_events', 'sandbox_sessions']
  loop
    execute format('alter table public.%I enable row level security', t);
    execute format('revoke all on public.%I from anon, authenticated', t);
    execute format('grant select, insert, update, delete on public.%I to service_role', t);
  end loop;
end
$$;
grant usage, select on sequence public.graph_events_id_seq to service_role;
