import { CandorError } from "../../errors";
import type { Cache } from "../ports/cache.port";
import type { Context, Conversation, GraphStore, ListCursor, Page } from "../ports/graph-store.port";
import type { TokenCounter } from "../ports/token-counter.port";

export interface GraphServiceDeps {
  store: GraphStore;
  /** The conversation cache: read-through, invalidated by every write to that conversation. */
  cache: Cache;
  cacheTtlSeconds: number;
  tokens: TokenCounter;
}

/** Tenant-scoped cache key: one tenant can never read another's entry, whatever the id. */
export const conversationCacheKey = (tenantId: string, id: string): string => `t:${tenantId}:c:${id}`;

/** The use cases of the conversation graph. Every call is scoped to the caller's tenant. */
export class GraphService {
  constructor(private readonly d: GraphServiceDeps) {}

  private async invalidate(tenantId: string, id: string): Promise<void> {
    await this.d.cache.del(conversationCacheKey(tenantId, id));
  }

  /** Called after any write that changes a conversation (turns included). */
  conversationChanged(tenantId: string, id: string): Promise<void> {
    return this.invalidate(tenantId, id);
  }

  createConversation(
    tenantId: string,
    input: { title?: string | null; metadata?: Record<string, unknown>; contextIds?: string[] },
  ) {
    return this.d.store.createConversation(tenantId, input);
  }

  async getConversation(tenantId: string, id: string): Promise<Conversation> {
    const key = conversationCacheKey(tenantId, id);
    const cached = await this.d.cache.get<Conversation>(key);
    if (cached.status === "hit") return cached.value;
    const conversation = await this.d.store.getConversation(tenantId, id);
    if (!conversation) throw new CandorError("not_found", "conversation not found");
    await this.d.cache.set(key, conversation, this.d.cacheTtlSeconds);
    return conversation;
  }

  listConversations(
    tenantId: string,
    limit: number,
    before: ListCursor | null,
  ): Promise<Page<Conversation, ListCursor>> {
    return this.d.store.listConversations(tenantId, limit, before);
  }

  async updateConversation(
    tenantId: string,
    id: string,
    input: { title?: string | null; metadata?: Record<string, unknown> },
  ) {
    const c = await this.d.store.updateConversation(tenantId, id, input);
    await this.invalidate(tenantId, id);
    return c;
  }

  async deleteConversation(tenantId: string, id: string): Promise<void> {
    await this.d.store.deleteConversation(tenantId, id);
    await this.invalidate(tenantId, id);
  }

  async setConversationContexts(tenantId: string, id: string, contextIds: string[]) {
    const c = await this.d.store.setConversationContexts(tenantId, id, contextIds);
    await this.invalidate(tenantId, id);
    return c;
  }

  listPathMessages(tenantId: string, id: string, path: string, limit: number, afterDepth: number) {
    return this.d.store.listPathMessages(tenantId, id, path, limit, afterDepth);
  }

  listPaths(tenantId: string, id: string) {
    return this.d.store.listPaths(tenantId, id);
  }

  async createPath(tenantId: string, id: string, name: string, fromMessageId: string) {
    const p = await this.d.store.createPath(tenantId, id, name, fromMessageId);
    await this.invalidate(tenantId, id);
    return p;
  }

  async movePath(tenantId: string, id: string, name: string, headMessageId: string) {
    const p = await this.d.store.movePath(tenantId, id, name, headMessageId);
    await this.invalidate(tenantId, id);
    return p;
  }

  async createContext(tenantId: string, input: { name: string; content: string }): Promise<Context> {
    return this.d.store.createContext(tenantId, {
      ...input,
      tokenCount: await this.d.tokens.count(input.content),
    });
  }

  async getContext(tenantId: string, id: string): Promise<Context> {
    const c = await this.d.store.getContext(tenantId, id);
    if (!c) throw new CandorError("not_found", "context not found");
    return c;
  }

  listContexts(tenantId: string, limit: number, before: ListCursor | null) {
    return this.d.store.listContexts(tenantId, limit, before);
  }

  async updateContext(tenantId: string, id: string, input: { name?: string; content?: string }) {
    return this.d.store.updateContext(tenantId, id, {
      ...input,
      ...(input.content !== undefined ? { tokenCount: await this.d.tokens.count(input.content) } : {}),
    });
  }

  async deleteContext(tenantId: string, id: string): Promise<void> {
    const { conversationIds } = await this.d.store.deleteContext(tenantId, id);
    await Promise.all(conversationIds.map((c) => this.invalidate(tenantId, c)));
  }
}
