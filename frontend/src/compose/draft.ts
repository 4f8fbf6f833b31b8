// The composer's draft: what the person chose, checked against the chosen model's
// capabilities before anything is sent. Only what the model can do goes in the request.
import type { JobSubmission, ModelInfo, ProviderInfo } from "../api/types";

export const MAX_PROMPT_CHARS = 4000;
export const MAX_SEED = 2 ** 32 - 1;

export interface Draft {
  prompt: string;
  negativePrompt: string;
  provider: string;
  model: string;
  style: string;
  aspectRatio: string;
  n: number;
  seed: string; // the text in the seed box; empty means random
  seedLocked: boolean;
  steps: number | null;
  quality: string | null;
  /** The prompt before an enhancement the person accepted; sent as original_prompt. */
  originalPrompt?: string | null;
}

export const EMPTY_DRAFT: Draft = {
  prompt: "",
  negativePrompt: "",
  provider: "",
  model: "",
  style: "none",
  aspectRatio: "",
  n: 1,
  seed: "",
  seedLocked: false,
  steps: null,
  quality: null,
};

export type DraftErrors = Partial<Record<"prompt" | "negative_prompt" | "n" | "seed" | "steps" | "provider", string>>;

/** The first available provider and its default model, when the draft names none that is. */
export function withDefaults(draft: Draft, providers: ProviderInfo[]): Draft {
  let provider = providers.find((p) => p.id === draft.provider && p.available);
  if (!provider) provider = providers.find((p) => p.available) ?? providers[0];
  if (!provider) return draft;
  const model = provider.models.find((m) => m.id === draft.model) ?? provider.models.find((m) => m.id === provider.default_model) ?? provider.models[0];
  if (!model) return { ...draft, provider: provider.id };
  return fitToModel({ ...draft, provider: provider.id, model: model.id }, model);
}

/** Bring ratio, n, steps and quality within what ``model`` offers. */
export function fitToModel(draft: Draft, model: ModelInfo): Draft {
  const ratios = Object.keys(model.aspect_ratios);
  const aspectRatio = ratios.includes(draft.aspectRatio) ? draft.aspectRatio : model.default_aspect_ratio;
  const n = Math.min(Math.max(1, draft.n), model.max_images);
  let steps = draft.steps;
  if (!model.steps) steps = null;
  else if (steps === null) steps = model.steps.default;
  else steps = Math.min(Math.max(steps, model.steps.min), model.steps.max);
  let quality = draft.quality;
  if (model.qualities.length === 0) quality = null;
  else if (quality === null || !model.qualities.includes(quality)) quality = model.default_quality ?? model.qualities[0]!;
  return { ...draft, aspectRatio, n, steps, quality };
}

export function validate(draft: Draft, model: ModelInfo | undefined, available = true): DraftErrors {
  const errors: DraftErrors = {};
  if (!draft.prompt.trim()) errors.prompt = "Write a prompt first.";
  else if (draft.prompt.length > MAX_PROMPT_CHARS)
    errors.prompt = `The prompt is ${draft.prompt.length} characters; the limit is ${MAX_PROMPT_CHARS}.`;
  if (draft.negativePrompt.length > MAX_PROMPT_CHARS)
    errors.negative_prompt = `The negative prompt is over ${MAX_PROMPT_CHARS} characters.`;
  const maxImages = model?.max_images ?? 10;
  if (!Number.isInteger(draft.n) || draft.n < 1 || draft.n > maxImages)
    errors.n = `Choose between 1 and ${maxImages} images.`;
  if (draft.seedLocked && draft.seed.trim() !== "" && model?.supports_seed !== false) {
    const seed = Number(draft.seed);
    if (!/^\d+$/.test(draft.seed.trim()) || seed > MAX_SEED) errors.seed = `A seed is a whole number from 0 to ${MAX_SEED}.`;
  }
  if (model?.steps && draft.steps !== null && (draft.steps < model.steps.min || draft.steps > model.steps.max))
    errors.steps = `Steps must be between ${model.steps.min} and ${model.steps.max}.`;
  if (!model) errors.provider = "Choose a provider and model.";
  else if (!available) errors.provider = "This provider is not available.";
  return errors;
}

export function toSubmission(draft: Draft, model: ModelInfo, session: string): JobSubmission {
  const body: JobSubmission = {
    prompt: draft.prompt,
    provider: draft.provider,
    model: draft.model,
    style: draft.style || "none",
    aspect_ratio: draft.aspectRatio,
    n: draft.n,
    session,
  };
  if (model.supports_negative_prompt && draft.negativePrompt.trim()) body.negative_prompt = draft.negativePrompt;
  if (model.supports_seed && draft.seedLocked && draft.seed.trim() !== "") body.seed = Number(draft.seed);
  if (model.steps && draft.steps !== null) body.steps = draft.steps;
  if (model.qualities.length > 0 && draft.quality) body.quality = draft.quality;
  if (draft.originalPrompt && draft.originalPrompt !== draft.prompt) body.original_prompt = draft.originalPrompt;
  return body;
}

export function estimatedCost(model: ModelInfo | undefined, n: number): number | null {
  if (!model || model.price_per_image === null) return null;
  return model.price_per_image * n;
}

/** Settings of an image or job, as a draft (for "use these settings" and "variation"). */
export interface Settings {
  prompt?: string | null;
  negative_prompt?: string | null;
  provider?: string | null;
  model?: string | null;
  style?: string | null;
  aspect_ratio?: string | null;
  seed?: number | null;
  steps?: number | null;
  quality?: string | null;
}

export function draftFromSettings(current: Draft, s: Settings, newSeed = false): Draft {
  const seed = !newSeed && s.seed !== null && s.seed !== undefined ? String(s.seed) : "";
  return {
    ...current,
    prompt: s.prompt ?? current.prompt,
    negativePrompt: s.negative_prompt ?? "",
    provider: s.provider ?? current.provider,
    model: s.model ?? current.model,
    style: s.style ?? "none",
    aspectRatio: s.aspect_ratio ?? current.aspectRatio,
    seed,
    seedLocked: seed !== "",
    steps: s.steps ?? current.steps,
    quality: s.quality ?? current.quality,
    originalPrompt: null,
  };
}
