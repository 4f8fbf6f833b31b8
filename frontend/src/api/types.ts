// Wire types of the Atelier REST API and Socket.IO events (see docs/api.md, docs/events.md).
// The REST types are generated from the server's own declarations (schema.generated.ts,
// by `python -m backend.web.api_types`); this file gives them the names the SPA uses.
import type * as Api from "./schema.generated";
import type { JobError } from "./schema.generated";
import type { ToolKind } from "../tools/toolKinds";

export type {
  ImageDetail,
  ImagePage,
  Job,
  JobPage,
  JobRequest,
  JobSubmission,
  JobSubmitted,
  Matrix,
  MatrixAxis,
  MatrixCell,
  MatrixEnvelope,
  MatrixEstimate,
  MatrixSubmitted,
  MatrixWarning,
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
/** "generate" or a registered studio tool (toolKinds.ts is generated from the registry). */
export type JobKind = "generate" | ToolKind;
/** Generation parameters read from a dropped image (POST /api/metadata/parse). */
export type ParsedParameters = Api.Parameters;
/** A page of a listing: ImagePage or JobPage. */
export type Page<T> = { items: T[] } & Omit<Api.JobPage, "items"> & Partial<Pick<Api.ImagePage, "total">>;

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
