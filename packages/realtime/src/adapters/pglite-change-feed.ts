import {
  type ChangeFeed,
  type ChangeFeedHandlers,
  type ChangeFeedState,
  GRAPH_EVENTS_CHANNEL,
  parseGraphNotification,
} from "../ports/change-feed.port";

/**
 * What this adapter calls on embedded Postgres: PGlite's own `listen` (and the local stack's
 * SqlDatabase, which wraps it) has exactly this shape.
 */
export interface ListenSource {
  listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * The change feed in embedded mode (`npm start` on PGlite): the database runs in this process, so
 * there is no connection to lose and no reconnection; notifications arrive as PGlite delivers them.
 */
export class PGliteChangeFeed implements ChangeFeed {
  private current: ChangeFeedState = "connecting";
  private unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly db: ListenSource) {}

  get state(): ChangeFeedState {
    return this.current;
  }

  async start(handlers: ChangeFeedHandlers): Promise<void> {
    this.unlisten = await this.db.listen(GRAPH_EVENTS_CHANNEL, (payload) => {
      const notification = parseGraphNotification(payload);
      if (notification) handlers.onNotification(notification);
    });
    this.current = "up";
  }

  async stop(): Promise<void> {
    this.current = "stopped";
    await this.unlisten?.().catch(() => {});
    this.unlisten = undefined;
  }
}
