import type {
  Context,
  Conversation,
  GraphStore,
  ListCursor,
  Message,
  Page,
  Path,
} from "../../domain/ports/graph-store.port";
import type { SupabaseRpc } from "./supabase-rpc";

/** The conversation graph over the RPC functions of infra/supabase/migrations: one RPC per call. */
export class SupabaseGraphStore implements GraphStore {
  constructor(private readonly rpc: SupabaseRpc) {}

  createConversation(
    tenantId: string,
    input: { title?: string | null; metadata?: Record<string, unknown>; contextIds?: string[] },
  ) {
    return this.rpc.call<Conversation>("create_conversation", {
      p_tenant_id: tenantId,
      p_title: input.title ?? null,
      p_metadata: input.metadata ?? null,
      p_context_ids: input.contextIds ?? null,
    });
  }

  getConversation(tenantId: string, id: string) {
    return this.rpc.call<Conversation | null>("get_conversation", {
      p_tenant_id: tenantId,
      p_conversation_id: id,
    });
  }

  listConversations(tenantId: string, limit: number, before: ListCursor | null) {
    return this.rpc.call<Page<Conversation, ListCursor>>("list_conversations", {
      p_tenant_id: tenantId,
      p_limit: limit,
      p_before_created_at: before?.created_at ?? null,
      p_before_id: before?.id ?? null,
    });
  }

  updateConversation(
    tenantId: string,
    id: string,
    input: { title?: string | null; metadata?: Record<string, unknown> },
  ) {
    return this.rpc.call<Conversation>("update_conversation", {
      p_tenant_id: tenantId,
      p_conversation_id: id,
      p_title: input.title ?? null,
      p_set_title: input.title !== undefined,
      p_metadata: input.metadata ?? null,
    });
  }

  async deleteConversation(tenantId: string, id: string) {
    await this.rpc.call("delete_conversation", { p_tenant_id: tenantId, p_conversation_id: id });
  }

  setConversationContexts(tenantId: string, id: string, contextIds: string[]) {
    return this.rpc.call<Conversation>("set_conversation_contexts", {
      p_tenant_id: tenantId,
      p_conversation_id: id,
      p_context_ids: contextIds,
    });
  }

  async listPathMessages(tenantId: string, id: string, path: string, limit: number, afterDepth: number) {
    const r = await this.rpc.call<{ data: Message[]; next_after_depth: number | null }>(
      "list_path_messages",
      {
        p_tenant_id: tenantId,
        p_conversation_id: id,
        p_path: path,
        p_limit: limit,
        p_after_depth: afterDepth,
      },
    );
    return { data: r.data, next: r.next_after_depth } satisfies Page<Message, number>;
  }

  listPaths(tenantId: string, id: string) {
    return this.rpc.call<Path[]>("list_paths", { p_tenant_id: tenantId, p_conversation_id: id });
  }

  createPath(tenantId: string, id: string, name: string, fromMessageId: string) {
    return this.rpc.call<Path>("create_path", {
      p_tenant_id: tenantId,
      p_conversation_id: id,
      p_name: name,
      p_from_message_id: fromMessageId,
    });
  }

  movePath(tenantId: string, id: string, name: string, headMessageId: string) {
    return this.rpc.call<Path>("move_path", {
      p_tenant_id: tenantId,
      p_conversation_id: id,
      p_name: name,
      p_head_message_id: headMessageId,
    });
  }

  createContext(tenantId: string, input: { name: string; content: string; tokenCount: number }) {
    return this.rpc.call<Context>("create_context", {
      p_tenant_id: tenantId,
      p_name: input.name,
      p_content: input.content,
      p_token_count: input.tokenCount,
    });
  }

  getContext(tenantId: string, id: string) {
    return this.rpc.call<Context | null>("get_context", { p_tenant_id: tenantId, p_context_id: id });
  }

  listContexts(tenantId: string, limit: number, before: ListCursor | null) {
    return this.rpc.call<Page<Context, ListCursor>>("list_contexts", {
      p_tenant_id: tenantId,
      p_limit: limit,
      p_before_created_at: before?.created_at ?? null,
      p_before_id: before?.id ?? null,
    });
  }

  updateContext(
    tenantId: string,
    id: string,
    input: { name?: string; content?: string; tokenCount?: number },
  ) {
    return this.rpc.call<Context>("update_context", {
      p_tenant_id: tenantId,
      p_context_id: id,
      p_name: input.name ?? null,
      p_content: input.content ?? null,
      p_token_count: input.tokenCount ?? null,
    });
  }

  async deleteContext(tenantId: string, id: string) {
    const r = await this.rpc.call<{ conversation_ids: string[] }>("delete_context", {
      p_tenant_id: tenantId,
      p_context_id: id,
    });
    return { conversationIds: r.conversation_ids };
  }
}
