-- Resuming a stream from Last-Event-ID needs the events of one conversation to commit in id order.
-- Writers that lock the conversation row are serialized already; the context functions touch many
-- conversations without that lock. A transaction-scoped advisory lock per conversation, taken before
-- the id is drawn, serializes every writer of that conversation's events until it commits.
create or replace function public.emit_graph_event(p_tenant_id uuid, p_conversation_id uuid, p_type text, p_payload jsonb)
returns bigint
language plpgsql volatile as $$
declare
  new_id bigint;
begin
  perform pg_advisory_xact_lock(hashtextextended('graph_events:' || p_conversation_id::text, 0));
  insert into public.graph_events (tenant_id, conversation_id, type, payload)
  values (p_tenant_id, p_conversation_id, p_type, coalesce(p_payload, '{}'::jsonb))
  returning id into new_id;
  return new_id;
end
$$;

-- The context functions visit conversations in id order, so two of them never wait on each other
-- in opposite orders.
create or replace function public.update_context(
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
  for conv in select conversation_id from public.conversation_contexts where context_id = c.id
               order by conversation_id loop
    perform public.emit_graph_event(p_tenant_id, conv, 'conversation.updated',
      jsonb_build_object('context_updated', c.id));
  end loop;
  return public.context_json(c);
end
$$;

create or replace function public.delete_context(p_tenant_id uuid, p_context_id uuid) returns jsonb
language plpgsql volatile as $$
declare
  conv uuid;
  affected uuid[] := '{}';
begin
  for conv in select conversation_id from public.conversation_contexts
               where context_id = p_context_id and tenant_id = p_tenant_id
               order by conversation_id loop
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

revoke execute on function public.emit_graph_event(uuid, uuid, text, jsonb),
  public.update_context(uuid, uuid, text, text, integer), public.delete_context(uuid, uuid)
  from public, anon, authenticated;
grant execute on function public.emit_graph_event(uuid, uuid, text, jsonb),
  public.update_context(uuid, uuid, text, text, integer), public.delete_context(uuid, uuid)
  to service_role;
