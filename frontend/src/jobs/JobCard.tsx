import { useEffect, useState } from "react";
import type { GalleryImage } from "../api/types";
import { SafeImage } from "../common/SafeImage";
import { errorInPlainWords, FINISHED, type JobView } from "./jobState";

function elapsed(from: number | null, to: number | null, now: number): string {
  if (!from) return "";
  const s = Math.max(0, Math.round(((to ?? now) - from) / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${s % 60}s`;
}

function useNow(active: boolean): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, [active]);
  return now;
}

const STATUS_LABEL: Record<string, string> = {
  queued: "Queued",
  running: "Running",
  succeeded: "Done",
  failed: "Failed",
  cancelled: "Cancelled",
  interrupted: "Interrupted",
};

const STATUS_COLOUR: Record<string, string> = {
  queued: "bg-neutral-700 text-neutral-200",
  running: "bg-sky-900 text-sky-200",
  succeeded: "bg-emerald-900 text-emerald-200",
  failed: "bg-red-900 text-red-200",
  cancelled: "bg-neutral-800 text-neutral-400",
  interrupted: "bg-amber-900 text-amber-200",
};

export interface JobCardProps {
  job: JobView;
  onCancel: (id: string) => void;
  onRetry: (id: string) => void;
  onDismiss?: (id: string) => void;
  onOpenImage?: (image: GalleryImage) => void;
  /** False where the page shows the images itself (the tools' before/after). */
  showImages?: boolean;
}

export function JobCard({ job, onCancel, onRetry, onDismiss, onOpenImage, showImages = true }: JobCardProps) {
  const finished = FINISHED.has(job.status);
  const now = useNow(!finished);
  const { width, height } = job.request;
  const slots = Array.from({ length: job.request.n }, (_, i) => i);
  const determinate = job.progress !== null && job.status === "running";
  const percent = Math.round((job.progress ?? 0) * 100);
  return (
    <article
      aria-label={`Job: ${job.request.prompt}`}
      data-job-id={job.id}
      data-status={job.status}
      className="rounded-lg border border-neutral-800 bg-neutral-900/60 p-3"
    >
      <header className="flex items-start gap-2">
        <span className={"shrink-0 rounded px-1.5 py-0.5 text-[11px] font-medium " + STATUS_COLOUR[job.status]} data-testid="job-status">
          {STATUS_LABEL[job.status]}
          {job.status === "queued" && job.position ? ` · #${job.position} in queue` : ""}
        </span>
        <p className="line-clamp-2 min-w-0 flex-1 text-sm text-neutral-200" title={job.request.prompt}>
          {job.request.prompt}
        </p>
        <div className="flex shrink-0 gap-1">
          {!finished && (
            <button
              type="button"
              onClick={() => onCancel(job.id)}
              disabled={job.cancelRequested}
              className="rounded border border-neutral-700 px-2 py-0.5 text-xs text-neutral-300 hover:border-red-700 hover:text-red-300 disabled:opacity-50"
            >
              {job.cancelRequested ? "Cancelling…" : "Cancel"}
            </button>
          )}
          {finished && (job.status === "failed" || job.status === "cancelled" || job.status === "interrupted") && (
            <button
              type="button"
              onClick={() => onRetry(job.id)}
              className="rounded border border-neutral-700 px-2 py-0.5 text-xs text-neutral-200 hover:border-amber-500"
            >
              Retry
            </button>
          )}
          {finished && onDismiss && (
            <button
              type="button"
              aria-label="Dismiss"
              onClick={() => onDismiss(job.id)}
              className="rounded px-1.5 text-neutral-500 hover:text-neutral-200"
            >
              ×
            </button>
          )}
        </div>
      </header>
      <p className="mt-1 text-[11px] text-neutral-500">
        {job.request.provider} · {job.request.model} · {job.request.aspect_ratio} · {job.request.n} image
        {job.request.n > 1 ? "s" : ""}
        {job.request.seed !== null ? ` · seed ${job.request.seed}` : ""}
        {job.client ? <span className="ml-1 rounded bg-neutral-800 px-1 text-neutral-300" data-testid="job-client">via {job.client}</span> : null}
      </p>

      {!finished && (
        <div className="mt-2" aria-live="polite">
          <div
            role="progressbar"
            aria-label="Progress"
            aria-valuemin={0}
            aria-valuemax={100}
            aria-valuenow={determinate ? percent : undefined}
            aria-valuetext={determinate ? `${percent}%` : job.message}
            className="relative h-1.5 overflow-hidden rounded-full bg-neutral-800"
          >
            {determinate ? (
              <div className="h-full rounded-full bg-amber-400 transition-[width] duration-300" style={{ width: `${percent}%` }} />
            ) : (
              job.status === "running" && <div className="indeterminate absolute inset-y-0 w-1/3 rounded-full bg-amber-400/70" />
            )}
          </div>
          <p className="mt-1 flex justify-between text-[11px] text-neutral-400">
            <span data-testid="job-message">
              {job.message}
              {job.step !== null && job.totalSteps ? ` (step ${job.step}/${job.totalSteps})` : ""}
            </span>
            <span>
              {determinate ? `${percent}% · ` : ""}
              {elapsed(job.startedAt, null, now)}
            </span>
          </p>
        </div>
      )}

      {job.error && (
        <p role="alert" className="mt-2 rounded border border-red-900/70 bg-red-950/40 px-2 py-1.5 text-xs text-red-300">
          {errorInPlainWords(job.error)}
        </p>
      )}
      {job.warnings.length > 0 && (
        <ul className="mt-2 text-[11px] text-amber-300">
          {job.warnings.map((w) => (
            <li key={w.field}>⚠ {w.message}</li>
          ))}
        </ul>
      )}

      {showImages && (job.status !== "cancelled" || Object.keys(job.images).length > 0) && job.status !== "failed" && (
        <div className="mt-2 grid grid-cols-2 gap-2 sm:grid-cols-3">
          {slots.map((i) => {
            const image = job.images[i];
            const preview = job.previews[i];
            return (
              <div
                key={i}
                className="relative overflow-hidden rounded-md bg-neutral-800/60"
                style={{ aspectRatio: `${width} / ${height}` }}
              >
                {image ? (
                  <button
                    type="button"
                    className="block h-full w-full"
                    onClick={() => onOpenImage?.(image)}
                    aria-label={`Open image ${i + 1}`}
                  >
                    <SafeImage
                      src={image.thumb_url || image.url}
                      alt={image.prompt}
                      width={width}
                      height={height}
                      className="h-full w-full object-cover"
                      data-testid="job-image"
                    />
                  </button>
                ) : preview ? (
                  <img src={preview.url} alt={`Preview of image ${i + 1}`} className="h-full w-full object-cover opacity-80 blur-[1px]" data-testid="job-preview" />
                ) : (
                  <div className="shimmer h-full w-full" aria-hidden />
                )}
              </div>
            );
          })}
        </div>
      )}
      {finished && job.finishedAt && job.startedAt && (
        <p className="mt-1 text-right text-[11px] text-neutral-500">took {elapsed(job.startedAt, job.finishedAt, now)}</p>
      )}
    </article>
  );
}
