// The prompt history, wildcard previews and enhancement
// (GET/DELETE /api/prompts, POST /api/prompts/expand, POST /api/prompts/enhance).
import { request } from "../api/client";
import type { PromptEnhancement, PromptEntry, PromptExpansions, PromptPage } from "../api/schema.generated";

export type { PromptEnhancement, PromptEntry };

export const promptsApi = {
  list: (q: string, limit = 50, cursor: string | null = null) => {
    const params = new URLSearchParams({ limit: String(limit) });
    if (q.trim()) params.set("q", q.trim());
    if (cursor) params.set("cursor", cursor);
    return request<PromptPage>("GET", `/api/prompts?${params}`);
  },
  remove: (id: number) => request<null>("DELETE", `/api/prompts/${id}`),
  expand: (prompt: string, seed: number | null, n: number, signal?: AbortSignal) =>
    request<PromptExpansions>("POST", "/api/prompts/expand", seed === null ? { prompt, n } : { prompt, seed, n }, {
      signal,
    }).then((r) => r.prompts),
  enhance: (prompt: string, style: string | null) =>
    request<PromptEnhancement>("POST", "/api/prompts/enhance", style && style !== "none" ? { prompt, style } : { prompt }),
};

/** Whether a prompt has wildcard syntax worth previewing. */
export function hasWildcards(prompt: string): boolean {
  return /[{}]|__[\w\-./]+__|\\[{}|_\\]/.test(prompt);
}
