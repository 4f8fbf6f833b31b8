// The queue-control routes (docs/api.md "Queue control").
import { request } from "../api/client";
import type { JobEnvelope, Queue, QueueCancelled, QueuePaused } from "../api/schema.generated";

/** Where a queued job moves: the front, the back, or a place (1 = next to run). */
export type MoveTarget = "front" | "back" | number;

export const queueApi = {
  get: () => request<Queue>("GET", "/api/queue"),
  pause: () => request<QueuePaused>("POST", "/api/queue/pause"),
  resume: () => request<QueuePaused>("POST", "/api/queue/resume"),
  cancelAll: () => request<QueueCancelled>("POST", "/api/queue/cancel"),
  move: (jobId: string, to: MoveTarget) =>
    request<JobEnvelope>("POST", `/api/jobs/${encodeURIComponent(jobId)}/move`, { to }).then((r) => r.job),
};
