// Jobs that client APIs send (/v1 OpenAI Images, /sdapi/v1 AUTOMATIC1111) belong to no tab's
// session; the studio shows them live too, tagged with their client. The queue feed names
// every job that waits or runs: each one this tab does not know is looked up once, and
// followed when a client sent it.
import { useEffect } from "react";
import { api } from "../api/client";
import type { LiveConnection } from "../api/live";
import type { JobsStore } from "./jobsStore";

export function useClientJobs(store: JobsStore, live: () => Promise<LiveConnection>) {
  useEffect(() => {
    const seen = new Set<string>();
    let stopped = false;
    let off: (() => void) | null = null;
    // with accounts the queue names only the caller's jobs; others' are anonymous (null)
    const look = (ids: (string | null)[]) => {
      for (const id of ids) {
        if (id === null || seen.has(id) || store.get(id)) continue;
        seen.add(id);
        api
          .job(id)
          .then((job) => {
            if (!stopped && job.client) store.track(job);
          })
          .catch(() => seen.delete(id)); // looked up again when the feed next names it
      }
    };
    void live().then((connection) => {
      if (stopped) return;
      off = connection.subscribeFeed(
        "queue",
        (queue) => look([...queue.running, ...queue.queued]),
        // once the server has the subscription no change is missed: what already waits or
        // runs (before it, or while the tab was disconnected) is asked for now
        () =>
          void api
            .health()
            .then((health) => {
              look([...health.queue.running, ...health.queue.queued]);
              document.documentElement.dataset.clientJobs = "watching";
            })
            .catch(() => undefined),
      );
    });
    return () => {
      stopped = true;
      off?.();
    };
  }, [store, live]);
}
