// Wire types of the Atelier REST API and Socket.IO events (see docs/api.md, docs/events.md).

export interface StepRange {
  min: number;
  max: number;
  default: number;
}

export interface ModelInfo {
  id: string;
  label: string;
  aspect_ratios: Record<string, { width: number; height: number }>;
  default_aspect_ratio: string;
  max_images: number;
  supports_seed: boolean;
  supports_negative_prompt: boolean;
  steps: StepRange | null;
  qualities: string[];
  default_quality: string | null;
  max_reference_images: number;
  step_progress: boolean;
  cancel: boolean;
  price_per_image: number | null;
}

export interface ProviderInfo {
  id: string;
  label: string;
  available: boolean;
  reason: string | null;
  default_model: string;
  models: ModelInfo[];
}

export interface Style {
  name: string;
  label: string;
  description: string;
  prompt: string;
  negative_prompt: string;
}

export interface GalleryImage {
  id: string;
  path: string;
  url: string;
  thumb_url?: string | null;
  width: number | null;
  height: number | null;
  format: string | null;
  bytes: number;
  readable: boolean;
  prompt: string;
  negative_prompt: string;
  style: string | null;
  aspect_ratio: string | null;
  provider: string | null;
  model: string | null;
  seed: number | null;
  job_id: string | null;
  session: string | null;
  created_at: string;
  favorite?: boolean;
}

export type JobStatus = "queued" | "running" | "succeeded" | "failed" | "cancelled" | "interrupted";

export interface JobError {
  code: string;
  message: string;
  retryable: boolean;
}

export interface ServerWarning {
  field: string;
  message: string;
  requested: unknown;
  used: unknown;
}

export interface JobRequest {
  prompt: string;
  negative_prompt: string;
  provider: string;
  model: string;
  style: string;
  aspect_ratio: string;
  width: number;
  height: number;
  n: number;
  seed: number | null;
  steps: number | null;
  quality: string | null;
}

export interface Job {
  id: string;
  created_at: string;
  request: JobRequest;
  status: JobStatus;
  session: string | null;
  started_at: string | null;
  finished_at: string | null;
  progress: number | null;
  message: string;
  images: GalleryImage[];
  warnings: ServerWarning[];
  error: JobError | null;
  cost_usd: number | null;
  retry_of: string | null;
  cancel_requested: boolean;
  position: number | null;
  last_seq: number;
}

/** What the composer sends to POST /api/jobs. */
export interface JobSubmission {
  prompt: string;
  negative_prompt?: string;
  provider?: string;
  model?: string;
  style?: string;
  aspect_ratio?: string;
  n?: number;
  seed?: number;
  steps?: number;
  quality?: string;
  session?: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total?: number;
}

/** Generation parameters read from a dropped image (POST /api/metadata/parse). */
export interface ParsedParameters {
  source?: string;
  prompt?: string;
  negative_prompt?: string;
  provider?: string;
  model?: string;
  style?: string;
  aspect_ratio?: string;
  seed?: number | null;
  steps?: number | null;
  quality?: string | null;
  width?: number | null;
  height?: number | null;
  [key: string]: unknown;
}

// --- Socket.IO events -----------------------------------------------------------------
// The wire payloads come from backend/services/event_types.py (events.generated.ts).
import type { FeedEventName, FeedEventPayloads, JobEventName, JobEventPayloads } from "./events.generated";
export { FEED_EVENT_TOPICS, JOB_EVENT_NAMES } from "./events.generated";
export type { FeedEventName, FeedEventPayloads, FeedTopic, JobEventName, JobEventPayloads } from "./events.generated";

/** A job event as the SPA applies it: the wire payload tagged with its name; a preview's
 * binary `data` is turned into an object URL by live.ts. */
export type JobEvent =
  | { [K in Exclude<JobEventName, "job.preview">]: { type: K } & JobEventPayloads[K] }[Exclude<JobEventName, "job.preview">]
  | ({ type: "job.preview"; url: string } & Omit<JobEventPayloads["job.preview"], "data">);

/** A feed event tagged with its name. */
export type FeedEvent = { [K in FeedEventName]: { type: K } & FeedEventPayloads[K] }[FeedEventName];
