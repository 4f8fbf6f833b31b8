// The matrix builder, beside the composer: the composer's prompt and settings are the
// base; up to three axes vary fields of it; the cell count and estimate show before it runs.
import { useState } from "react";
import { ApiError } from "../api/client";
import type { JobSubmission, ProviderInfo, Style } from "../api/types";
import { formatPrice } from "../providers/catalog";
import {
  AXIS_FIELDS,
  axisValues,
  cellCount,
  choices,
  estimate,
  FIELD_LABELS,
  isTyped,
  matrixBody,
  MAX_AXES,
  newAxis,
  type AxisDraft,
  type AxisField,
  type ClientEstimate,
} from "./matrixPlan";

export interface MatrixBuilderProps {
  /** the composer's request, or null while it cannot be sent (no prompt, no model) */
  base: JobSubmission | null;
  providers: ProviderInfo[];
  styles: Style[];
  onStart: (body: ReturnType<typeof matrixBody>) => Promise<void>;
}

function priceText(price: ClientEstimate): string {
  const parts = [];
  if (price.costUsd > 0) parts.push(`about ${formatPrice(price.costUsd)}`);
  if (price.unpriced > 0) parts.push(`${price.unpriced} without a price`);
  if (price.skipped > 0) parts.push(`${price.skipped} skipped`);
  return parts.join(", ") || "free";
}

const input =
  "w-full rounded-md border border-neutral-800 bg-neutral-900 px-2 py-1.5 text-sm text-neutral-100 placeholder:text-neutral-600 focus:border-amber-400/60 focus:outline-none";

export function MatrixBuilder({ base, providers, styles, onStart }: MatrixBuilderProps) {
  const [axes, setAxes] = useState<AxisDraft[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const update = (i: number, axis: AxisDraft) => setAxes((all) => all.map((a, j) => (j === i ? axis : a)));
  const unused = (i: number) => AXIS_FIELDS.filter((f) => !axes.some((a, j) => j !== i && a.field === f));
  const count = cellCount(axes);
  const price = base ? estimate(axes, base, providers) : null;
  const problems = axes.map((a) => axisValues(a).error).filter(Boolean);

  const run = async () => {
    if (!base) return;
    setBusy(true);
    setError(null);
    try {
      await onStart(matrixBody(base, axes));
    } catch (e) {
      const err = e instanceof ApiError ? e : new ApiError(0, "unknown", String(e));
      setError(err.field ? `${err.message} (${err.field})` : err.message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-label="Matrix" className="mt-4 flex flex-col gap-3 rounded-lg border border-neutral-800 bg-neutral-900/40 p-3">
      <div>
        <h2 className="text-sm font-semibold text-neutral-100">Matrix</h2>
        <p className="text-xs text-neutral-500">Compare settings side by side: the prompt and settings above are the base.</p>
      </div>
      {axes.map((axis, i) => (
        <fieldset key={i} aria-label={`Axis ${i + 1}`} className="flex flex-col gap-2 rounded-md border border-neutral-800 p-2">
          <div className="flex items-center gap-2">
            <span className="text-xs text-neutral-500">{i === 0 ? "Columns" : i === 1 ? "Rows" : "Blocks"}</span>
            <select
              aria-label={`Axis ${i + 1} field`}
              className={input + " flex-1"}
              value={axis.field}
              onChange={(e) => update(i, newAxis(e.target.value as AxisField))}
            >
              {unused(i).map((f) => (
                <option key={f} value={f}>
                  {FIELD_LABELS[f]}
                </option>
              ))}
            </select>
            <button
              type="button"
              aria-label={`Remove axis ${i + 1}`}
              className="rounded px-2 text-neutral-500 hover:text-neutral-200"
              onClick={() => setAxes((all) => all.filter((_, j) => j !== i))}
            >
              ×
            </button>
          </div>
          {isTyped(axis.field) ? (
            <>
              {axis.field === "prompt" ? (
                <textarea
                  aria-label={`Axis ${i + 1} values`}
                  className={input + " min-h-16"}
                  placeholder={axis.replace ? "one replacement per line" : "one prompt per line"}
                  value={axis.text}
                  onChange={(e) => update(i, { ...axis, text: e.target.value })}
                />
              ) : (
                <input
                  aria-label={`Axis ${i + 1} values`}
                  className={input}
                  inputMode="numeric"
                  placeholder={axis.field === "seed" ? "e.g. 1, 2, 3" : "e.g. 10, 20, 30"}
                  value={axis.text}
                  onChange={(e) => update(i, { ...axis, text: e.target.value })}
                />
              )}
              {axis.field === "prompt" && (
                <input
                  aria-label="Replace in the base prompt"
                  className={input}
                  placeholder="words of the prompt to replace (optional)"
                  value={axis.replace}
                  onChange={(e) => update(i, { ...axis, replace: e.target.value })}
                />
              )}
              {axisValues(axis).error && <p className="text-xs text-red-400">{axisValues(axis).error}</p>}
            </>
          ) : (
            <div role="group" aria-label={`Axis ${i + 1} values`} className="flex flex-wrap gap-1.5">
              {choices(axis.field, providers, styles).map((c) => {
                const on = axis.chosen.includes(c.value);
                return (
                  <button
                    key={c.value}
                    type="button"
                    aria-pressed={on}
                    className={
                      "rounded-full border px-2.5 py-0.5 text-xs " +
                      (on ? "border-amber-400/70 bg-amber-400/15 text-amber-200" : "border-neutral-800 text-neutral-400 hover:text-neutral-200")
                    }
                    onClick={() =>
                      update(i, { ...axis, chosen: on ? axis.chosen.filter((v) => v !== c.value) : [...axis.chosen, c.value] })
                    }
                  >
                    {c.label}
                  </button>
                );
              })}
            </div>
          )}
        </fieldset>
      ))}
      {axes.length < MAX_AXES && (
        <button
          type="button"
          className="self-start rounded-md border border-dashed border-neutral-700 px-3 py-1 text-xs text-neutral-300 hover:border-neutral-500"
          onClick={() => setAxes((all) => [...all, newAxis(unused(all.length)[0] ?? "seed")])}
        >
          Add an axis
        </button>
      )}
      {axes.length > 0 && (
        <div className="flex items-center justify-between gap-3">
          <p data-testid="matrix-summary" className="text-xs text-neutral-400">
            {count} {count === 1 ? "cell" : "cells"}
            {price && price.cells > 0 && ` · ${priceText(price)}`}
          </p>
          <button
            type="button"
            className="rounded-md bg-amber-400 px-3 py-1.5 text-sm font-semibold text-neutral-950 hover:bg-amber-300 disabled:opacity-60"
            disabled={!base || busy || count === 0 || problems.length > 0}
            onClick={run}
          >
            Run matrix
          </button>
        </div>
      )}
      {!base && axes.length > 0 && <p className="text-xs text-neutral-500">Write a prompt above first.</p>}
      {error && (
        <p role="alert" className="text-xs text-red-400">
          {error}
        </p>
      )}
    </section>
  );
}
