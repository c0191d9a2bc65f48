-- The conversation graph: conversations, messages (a tree), paths (named branch heads), contexts.
-- Every function takes the tenant id and scopes every statement by it: another tenant's id is
-- simply not found. Every change appends a graph event in the same transaction (NOTIFY by trigger).
-- Errors: PT400 (with detail {"param": …}), PT404, PT409.

create function public.emit_graph_event(p_tenant_id uuid, p_conversation_id uuid, p_type text, p_payload jsonb)
returns bigint
language sql volatile as $$
  insert into public.graph_events (tenant_id, conversation_id, type, payload)
  values (p_tenant_id, p_conversation_id, p_type, coalesce(p_payload, '{}'::jsonb))
  returning id
$$;

create function public.message_json(m public.messages) returns jsonb
language sql immutable as $$
  select jsonb_build_object('id', m.id, 'conversation_id', m.conversation_id, 'parent_id', m.parent_id,
    'role', m.role, 'content', m.content, 'model', m.model, 'provider', m.provider, 'turn_id', m.turn_id,
    'created_at', m.created_at)
$$;

create function public.path_json(p public.paths) returns jsonb
language sql immutable as $$
  select jsonb_build_object('name', p.name, 'conversation_id', p.conversation_id,
    'head_message_id', p.head_message_id, 'created_at', p.created_at, 'updated_at', p.updated_at)
$$;

create function public.context_json(c public.contexts, p_with_content boolean default true) returns jsonb
language sql immutable as $$
  select jsonb_build_object('id', c.id, 'name', c.name, 'token_count', c.token_count,
    'created_at', c.created_at, 'updated_at', c.updated_at)
    || case when p_with_content then jsonb_build_object('content', c.content) else '{}'::jsonb end
$$;

create function public.conversation_json(c public.conversations) returns jsonb
language sql stable as $$
  select jsonb_build_object('id', c.id, 'title', c.title, 'metadata', c.metadata,
    'created_at', c.created_at, 'updated_at', c.updated_at,
    'paths', coalesce((select jsonb_agg(jsonb_build_object('name', p.name, 'head_message_id', p.head_message_id)
                         order by p.created_at, p.name)
                         from public.paths p where p.conversation_id = c.id), '[]'::jsonb),
    'context_ids', coalesce((select jsonb_agg(cc.context_id order by cc.position)
                              from public.conversation_contexts cc where cc.conversation_id = c.id), '[]'::jsonb))
$$;

-- Raises PT404 unless the conversation exists for this tenant; locks it for the transaction so
-- concurrent writers of one conversation are serialized.
create function public.lock_conversation(p_tenant_id uuid, p_conversation_id uuid) returns public.conversations
language plpgsql volatile as $$
declare
  c public.conversations;
begin
  select * into c from public.conversations
   where id = p_conversation_id and tenant_id = p_tenant_id
   for update;
  if not found then
    raise sqlstate 'PT404' using message = 'conversation not found';
  end if;
  return c;
end
$$;

create function public.replace_conversation_contexts(p_tenant_id uuid, p_conversation_id uuid, p_context_ids uuid[])
returns void
language plpgsql volatile as $$
declare
  n_found integer;
begin
  if p_context_ids is null then
    return;
  end if;
  if cardinality(p_context_ids) <> (select count(distinct x) from unnest(p_context_ids) x) then
    raise sqlstate 'PT400' using message = 'context_ids must not repeat a context',
      detail = '{"param":"context_ids"}';
  end if;
  select count(*) into n_found from public.contexts
   where tenant_id = p_tenant_id and id = any(p_context_ids);
  if n_found <> cardinality(p_context_ids) then
    raise sqlstate 'PT404' using message = 'context not found', detail = '{"param":"context_ids"}';
  end if;
  delete from public.conversation_contexts where conversation_id = p_conversation_id;
  insert into public.conversation_contexts (conversation_id, position, context_id, tenant_id)
  select p_conversation_id, ord - 1, id, p_tenant_id
    from unnest(p_context_ids) with ordinality as t(id, ord);
end
$$;

create function public.create_conversation(
  p_tenant_id uuid, p_title text default null, p_metadata jsonb default null, p_context_ids uuid[] default null)
returns jsonb
language plpgsql volatile as $$
declare
  c public.conversations;
begin
  insert into public.conversations (tenant_id, title, metadata)
  values (p_tenant_id, p_title, coalesce(p_metadata, '{}'::jsonb))
  returning * into c;
  insert into public.paths (tenant_id, conversation_id, name) values (p_tenant_id, c.id, 'main');
  perform public.replace_conversation_contexts(p_tenant_id, c.id, p_context_ids);
  perform public.emit_graph_event(p_tenant_id, c.id, 'path.created',
    jsonb_build_object('name', 'main', 'head_message_id', null));
  return public.conversation_json(c);
end
$$;

create function public.get_conversation(p_tenant_id uuid, p_conversation_id uuid) returns jsonb
language sql stable as $$
  select public.conversation_json(c) from public.conversations c
   where c.id = p_conversation_id and c.tenant_id = p_tenant_id
$$;

-- Newest first; the cursor is the (created_at, id) of the last row of the previous page.
create function public.list_conversations(
  p_tenant_id uuid, p_limit integer default 20,
  p_before_created_at timestamptz default null, p_before_id uuid default null)
returns jsonb
language sql stable as $$
  with page as (
    select c.* from public.conversations c
     where c.tenant_id = p_tenant_id
       and (p_before_created_at is null or (c.created_at, c.id) < (p_before_created_at, p_before_id))
     order by c.created_at desc, c.id desc
     limit least(greatest(p_limit, 1), 100) + 1
  ), numbered as (
    select p.*, row_number() over (order by p.created_at desc, p.id desc) as rn from page p
  )
  select jsonb_build_object(
    'data', coalesce((select jsonb_agg(public.conversation_json(
                               row(n.id, n.tenant_id, n.title, n.metadata, n.created_at, n.updated_at)::public.conversations)
                               order by n.rn)
                        from numbered n where n.rn <= least(greatest(p_limit, 1), 100)), '[]'::jsonb),
    'next', (select jsonb_build_object('created_at', n.created_at, 'id', n.id) from numbered n
              where n.rn = least(greatest(p_limit, 1), 100)
                and exists (select 1 from numbered m where m.rn > least(greatest(p_limit, 1), 100))))
$$;

create function public.update_conversation(
  p_tenant_id uuid, p_conversation_id uuid, p_title text default null, p_metadata jsonb default null,
  p_set_title boolean default false)
returns jsonb
language plpgsql volatile as $$
declare
  c public.conversations;
begin
  perform public.lock_conversation(p_tenant_id, p_conversation_id);
  update public.conversations
     set title = case when p_set_title then p_title else title end,
         metadata = coalesce(p_metadata, metadata),
         updated_at = now()
   where id = p_conversation_id and tenant_id = p_tenant_id
  returning * into c;
  perform public.emit_graph_event(p_tenant_id, c.id, 'conversation.updated',
    jsonb_build_object('title', c.title, 'metadata', c.metadata));
  return public.conversation_json(c);
end
$$;

-- Removes the conversation, its messages, paths, context links, sandboxes and past events, then
-- leaves one conversation.deleted event so live subscribers learn of it.
create function public.delete_conversation(p_tenant_id uuid, p_conversation_id uuid) returns void
language plpgsql volatile as $$
begin
  perform public.lock_conversation(p_tenant_id, p_conversation_id);
  delete from public.graph_events where conversation_id = p_conversation_id and tenant_id = p_tenant_id;
  delete from public.sandbox_sessions where conversation_id = p_conversation_id and tenant_id = p_tenant_id;
  delete from public.conversations where id = p_conversation_id and tenant_id = p_tenant_id;
  perform public.emit_graph_event(p_tenant_id, p_conversation_id, 'conversation.deleted', '{}'::jsonb);
end
$$;

create function public.set_conversation_contexts(p_tenant_id uuid, p_conversation_id uuid, p_context_ids uuid[])
returns jsonb
language plpgsql volatile as $$
declare
  c public.conversations;
begin
  perform public.lock_conversation(p_tenant_id, p_conversation_id);
  perform public.replace_conversation_contexts(p_tenant_id, p_conversation_id, coalesce(p_context_ids, '{}'));
  update public.conversations set updated_at = now()
   where id = p_conversation_id and tenant_id = p_tenant_id returning * into c;
  perform public.emit_graph_event(p_tenant_id, p_conversation_id, 'conversation.updated',
    jsonb_build_object('context_ids', to_jsonb(coalesce(p_context_ids, '{}'))));
  return public.conversation_json(c);
end
$$;

-- Appends a message under the head of a path and moves the head to it. Used by the turn functions.
create function public.append_message(
  p_tenant_id uuid, p_conversation_id uuid, p_path text, p_role text, p_content text,
  p_model text default null, p_provider text default null, p_turn_id uuid default null)
returns jsonb
language plpgsql volatile as $$
declare
  p public.paths;
  parent public.messages;
  m public.messages;
begin
  perform public.lock_conversation(p_tenant_id, p_conversation_id);
  select * into p from public.paths
   where conversation_id = p_conversation_id and tenant_id = p_tenant_id and name = p_path
   for update;
  if not found then
    raise sqlstate 'PT404' using message = 'path not found', detail = '{"param":"path"}';
  end if;
  if p.head_message_id is not null then
    select * into parent from public.messages where id = p.head_message_id;
  end if;
  insert into public.messages (tenant_id, conversation_id, parent_id, depth, role, content, model, provider, turn_id)
  values (p_tenant_id, p_conversation_id, p.head_message_id, coalesce(parent.depth + 1, 0), p_role, p_content,
          p_model, p_provider, p_turn_id)
  returning * into m;
  update public.paths set head_message_id = m.id, updated_at = now() where id = p.id;
  update public.conversations set updated_at = now() where id = p_conversation_id;
  perform public.emit_graph_event(p_tenant_id, p_conversation_id, 'message.created',
    public.message_json(m) - 'content' || jsonb_build_object('path', p_path));
  return public.message_json(m);
end
$$;

-- Messages from the root to the head of a path, oldest first, in pages by depth.
-- One recursive walk from the head: history shared by forks is read, never copied.
create function public.list_path_messages(
  p_tenant_id uuid, p_conversation_id uuid, p_path text, p_limit integer default 20,
  p_after_depth integer default -1)
returns jsonb
language plpgsql stable as $$
declare
  head uuid;
  lim integer := least(greatest(p_limit, 1), 100);
  result jsonb;
begin
  if not exists (select 1 from public.conversations where id = p_conversation_id and tenant_id = p_tenant_id) then
    raise sqlstate 'PT404' using message = 'conversation not found';
  end if;
  select head_message_id into head from public.paths
   where conversation_id = p_conversation_id and tenant_id = p_tenant_id and name = p_path;
  if not found then
    raise sqlstate 'PT404' using message = 'path not found', detail = '{"param":"path"}';
  end if;
  with recursive chain as (
    select m.* from public.messages m where m.id = head and m.tenant_id = p_tenant_id
    union all
    select m.* from public.messages m join chain c on m.id = c.parent_id
  ), page as (
    select * from chain where depth > p_after_depth order by depth limit lim + 1
  )
  select jsonb_build_object(
    'data', coalesce((select jsonb_agg(public.message_json(pg::public.messages) order by pg.depth)
                        from (select id, tenant_id, conversation_id, parent_id, depth, role, content, model,
                                     provider, turn_id, token_count, created_at
                                from page order by depth limit lim) pg), '[]'::jsonb),
    'next_after_depth', case when (select count(*) from page) > lim
                             then (select max(depth) from (select depth from page order by depth limit lim) d)
                             end)
    into result;
  return result;
end
$$;

create function public.list_paths(p_tenant_id uuid, p_conversation_id uuid) returns jsonb
language plpgsql stable as $$
begin
  if not exists (select 1 from public.conversations where id = p_conversation_id and tenant_id = p_tenant_id) then
    raise sqlstate 'PT404' using message = 'conversation not found';
  end if;
  return coalesce((select jsonb_agg(public.path_json(p) order by p.created_at, p.name)
                     from public.paths p where p.conversation_id = p_conversation_id and p.tenant_id = p_tenant_id),
                  '[]'::jsonb);
end
$$;

-- Fork: a new head pointing at an existing message. Nothing is copied.
create function public.create_path(p_tenant_id uuid, p_conversation_id uuid, p_name text, p_from_message_id uuid)
returns jsonb
language plpgsql volatile as $$
declare
  p public.paths;
begin
  perform public.lock_conversation(p_tenant_id, p_conversation_id);
  if not exists (select 1 from public.messages
                  where id = p_from_message_id and conversation_id = p_conversation_id and tenant_id = p_tenant_id) then
    raise sqlstate 'PT404' using message = 'message not found in this conversation',
      detail = '{"param":"from_message_id"}';
  end if;
  if exists (select 1 from public.paths where conversation_id = p_conversation_id and name = p_name) then
    raise sqlstate 'PT409' using message = 'a path with this name already exists', detail = '{"param":"name"}';
  end if;
  insert into public.paths (tenant_id, conversation_id, name, head_message_id)
  values (p_tenant_id, p_conversation_id, p_name, p_from_message_id)
  returning * into p;
  perform public.emit_graph_event(p_tenant_id, p_conversation_id, 'path.created',
    jsonb_build_object('name', p.name, 'head_message_id', p.head_message_id));
  return public.path_json(p);
end
$$;

-- Moves a path head back to one of its ancestors (or leaves it where it is).
create function public.move_path(p_tenant_id uuid, p_conversation_id uuid, p_name text, p_head_message_id uuid)
returns jsonb
language plpgsql volatile as $$
declare
  p public.paths;
  is_ancestor boolean;
begin
  perform public.lock_conversation(p_tenant_id, p_conversation_id);
  select * into p from public.paths
   where conversation_id = p_conversation_id and tenant_id = p_tenant_id and name = p_name
   for update;
  if not found then
    raise sqlstate 'PT404' using message = 'path not found';
  end if;
  if not exists (select 1 from public.messages
                  where id = p_head_message_id and conversation_id = p_conversation_id and tenant_id = p_tenant_id) then
    raise sqlstate 'PT404' using message = 'message not found in this conversation',
      detail = '{"param":"head_message_id"}';
  end if;
  with recursive chain as (
    select id, parent_id from public.messages where id = p.head_message_id
    union all
    select m.id, m.parent_id from public.messages m join chain c on m.id = c.parent_id
  )
  select exists (select 1 from chain where id = p_head_message_id) into is_ancestor;
  if not is_ancestor then
    raise sqlstate 'PT400' using message = 'head_message_id must be the head or an ancestor of it on this path',
      detail = '{"param":"head_message_id"}';
  end if;
  update public.paths set head_message_id = p_head_message_id, updated_at = now()
   where id = p.id returning * into p;
  perform public.emit_graph_event(p_tenant_id, p_conversation_id, 'path.moved',
    jsonb_build_object('name', p.name, 'head_message_id', p.head_message_id));
  return public.path_json(p);
end
$$;

create function public.create_context(p_tenant_id uuid, p_name text, p_content text, p_token_count integer)
returns jsonb
language sql volatile as $$
  insert into public.contexts (tenant_id, name, content, token_count)
  values (p_tenant_id, p_name, p_content, p_token_count)
  returning public.context_json(contexts)
$$;

create function public.get_context(p_tenant_id uuid, p_context_id uuid) returns jsonb
language sql stable as $$
  select public.context_json(c) from public.contexts c where c.id = p_context_id and c.tenant_id = p_tenant_id
$$;

create function public.list_contexts(
  p_tenant_id uuid, p_limit integer default 20,
  p_before_created_at timestamptz default null, p_before_id uuid default null)
returns jsonb
language sql stable as $$
  with page as (
    select c.*, row_number() over (order by c.created_at desc, c.id desc) as rn
      from (select * from public.contexts c
             where c.tenant_id = p_tenant_id
               and (p_before_created_at is null or (c.created_at, c.id) < (p_before_created_at, p_before_id))
             order by c.created_at desc, c.id desc
             limit least(greatest(p_limit, 1), 100) + 1) c
  )
  select jsonb_build_object(
    'data', coalesce((select jsonb_agg(public.context_json(
                               row(p.id, p.tenant_id, p.name, p.content, p.token_count, p.created_at, p.updated_at)::public.contexts,
                               false) order by p.rn)
                        from page p where p.rn <= least(greatest(p_limit, 1), 100)), '[]'::jsonb),
    'next', (select jsonb_build_object('created_at', p.created_at, 'id', p.id) from page p
              where p.rn = least(greatest(p_limit, 1), 100)
                and exists (select 1 from page q where q.rn > least(greatest(p_limit, 1), 100))))
$$;

create function public.update_context(
  p_tenant_id uuid, p_context_id uuid, p_name text default null, p_content text default null,
  p_token_count integer default null)
returns jsonb
language plpgsql volatile as $$
declare
  c public.contexts;
  conv uuid;
begin
  update public.contexts
     set name = coalesce(p_name, name),
         content = coalesce(p_content, content),
         token_count = coalesce(p_token_count, token_count),
         updated_at = now()
   where id = p_context_id and tenant_id = p_tenant_id
  returning * into c;
  if not found then
    raise sqlstate 'PT404' using message = 'context not found';
  end if;
  for conv in select conversation_id from public.conversation_contexts where context_id = c.id loop
    perform public.emit_graph_event(p_tenant_id, conv, 'conversation.updated',
      jsonb_build_object('context_updated', c.id));
  end loop;
  return public.context_json(c);
end
$$;

-- Deletes a context; returns the ids of the conversations it was attached to (their caches go).
create function public.delete_context(p_tenant_id uuid, p_context_id uuid) returns jsonb
language plpgsql volatile as $$
declare
  conv uuid;
  affected uuid[] := '{}';
begin
  for conv in select conversation_id from public.conversation_contexts
               where context_id = p_context_id and tenant_id = p_tenant_id loop
    affected := affected || conv;
    perform public.emit_graph_event(p_tenant_id, conv, 'conversation.updated',
      jsonb_build_object('context_removed', p_context_id));
  end loop;
  delete from public.contexts where id = p_context_id and tenant_id = p_tenant_id;
  if not found then
    raise sqlstate 'PT404' using message = 'context not found';
  end if;
  return jsonb_build_object('conversation_ids', to_jsonb(affected));
end
$$;

create function public.list_api_keys(p_tenant_id uuid) returns jsonb
language sql stable as $$
  select coalesce(jsonb_agg(jsonb_build_object('id', k.id, 'tenant_id', k.tenant_id, 'name', k.name,
           'prefix', k.prefix, 'scopes', to_jsonb(k.scopes), 'created_at', k.created_at,
           'revoked_at', k.revoked_at) order by k.created_at), '[]'::jsonb)
    from public.api_keys k where k.tenant_id = p_tenant_id
$$;

-- Revokes a key; returns its hash so the caller can delete the auth cache entry at once.
create function public.revoke_api_key(p_tenant_id uuid, p_key_id uuid) returns jsonb
language plpgsql volatile as $$
declare
  k public.api_keys;
begin
  update public.api_keys set revoked_at = coalesce(revoked_at, now())
   where id = p_key_id and tenant_id = p_tenant_id
  returning * into k;
  if not found then
    raise sqlstate 'PT404' using message = 'api key not found';
  end if;
  return jsonb_build_object('id', k.id, 'prefix', k.prefix, 'revoked_at', k.revoked_at, 'key_hash', k.key_hash);
end
$$;

-- Everything in this file is for the service role only.
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
