// The matrix builder's draft: up to three axes over job fields, their values, the cell
// count and an estimate from the catalogue's prices. The server plans and prices the
// matrix again (POST /api/matrix): this is what the person sees before sending it.
import type { JobSubmission, MatrixAxis, ProviderInfo, Style } from "../api/types";

export type AxisField = MatrixAxis["field"];
export const AXIS_FIELDS: AxisField[] = ["provider", "model", "style", "aspect_ratio", "seed", "steps", "quality", "prompt"];
export const MAX_AXES = 3;
export const FIELD_LABELS: Record<AxisField, string> = {
  provider: "Provider",
  model: "Model",
  style: "Style",
  aspect_ratio: "Aspect ratio",
  seed: "Seed",
  steps: "Steps",
  quality: "Quality",
  prompt: "Prompt",
};

export interface AxisDraft {
  field: AxisField;
  /** chosen values of a field with known choices (provider, model, style, ratio, quality) */
  chosen: string[];
  /** typed values: seeds and steps separated by commas, prompts one per line */
  text: string;
  /** prompt only: the words of the base prompt each value replaces ("" = whole prompts) */
  replace: string;
}

export interface Choice {
  value: string;
  label: string;
}

export function isTyped(field: AxisField): boolean {
  return field === "seed" || field === "steps" || field === "prompt";
}

export function newAxis(field: AxisField): AxisDraft {
  return { field, chosen: [], text: "", replace: "" };
}

/** The values a field with known choices can take, from the catalogue. */
export function choices(field: AxisField, providers: ProviderInfo[], styles: Style[]): Choice[] {
  const available = providers.filter((p) => p.available);
  const unique = (values: string[]) => [...new Set(values)].map((v) => ({ value: v, label: v }));
  switch (field) {
    case "provider":
      return available.map((p) => ({ value: p.id, label: p.label }));
    case "model":
      return available.flatMap((p) => p.models.map((m) => ({ value: m.id, label: `${p.id} · ${m.label}` })));
    case "style":
      return styles.map((s) => ({ value: s.name, label: s.label || s.name }));
    case "aspect_ratio":
      return unique(available.flatMap((p) => p.models.flatMap((m) => Object.keys(m.aspect_ratios))));
    case "quality":
      return unique(available.flatMap((p) => p.models.flatMap((m) => m.qualities)));
    default:
      return [];
  }
}

/** An axis's values, or the reason they cannot be sent. */
export function axisValues(axis: AxisDraft): { values: (string | number)[]; error?: string } {
  if (!isTyped(axis.field)) return { values: axis.chosen };
  if (axis.field === "prompt") {
    const prompts = axis.text.split("\n").map((l) => l.trim()).filter(Boolean);
    return { values: prompts };
  }
  const parts = axis.text.split(/[\s,]+/).filter(Boolean);
  const numbers = parts.map(Number);
  const bad = parts.find((p) => !/^\d+$/.test(p));
  if (bad !== undefined) return { values: [], error: `“${bad}” is not a whole number` };
  if (new Set(numbers).size !== numbers.length) return { values: [], error: "a value appears twice" };
  return { values: numbers };
}

export function cellCount(axes: AxisDraft[]): number {
  return axes.length === 0 ? 0 : axes.reduce((n, a) => n * axisValues(a).values.length, 1);
}

export interface ClientEstimate {
  cells: number;
  costUsd: number;
  unpriced: number;
  skipped: number;
}

/** The price of every cell as the catalogue tells it (the server's estimate is the one that counts). */
export function estimate(axes: AxisDraft[], base: JobSubmission, providers: ProviderInfo[]): ClientEstimate {
  const lists = axes.map((a) => ({ field: a.field, values: axisValues(a).values }));
  const out: ClientEstimate = { cells: 0, costUsd: 0, unpriced: 0, skipped: 0 };
  const walk = (i: number, cell: Record<string, string | number>) => {
    if (i === lists.length) {
      out.cells += 1;
      const provider = providers.find((p) => p.id === (cell.provider ?? base.provider));
      const varied = lists.some((l) => l.field === "provider");
      const modelId = (cell.model as string | undefined) ?? (varied ? provider?.default_model : base.model);
      const model = provider?.models.find((m) => m.id === modelId);
      if (!provider || !provider.available || !model) out.skipped += 1;
      else if (model.price_per_image === null) out.unpriced += 1;
      else out.costUsd += model.price_per_image * (base.n ?? 1);
      return;
    }
    for (const value of lists[i]!.values) walk(i + 1, { ...cell, [lists[i]!.field]: value });
  };
  if (lists.length > 0) walk(0, {});
  return out;
}

/** The POST /api/matrix body. */
export function matrixBody(base: JobSubmission, axes: AxisDraft[]): { base: JobSubmission; axes: MatrixAxis[] } {
  return {
    base,
    axes: axes.map((a) => {
      const axis: MatrixAxis = { field: a.field, values: axisValues(a).values };
      if (a.field === "prompt" && a.replace.trim()) axis.replace = a.replace.trim();
      return axis;
    }),
  };
}
