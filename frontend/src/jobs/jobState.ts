// The job card's state machine: a job snapshot plus the events after it, applied in seq
// order. Applying an event twice or out of order never changes the result: events at
// or below the applied seq are ignored, and images are kept by their index.
import type {
  FeedEventPayloads,
  GalleryImage,
  Job,
  JobError,
  JobEvent,
  JobRequest,
  JobStatus,
  ServerWarning,
} from "../api/types";

export interface Preview {
  url: string;
  width: number;
  height: number;
}

export interface JobView {
  id: string;
  status: JobStatus;
  request: JobRequest;
  createdAt: string;
  startedAt: number | null; // epoch ms
  finishedAt: number | null;
  position: number | null;
  /** The job's seq as of which ``position`` is known: a replayed job.queued from before a
   * snapshot is older than the snapshot's place, and must not move the job back. */
  positionSeq: number;
  progress: number | null;
  step: number | null;
  totalSteps: number | null;
  message: string;
  images: Record<number, GalleryImage>;
  previews: Record<number, Preview>;
  error: JobError | null;
  warnings: ServerWarning[];
  cancelRequested: boolean;
  /** the client API that sent it ("openai", "a1111"); null from the studio itself */
  client: string | null;
  costUsd: number | null;
  seq: number;
}

export const FINISHED: ReadonlySet<JobStatus> = new Set(["succeeded", "failed", "cancelled", "interrupted"]);

const ms = (iso: string | null) => (iso ? Date.parse(iso) : null);

export function fromJob(job: Job, seq = job.last_seq ?? 0): JobView {
  const images: Record<number, GalleryImage> = {};
  job.images.forEach((img, i) => (images[i] = img));
  return {
    id: job.id,
    status: job.status,
    request: job.request,
    createdAt: job.created_at,
    startedAt: ms(job.started_at),
    finishedAt: ms(job.finished_at),
    position: job.position,
    positionSeq: job.last_seq ?? seq,
    progress: job.progress,
    step: null,
    totalSteps: null,
    message: job.message,
    images,
    previews: {},
    error: job.error,
    warnings: job.warnings ?? [],
    cancelRequested: job.cancel_requested,
    client: job.client ?? null,
    costUsd: job.cost_usd,
    seq,
  };
}

/** A snapshot from a (re)subscribe ack. Its fields replace ours when it is newer; the seq
 * stays, so the events the server replays after the ack still apply in order. */
export function applySnapshot(view: JobView, job: Job, lastSeq: number): JobView {
  if (lastSeq < view.seq) return view;
  if (lastSeq === view.seq) {
    // nothing of the job's own missed, but its place may have moved: past the 20th place only
    // the queue feed tells that, and a feed is not replayed after a reconnect
    const moved = view.status === "queued" && job.status === "queued" && job.position !== view.position;
    return moved ? { ...view, position: job.position } : view;
  }
  const next = { ...fromJob(job, view.seq), positionSeq: lastSeq };
  return { ...next, previews: view.previews, step: view.step, totalSteps: view.totalSteps, warnings: view.warnings };
}

export function applyEvent(view: JobView, event: JobEvent): JobView {
  if (event.job_id !== view.id || event.seq <= view.seq) return view;
  const v: JobView = { ...view, seq: event.seq };
  const at = Math.round(event.ts * 1000);
  switch (event.type) {
    case "job.queued":
      return event.seq > v.positionSeq
        ? { ...v, status: "queued", position: event.position, positionSeq: event.seq, message: "waiting in the queue" }
        : { ...v, status: "queued", message: "waiting in the queue" };
    case "job.started":
      return { ...v, status: "running", position: null, startedAt: at, message: "starting", progress: 0 };
    case "job.progress":
      return {
        ...v,
        status: v.status === "queued" ? "running" : v.status,
        progress: event.progress,
        step: event.step ?? null,
        totalSteps: event.total_steps ?? null,
        message: event.message || v.message,
        cancelRequested: v.cancelRequested || event.message === "cancelling",
      };
    case "job.preview":
      return {
        ...v,
        previews: { ...v.previews, [event.index]: { url: event.url, width: event.width, height: event.height } },
      };
    case "job.image":
      return { ...v, images: { ...v.images, [event.index]: event.image } };
    case "job.succeeded": {
      const images = { ...v.images };
      event.images.forEach((img, i) => (images[i] = images[i] ?? img));
      return { ...v, status: "succeeded", images, progress: 1, message: "done", finishedAt: at, position: null };
    }
    case "job.failed":
      return { ...v, status: "failed", error: event.error, message: event.error.message, finishedAt: at, position: null };
    case "job.cancelled":
      return { ...v, status: "cancelled", message: "cancelled", finishedAt: at, position: null };
    case "job.interrupted":
      return {
        ...v,
        status: "interrupted",
        error: event.error,
        message: event.error.message,
        finishedAt: at,
        position: null,
      };
    default: {
      // does not compile when events.generated.ts names a job event this switch misses
      const unhandled: never = event;
      void unhandled;
      return view;
    }
  }
}

/** A ``queue.updated`` snapshot applied to a job: the place of a job still queued, which
 * ``job.queued`` stops telling beyond the first 20. Only the position changes: the status
 * comes from the job's own events. */
export function applyQueue(view: JobView, queue: Omit<FeedEventPayloads["queue.updated"], "ts">): JobView {
  if (view.status !== "queued") return view;
  const at = queue.queued.indexOf(view.id);
  if (at < 0 || at + 1 === view.position) return view;
  return { ...view, position: at + 1 };
}

export function imageList(view: JobView): GalleryImage[] {
  return Object.keys(view.images)
    .map(Number)
    .sort((a, b) => a - b)
    .map((i) => view.images[i]!);
}

export function errorInPlainWords(error: JobError): string {
  const hints: Record<string, string> = {
    moderation_blocked: "The provider refused this prompt.",
    auth_failed: "The provider rejected its key.",
    rate_limited: "The provider is busy; try again in a moment.",
    timeout: "The provider took too long to answer.",
    interrupted: "The server stopped while this job was running.",
  };
  const hint = hints[error.code];
  return hint && !error.message.toLowerCase().startsWith(hint.toLowerCase().slice(0, 12))
    ? `${hint} ${error.message}`
    : error.message;
}
