-- Every graph event is announced on the graph_events channel, in the inserting transaction,
-- so listeners hear of it exactly when it commits. The payload names the event, not its content.
create function public.notify_graph_event() returns trigger
language plpgsql as $$
begin
  perform pg_notify('graph_events', json_build_object(
    'id', new.id, 'tenant_id', new.tenant_id, 'conversation_id', new.conversation_id)::text);
  return null;
end
$$;

create trigger graph_events_notify after insert on public.graph_events
for each row execute function public.notify_graph_event();
