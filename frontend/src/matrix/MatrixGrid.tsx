// The matrix filling in live: the first axis across, the second down, a third as blocks.
// A cell shows its image as soon as its job ends; click one for its image and settings,
// and "use these settings" puts them in the composer.
import { useEffect, useState } from "react";
import { api } from "../api/client";
import type { GalleryImage, Job, Matrix, MatrixCell } from "../api/types";
import type { Settings } from "../compose/draft";
import { FIELD_LABELS } from "./matrixPlan";
import type { MatrixState } from "./useMatrix";

export interface MatrixGridProps {
  state: MatrixState;
  onUseSettings: (settings: Settings) => void;
  onOpenImage: (image: GalleryImage) => void;
}

const key = (coords: number[]) => coords.join("-");

function label(value: string | number): string {
  const text = String(value);
  return text.length > 48 ? text.slice(0, 47) + "…" : text;
}

function CellView({ cell, image, selected, onSelect, name }: {
  cell: MatrixCell | undefined;
  image: GalleryImage | undefined;
  selected: boolean;
  onSelect: () => void;
  name: string;
}) {
  const status = cell?.status ?? "missing";
  return (
    <button
      type="button"
      data-cell={cell ? key(cell.coords) : undefined}
      data-status={status}
      aria-label={`${name}: ${status}`}
      aria-pressed={selected}
      onClick={onSelect}
      className={
        "relative flex aspect-square min-w-0 items-center justify-center overflow-hidden rounded-md border bg-neutral-900 text-xs text-neutral-500 " +
        (selected ? "border-amber-400" : "border-neutral-800 hover:border-neutral-600")
      }
    >
      {image ? (
        <img src={image.thumb_url} alt={name} className="h-full w-full object-contain" />
      ) : (
        <span className={status === "running" ? "animate-pulse text-amber-300" : status === "failed" ? "text-red-400" : ""}>
          {status}
        </span>
      )}
    </button>
  );
}

function CellDetails({ matrix, cell, image, warnings, onUseSettings, onOpenImage }: {
  matrix: Matrix;
  cell: MatrixCell;
  image: GalleryImage | undefined;
  warnings: string[];
  onUseSettings: (s: Settings) => void;
  onOpenImage: (image: GalleryImage) => void;
}) {
  const [job, setJob] = useState<Job | null>(null);
  useEffect(() => {
    setJob(null);
    if (cell.job_id) api.job(cell.job_id).then(setJob, () => setJob(null));
  }, [cell.job_id, cell.status]);
  const r = job?.request;
  const rows: [string, string | number | null | undefined][] = r
    ? [
        ["Prompt", r.prompt],
        ["Provider", r.provider],
        ["Model", r.model],
        ["Style", r.style],
        ["Aspect ratio", r.aspect_ratio],
        ["Seed", r.seed],
        ["Steps", r.steps],
        ["Quality", r.quality],
      ]
    : [];
  return (
    <div aria-label="Matrix cell" className="grid gap-3 rounded-md border border-neutral-800 p-3 sm:grid-cols-[12rem_minmax(0,1fr)]">
      {image ? (
        <button type="button" onClick={() => onOpenImage(image)} aria-label="Open the cell's image">
          <img src={image.thumb_512_url} alt="the cell's image" className="w-full rounded" />
        </button>
      ) : (
        <div className="flex aspect-square items-center justify-center rounded bg-neutral-900 text-xs text-neutral-500">{cell.status}</div>
      )}
      <div className="flex min-w-0 flex-col gap-2 text-sm">
        <p className="text-xs text-neutral-400">
          {matrix.axes.map((a, i) => `${FIELD_LABELS[a.field]}: ${label(a.values[cell.coords[i]!]!)}`).join(" · ")}
        </p>
        {cell.reason && <p className="text-xs text-red-400">{cell.reason}</p>}
        {warnings.map((w) => (
          <p key={w} className="text-xs text-amber-300">
            {w}
          </p>
        ))}
        {rows.length > 0 && (
          <dl className="grid grid-cols-[auto_minmax(0,1fr)] gap-x-3 gap-y-0.5 text-xs">
            {rows
              .filter(([, v]) => v !== null && v !== undefined)
              .map(([k, v]) => (
                <div key={k} className="contents">
                  <dt className="text-neutral-500">{k}</dt>
                  <dd className="truncate text-neutral-200">{String(v)}</dd>
                </div>
              ))}
          </dl>
        )}
        {r && (
          <button
            type="button"
            className="self-start rounded-md border border-neutral-700 px-3 py-1 text-xs text-neutral-200 hover:border-amber-400/60"
            onClick={() =>
              onUseSettings({
                prompt: r.prompt,
                negative_prompt: r.negative_prompt,
                provider: r.provider,
                model: r.model,
                style: r.style,
                aspect_ratio: r.aspect_ratio,
                seed: r.seed,
                steps: r.steps,
                quality: r.quality,
              })
            }
          >
            Use these settings
          </button>
        )}
      </div>
    </div>
  );
}

export function MatrixGrid({ state, onUseSettings, onOpenImage }: MatrixGridProps) {
  const { matrix, images, warnings } = state;
  const [selected, setSelected] = useState<string | null>(null);
  if (!matrix) return null;
  const cells = new Map(matrix.cells.map((c) => [key(c.coords), c]));
  const [cols, rows, blocks] = matrix.axes;
  const done = matrix.cells.filter((c) => !["queued", "running"].includes(c.status)).length;
  const imageOf = (cell: MatrixCell | undefined) => (cell?.image_ids[0] ? images[cell.image_ids[0]] : undefined);
  const chosen = selected ? cells.get(selected) : undefined;
  const nameOf = (coords: number[]) =>
    matrix.axes.map((a, i) => `${a.field}=${label(a.values[coords[i]!]!)}`).join(", ");

  return (
    <section aria-label="Matrix grid" data-matrix={matrix.id} data-status={matrix.status} className="flex flex-col gap-3 rounded-lg border border-neutral-800 p-3">
      <header className="flex flex-wrap items-center justify-between gap-2">
        <h2 className="text-sm font-semibold text-neutral-100">
          Matrix · {done} of {matrix.cells.length} done
          {matrix.status === "rendering" && " · drawing the grid…"}
        </h2>
        <div className="flex items-center gap-2">
          {matrix.grid_image && (
            <button
              type="button"
              className="rounded-md border border-neutral-700 px-2.5 py-1 text-xs text-amber-200"
              onClick={() => onOpenImage(matrix.grid_image!)}
            >
              Grid image
            </button>
          )}
          <button type="button" aria-label="Close the matrix" className="px-2 text-neutral-500 hover:text-neutral-200" onClick={state.close}>
            ×
          </button>
        </div>
      </header>
      {warnings.length > 0 && (
        <details className="text-xs text-amber-300">
          <summary>{warnings.length} {warnings.length === 1 ? "cell was" : "cells were"} adjusted or skipped</summary>
          <ul className="mt-1 list-disc pl-5">
            {warnings.map((w, i) => (
              <li key={i}>{w.message}</li>
            ))}
          </ul>
        </details>
      )}
      <div className="overflow-x-auto">
        {(blocks ? blocks.values : [null]).map((blockValue, b) => (
          <div key={b} className="mb-3">
            {blocks && (
              <h3 className="mb-1 text-xs font-medium text-neutral-300">
                {FIELD_LABELS[blocks.field]}: {label(blockValue!)}
              </h3>
            )}
            <div
              role="grid"
              className="grid gap-1.5"
              style={{ gridTemplateColumns: `${rows ? "minmax(4rem,8rem) " : ""}repeat(${cols!.values.length}, minmax(5rem, 10rem))` }}
            >
              {rows && <div />}
              {cols!.values.map((v, c) => (
                <div key={c} role="columnheader" className="truncate text-center text-xs text-neutral-400" title={String(v)}>
                  {label(v)}
                </div>
              ))}
              {(rows ? rows.values : [null]).map((rowValue, r) => (
                <div key={r} role="row" className="contents">
                  {rows && (
                    <div role="rowheader" className="flex items-center justify-end truncate pr-1 text-xs text-neutral-400" title={String(rowValue)}>
                      {label(rowValue!)}
                    </div>
                  )}
                  {cols!.values.map((_, c) => {
                    const coords = [c, ...(rows ? [r] : []), ...(blocks ? [b] : [])];
                    const cell = cells.get(key(coords));
                    return (
                      <CellView
                        key={c}
                        cell={cell}
                        image={imageOf(cell)}
                        name={nameOf(coords)}
                        selected={selected === key(coords)}
                        onSelect={() => setSelected(selected === key(coords) ? null : key(coords))}
                      />
                    );
                  })}
                </div>
              ))}
            </div>
          </div>
        ))}
      </div>
      {chosen && (
        <CellDetails
          matrix={matrix}
          cell={chosen}
          image={imageOf(chosen)}
          warnings={warnings.filter((w) => key(w.cell) === key(chosen.coords)).map((w) => w.message)}
          onUseSettings={onUseSettings}
          onOpenImage={onOpenImage}
        />
      )}
    </section>
  );
}
