// The jobs of this tab's session: each one's view, kept current from the live events.
// Components read it through useSyncExternalStore (useJobs / useJob below).
import { useSyncExternalStore } from "react";
import type { Job, JobEvent } from "../api/types";
import type { LiveConnection } from "../api/live";
import { applyEvent, applyQueue, applySnapshot, FINISHED, fromJob, type JobView } from "./jobState";

export class JobsStore {
  private views = new Map<string, JobView>();
  private order: string[] = []; // newest first
  private unsubscribe = new Map<string, () => void>();
  private listeners = new Set<() => void>();
  private snapshot: JobView[] = [];
  private onImage?: (jobId: string) => void;
  private queueFeed: Promise<() => void> | null = null; // followed while a job waits

  constructor(private live: () => Promise<LiveConnection>) {}

  setImageListener(listener: (jobId: string) => void) {
    this.onImage = listener;
  }

  subscribe = (listener: () => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getSnapshot = () => this.snapshot;

  get(id: string): JobView | undefined {
    return this.views.get(id);
  }

  private publish() {
    this.snapshot = this.order.map((id) => this.views.get(id)!);
    this.listeners.forEach((l) => l());
    this.followQueue();
  }

  /** The queue feed tells each waiting job its place; it is followed only while one waits. */
  private followQueue() {
    const waiting = this.snapshot.some((v) => v.status === "queued");
    if (waiting && !this.queueFeed) {
      this.queueFeed = this.live().then((live) =>
        live.subscribeFeed("queue", (queue) => {
          let changed = false;
          for (const [id, view] of this.views) {
            const next = applyQueue(view, queue);
            if (next !== view) {
              this.views.set(id, next);
              changed = true;
            }
          }
          if (changed) this.publish();
        }),
      );
    } else if (!waiting && this.queueFeed) {
      const feed = this.queueFeed;
      this.queueFeed = null;
      void feed.then((off) => off());
    }
  }

  private update(id: string, next: JobView) {
    const prev = this.views.get(id);
    if (prev === next) return;
    // previews are blob URLs: free the one a newer preview replaced
    if (prev) {
      for (const [index, p] of Object.entries(prev.previews)) {
        if (next.previews[Number(index)]?.url !== p.url) URL.revokeObjectURL?.(p.url);
      }
    }
    this.views.set(id, next);
    if (prev && Object.keys(next.images).length > Object.keys(prev.images).length) this.onImage?.(id);
    this.publish();
  }

  /** Start following a job (a new one, or one of this session loaded after a reload). */
  track(job: Job) {
    if (this.views.has(job.id)) return;
    this.views.set(job.id, fromJob(job, 0));
    this.order = [job.id, ...this.order].sort((a, b) =>
      this.views.get(b)!.createdAt.localeCompare(this.views.get(a)!.createdAt),
    );
    this.publish();
    void this.live().then((live) => {
      if (!this.views.has(job.id)) return;
      const off = live.subscribeJob(job.id, {
        lastSeq: () => this.views.get(job.id)?.seq ?? 0,
        onSnapshot: (snap, lastSeq) => {
          const view = this.views.get(job.id);
          if (view) this.update(job.id, applySnapshot(view, snap, lastSeq));
        },
        onEvent: (event: JobEvent) => {
          const view = this.views.get(job.id);
          if (!view) return;
          this.update(job.id, applyEvent(view, event));
        },
      });
      this.unsubscribe.set(job.id, off);
    });
  }

  /** Apply a job as the REST API returned it (e.g. after cancel), if it is newer. */
  merge(job: Job) {
    const view = this.views.get(job.id);
    if (!view) return this.track(job);
    if (FINISHED.has(job.status) && !FINISHED.has(view.status)) {
      this.update(job.id, { ...fromJob(job, view.seq), previews: view.previews });
    } else if (job.cancel_requested && !view.cancelRequested) {
      this.update(job.id, { ...view, cancelRequested: true, message: "cancelling" });
    }
  }

  dismiss(id: string) {
    this.unsubscribe.get(id)?.();
    this.unsubscribe.delete(id);
    this.views.delete(id);
    this.order = this.order.filter((x) => x !== id);
    this.publish();
  }
}

export function useJobs(store: JobsStore): JobView[] {
  return useSyncExternalStore(store.subscribe, store.getSnapshot);
}
