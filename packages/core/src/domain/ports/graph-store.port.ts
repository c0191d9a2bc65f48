/** Shapes as the API returns them (snake_case, API.md). */
export interface PathRef {
  name: string;
  head_message_id: string | null;
}

export interface Conversation {
  id: string;
  title: string | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string;
  paths: PathRef[];
  context_ids: string[];
}

export interface Message {
  id: string;
  conversation_id: string;
  parent_id: string | null;
  role: "system" | "user" | "assistant";
  content: string;
  model: string | null;
  provider: string | null;
  turn_id: string | null;
  created_at: string;
}

export interface Path {
  name: string;
  conversation_id: string;
  head_message_id: string | null;
  created_at: string;
  updated_at: string;
}

export interface Context {
  id: string;
  name: string;
  content?: string;
  token_count: number;
  created_at: string;
  updated_at: string;
}

export interface ListCursor {
  created_at: string;
  id: string;
}

export interface Page<T, C> {
  data: T[];
  next: C | null;
}

export interface GraphStore {
  createConversation(
    tenantId: string,
    input: { title?: string | null; metadata?: Record<string, unknown>; contextIds?: string[] },
  ): Promise<Conversation>;
  getConversation(tenantId: string, id: string): Promise<Conversation | null>;
  listConversations(
    tenantId: string,
    limit: number,
    before: ListCursor | null,
  ): Promise<Page<Conversation, ListCursor>>;
  updateConversation(
    tenantId: string,
    id: string,
    input: { title?: string | null; metadata?: Record<string, unknown> },
  ): Promise<Conversation>;
  deleteConversation(tenantId: string, id: string): Promise<void>;
  setConversationContexts(tenantId: string, id: string, contextIds: string[]): Promise<Conversation>;
  listPathMessages(
    tenantId: string,
    id: string,
    path: string,
    limit: number,
    afterDepth: number,
  ): Promise<Page<Message, number>>;
  listPaths(tenantId: string, id: string): Promise<Path[]>;
  createPath(tenantId: string, id: string, name: string, fromMessageId: string): Promise<Path>;
  movePath(tenantId: string, id: string, name: string, headMessageId: string): Promise<Path>;
  createContext(
    tenantId: string,
    input: { name: string; content: string; tokenCount: number },
  ): Promise<Context>;
  getContext(tenantId: string, id: string): Promise<Context | null>;
  listContexts(
    tenantId: string,
    limit: number,
    before: ListCursor | null,
  ): Promise<Page<Context, ListCursor>>;
  updateContext(
    tenantId: string,
    id: string,
    input: { name?: string; content?: string; tokenCount?: number },
  ): Promise<Context>;
  /** Returns the conversations the context was attached to. */
  deleteContext(tenantId: string, id: string): Promise<{ conversationIds: string[] }>;
}
