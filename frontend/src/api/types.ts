// Wire types of the Atelier REST API and Socket.IO events (see docs/api.md, docs/events.md).
// The REST types are generated from the server's own declarations (schema.generated.ts,
// by `python -m backend.web.api_types`); this file gives them the names the SPA uses.
import type * as Api from "./schema.generated";
import type { JobError } from "./schema.generated";

export type {
  ImageDetail,
  ImagePage,
  Job,
  JobPage,
  JobRequest,
  JobSubmission,
  JobSubmitted,
  ModelInfo,
  ParsedMetadata,
  ProviderInfo,
  StepRange,
  Style,
} from "./schema.generated";

export type { JobError };
export type GalleryImage = Api.Image;
export type ServerWarning = Api.Warning;
export type JobStatus = Api.Job["status"];
export type JobKind = Api.Job["kind"];
/** Generation parameters read from a dropped image (POST /api/metadata/parse). */
export type ParsedParameters = Api.Parameters;
/** A page of a listing: ImagePage or JobPage. */
export type Page<T> = { items: T[] } & Omit<Api.JobPage, "items"> & Partial<Pick<Api.ImagePage, "total">>;

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
