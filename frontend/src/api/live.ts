// One Socket.IO connection for the tab: job subscriptions that survive reconnects
// (re-subscribing with the last seq seen, so the server replays what was missed), the
// gallery and queue feeds, and the connection state for the "connection lost" banner.
import type { FeedEvent, FeedEventName, FeedTopic, Job, JobEvent, JobEventName, Matrix } from "./types";
import { FEED_EVENT_TOPICS, JOB_EVENT_NAMES } from "./types";
import { accountsMode, askForToken, getToken, signedOut } from "./auth";
import { BASE, rebase } from "./base";

/** The part of a socket.io-client Socket this module uses (a fake one in tests). */
export interface SocketLike {
  connected: boolean;
  on(event: string, handler: (...args: any[]) => void): unknown;
  emit(event: string, payload: unknown, ack?: (response: any) => void): unknown;
  connect(): unknown;
}

export type ConnectionState = "connecting" | "connected" | "lost";

export interface JobSubscriber {
  /** The job as the server saw it when (re)subscribing, with the seq it reflects. */
  onSnapshot(job: Job, lastSeq: number): void;
  onEvent(event: JobEvent): void;
  /** The last seq this subscriber has applied; sent as after_seq on re-subscribe. */
  lastSeq(): number;
}

/** The names of the events of one feed topic. */
export type TopicEventName<T extends FeedTopic> = {
  [K in FeedEventName]: (typeof FEED_EVENT_TOPICS)[K] extends T ? K : never;
}[FeedEventName];
/** An event of one feed topic, tagged with its name. */
export type TopicEvent<T extends FeedTopic> = Extract<FeedEvent, { type: TopicEventName<T> }>;

type FeedHandler = (event: FeedEvent) => void;

/** A matrix's subscriber: its state when (re)subscribed, then each matrix.updated. */
export interface MatrixSubscriber {
  onSnapshot(matrix: Matrix): void;
  onEvent(event: Extract<FeedEvent, { type: "matrix.updated" }>): void;
}

export class LiveConnection {
  private jobs = new Map<string, JobSubscriber>();
  private feeds = new Map<string, Set<FeedHandler>>();
  private matrices = new Map<string, MatrixSubscriber>();
  private stateListeners = new Set<() => void>();
  private resubscribed = new Map<FeedTopic, Set<() => void>>();
  /** called each time the server confirms a feed's subscription (first time and after a reconnect) */
  private subscribed = new Map<string, Set<() => void>>();
  private everConnected = false;
  state: ConnectionState = "connecting";

  constructor(private socket: SocketLike) {
    socket.on("connect", () => {
      const again = this.everConnected;
      this.everConnected = true;
      this.setState("connected");
      for (const [jobId, sub] of this.jobs) this.sendJobSubscribe(jobId, sub);
      for (const [matrixId, sub] of this.matrices) this.sendMatrixSubscribe(matrixId, sub);
      for (const topic of this.feeds.keys()) {
        // a feed is not replayed: once the server has the subscription again, what the feed
        // keeps current is reloaded (not before: a change in between would be missed)
        this.socket.emit("subscribe", { topic }, (ack: any) => {
          if (!ack?.ok) return;
          if (again) this.resubscribed.get(topic as FeedTopic)?.forEach((l) => l());
          this.subscribed.get(topic)?.forEach((l) => l());
        });
      }
    });
    socket.on("disconnect", () => this.setState("lost"));
    socket.on("connect_error", () => this.setState(this.everConnected ? "lost" : "lost"));
    for (const name of JOB_EVENT_NAMES) {
      socket.on(name, (payload: any) => this.route(name, rebase(payload)));
    }
    for (const name of Object.keys(FEED_EVENT_TOPICS) as FeedEventName[]) {
      const topic = FEED_EVENT_TOPICS[name];
      socket.on(name, (payload: any) => {
        const event = { ...rebase(payload), type: name } as FeedEvent;
        if (event.type === "matrix.updated") this.matrices.get(event.matrix_id)?.onEvent(event);
        else this.feeds.get(topic)?.forEach((h) => h(event));
      });
    }
  }

  private setState(state: ConnectionState) {
    if (this.state === state) return;
    this.state = state;
    this.stateListeners.forEach((l) => l());
  }

  onStateChange(listener: () => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** Called after each reconnect once the server has taken the feed's subscription again:
   * the feed is not replayed, so what it keeps current is to be reloaded (docs/events.md). */
  onResubscribed(topic: FeedTopic, listener: () => void): () => void {
    let listeners = this.resubscribed.get(topic);
    if (!listeners) this.resubscribed.set(topic, (listeners = new Set()));
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  private route(name: JobEventName, payload: any) {
    const sub = payload && this.jobs.get(payload.job_id);
    if (!sub) return;
    if (name === "job.preview") {
      const bytes = payload.data;
      const part = (bytes instanceof ArrayBuffer || ArrayBuffer.isView(bytes) ? bytes : new Uint8Array()) as BlobPart;
      const blob = new Blob([part], {
        type: payload.mime || "image/jpeg",
      });
      const { data: _data, ...rest } = payload;
      sub.onEvent({ ...rest, type: name, url: URL.createObjectURL(blob) } as JobEvent);
      return;
    }
    sub.onEvent({ ...payload, type: name } as JobEvent);
  }

  private sendJobSubscribe(jobId: string, sub: JobSubscriber) {
    this.socket.emit("subscribe", { job_id: jobId, after_seq: sub.lastSeq() }, (ack: any) => {
      // the snapshot carries image URLs too: under a sub-path they need the base like any event
      if (ack && ack.ok && ack.job && this.jobs.get(jobId) === sub) sub.onSnapshot(rebase(ack.job) as Job, ack.last_seq ?? 0);
    });
  }

  subscribeJob(jobId: string, sub: JobSubscriber): () => void {
    this.jobs.set(jobId, sub);
    if (this.socket.connected) this.sendJobSubscribe(jobId, sub);
    return () => {
      if (this.jobs.get(jobId) !== sub) return;
      this.jobs.delete(jobId);
      if (this.socket.connected) this.socket.emit("unsubscribe", { job_id: jobId });
    };
  }

  private sendMatrixSubscribe(matrixId: string, sub: MatrixSubscriber) {
    // the snapshot after each (re)subscribe covers what was missed while disconnected
    this.socket.emit("subscribe", { matrix_id: matrixId }, (ack: any) => {
      if (ack && ack.ok && ack.matrix && this.matrices.get(matrixId) === sub) sub.onSnapshot(rebase(ack.matrix) as Matrix);
    });
  }

  subscribeMatrix(matrixId: string, sub: MatrixSubscriber): () => void {
    this.matrices.set(matrixId, sub);
    if (this.socket.connected) this.sendMatrixSubscribe(matrixId, sub);
    return () => {
      if (this.matrices.get(matrixId) !== sub) return;
      this.matrices.delete(matrixId);
      if (this.socket.connected) this.socket.emit("unsubscribe", { matrix_id: matrixId });
    };
  }

  /** Follow a feed. ``onSubscribed`` runs each time the server has confirmed the
   * subscription (the first time and after every reconnect): from then on no change is
   * missed, so it is the moment to load what the feed keeps current. */
  subscribeFeed<T extends FeedTopic>(
    topic: T,
    onEvent: (event: TopicEvent<T>) => void,
    onSubscribed?: () => void,
  ): () => void {
    const handler = onEvent as FeedHandler; // only this topic's events reach it
    let handlers = this.feeds.get(topic);
    if (onSubscribed) {
      if (!this.subscribed.has(topic)) this.subscribed.set(topic, new Set());
      this.subscribed.get(topic)!.add(onSubscribed);
    }
    if (!handlers) {
      handlers = new Set();
      this.feeds.set(topic, handlers);
      if (this.socket.connected)
        this.socket.emit("subscribe", { topic }, (ack: any) => {
          if (ack?.ok) this.subscribed.get(topic)?.forEach((l) => l());
        });
    } else if (onSubscribed && this.socket.connected) {
      onSubscribed(); // the feed was already confirmed for another part of the tab
    }
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
      if (onSubscribed) this.subscribed.get(topic)?.delete(onSubscribed);
      if (handlers.size === 0) {
        this.feeds.delete(topic);
        if (this.socket.connected) this.socket.emit("unsubscribe", { topic });
      }
    };
  }
}

let shared: LiveConnection | null = null;
let creating: Promise<LiveConnection> | null = null;

/** The tab's connection, created on first use (socket.io-client is loaded then). Callers
 * that ask while it is being created wait for the same one: two sockets would split the
 * tab's subscriptions and its connection state. */
export function liveConnection(): Promise<LiveConnection> {
  if (shared) return Promise.resolve(shared);
  creating ??= create().finally(() => (creating = null));
  return creating;
}

async function create(): Promise<LiveConnection> {
  if (!shared) {
    const { io } = await import("socket.io-client");
    const socket = io({
      path: `${BASE}/socket.io`,
      transports: ["websocket", "polling"],
      reconnectionDelay: 500,
      reconnectionDelayMax: 4000,
      // read on every attempt, so a token entered after a refusal is used at once
      auth: (cb: (data: object) => void) => cb(getToken() ? { token: getToken() } : {}),
    });
    socket.on("connect_error", (err: Error) => {
      if (err.message !== "unauthorized") return;
      if (accountsMode()) return signedOut(); // the session is gone: sign in again
      askForToken(getToken() !== null).then((token) => {
        if (token) socket.connect();
      });
    });
    shared = new LiveConnection(socket as unknown as SocketLike);
    // e2e tests drop the socket on purpose to check reconnects
    (window as any).__atelierSocket = socket;
  }
  return shared;
}

export function setLiveConnection(live: LiveConnection | null) {
  shared = live;
}
