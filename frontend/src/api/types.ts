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
interface JobEventBase {
  job_id: string;
  seq: number;
  ts: number;
}

export type JobEvent =
  | ({ type: "job.queued"; position: number } & JobEventBase)
  | ({ type: "job.started" } & JobEventBase)
  | ({
      type: "job.progress";
      progress: number | null;
      index?: number;
      step?: number;
      total_steps?: number;
      message: string;
    } & JobEventBase)
  | ({ type: "job.preview"; index: number; width: number; height: number; mime: string; url: string } & JobEventBase)
  | ({ type: "job.image"; index: number; image: GalleryImage } & JobEventBase)
  | ({ type: "job.succeeded"; images: GalleryImage[] } & JobEventBase)
  | ({ type: "job.failed"; error: JobError } & JobEventBase)
  | ({ type: "job.cancelled" } & JobEventBase)
  | ({ type: "job.interrupted"; error: JobError } & JobEventBase);

export const JOB_EVENT_NAMES = [
  "job.queued",
  "job.started",
  "job.progress",
  "job.preview",
  "job.image",
  "job.succeeded",
  "job.failed",
  "job.cancelled",
  "job.interrupted",
] as const;
