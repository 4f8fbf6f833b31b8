import type { Job, ModelInfo, ProviderInfo, Style } from "../api/types";

export const fullModel: ModelInfo = {
  id: "full",
  label: "Full model",
  aspect_ratios: { "1:1": { width: 1024, height: 1024 }, "16:9": { width: 1344, height: 768 } },
  default_aspect_ratio: "1:1",
  max_images: 4,
  supports_seed: true,
  supports_negative_prompt: true,
  steps: { min: 1, max: 50, default: 20 },
  qualities: [],
  default_quality: null,
  max_reference_images: 0,
  step_progress: true,
  cancel: true,
  price_per_image: 0.04,
};

export const bareModel: ModelInfo = {
  ...fullModel,
  id: "bare",
  label: "Bare model",
  aspect_ratios: { "1:1": { width: 1024, height: 1024 } },
  supports_seed: false,
  supports_negative_prompt: false,
  steps: null,
  qualities: ["low", "medium", "high"],
  default_quality: "medium",
  price_per_image: null,
  max_images: 10,
};

export const providers: ProviderInfo[] = [
  { id: "alpha", label: "Alpha", available: true, reason: null, default_model: "full", models: [fullModel, bareModel] },
  { id: "keyless", label: "Keyless", available: false, reason: "set KEYLESS_API_KEY", default_model: "full", models: [fullModel] },
];

export const styles: Style[] = [
  { name: "none", label: "None", description: "Your prompt as written", prompt: "{prompt}", negative_prompt: "" },
  { name: "photo", label: "Photo", description: "Photographic look", prompt: "photo of {prompt}", negative_prompt: "" },
];

export function job(overrides: Partial<Job> = {}): Job {
  return {
    id: "j1",
    created_at: "2026-11-21T10:00:00.000Z",
    request: {
      prompt: "a lake",
      styled_prompt: "a lake",
      negative_prompt: "",
      effective_negative_prompt: "",
      provider: "alpha",
      model: "full",
      style: "none",
      aspect_ratio: "1:1",
      width: 64,
      height: 64,
      n: 2,
      seed: 7,
      steps: 20,
      quality: null,
    },
    status: "queued",
    provider: "alpha",
    model: "full",
    kind: "generate",
    tool: null,
    session: "s1",
    started_at: null,
    finished_at: null,
    progress: 0,
    message: "waiting in the queue",
    images: [],
    warnings: [],
    error: null,
    cost_usd: null,
    cost_actual_usd: null,
    served_by: null,
    retry_of: null,
    cancel_requested: false,
    client: null,
    owner: null,
    provider_notes: [],
    position: 1,
    priority: "normal",
    last_seq: 1,
    ...overrides,
  };
}
