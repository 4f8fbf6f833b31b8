// What the server offers (providers, models, styles), cached by TanStack Query.
import { useQuery } from "@tanstack/react-query";
import { api } from "../api/client";
import type { ModelInfo, ProviderInfo } from "../api/types";

export function useProviders() {
  return useQuery({ queryKey: ["providers"], queryFn: api.providers, staleTime: 60_000 });
}

export function useStyles() {
  return useQuery({ queryKey: ["styles"], queryFn: api.styles, staleTime: Infinity });
}

export function findModel(providers: ProviderInfo[] | undefined, provider: string, model: string): ModelInfo | undefined {
  return providers?.find((p) => p.id === provider)?.models.find((m) => m.id === model);
}

export function formatPrice(usd: number | null): string {
  if (usd === null) return "price unknown";
  if (usd === 0) return "free";
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/** The offline renderer draws a sketch from the prompt's words: it needs nothing and is no AI model. */
export const SKETCH_LABEL = "Sketch renderer (offline, no AI model)";

export function providerLabel(p: Pick<ProviderInfo, "id" | "label">): string {
  return p.id === "offline" ? SKETCH_LABEL : p.label;
}

/** True when nothing but the offline sketch renderer can make an image (a first run). */
export function onlySketch(providers: ProviderInfo[] | undefined): boolean {
  return !!providers && providers.length > 0 && providers.every((p) => p.id === "offline" || !p.available);
}
