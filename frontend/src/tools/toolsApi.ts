// The studio tools' REST calls (edit, upscale, social, templates, usage).
import { request } from "../api/client";
import { withBase } from "../api/base";
import type { Job } from "../api/types";
import type { ToolKind } from "./toolKinds";

export interface EditOperation {
  id: string;
  description: string;
  fields: string[];
  providers: { id: string; label: string; available: boolean; reason: string | null; fields: string[]; limits: Record<string, number>; price_per_image: number | null }[];
}
export interface SocialFormat { id: string; platform: string; format: string; label: string; width: number; height: number; max_bytes: number; safe_zone: Record<string, number> }
export interface SocialPlatform { id: string; label: string; max_bytes: number; formats: SocialFormat[] }
export interface Template { id: string; name: string; description: string; prompt: string; style: string; aspect_ratio: string; provider: string; model: string; social_target: string | null; tags: string[]; width: number | null; height: number | null; available: boolean }
export interface UsageGroup { key: string; jobs: number; images: number; failures: number; cost_usd: number; estimated_usd: number }
export interface Usage { groups: UsageGroup[]; totals: UsageGroup; budget: { monthly_budget_usd: number | null; month_spend_usd: number; remaining_usd: number | null } }

// the API client's request: the token, the base path and one error shape for every call
const call = request;

export const toolsApi = {
  operations: () => call<{ operations: EditOperation[] }>("GET", "/api/edit/operations").then((r) => r.operations),
  formats: () => call<{ platforms: SocialPlatform[] }>("GET", "/api/social/formats").then((r) => r.platforms),
  templates: (q: string) => call<{ templates: Template[] }>("GET", `/api/templates?${new URLSearchParams({ q })}`).then((r) => r.templates),
  usageThisMonth: () => call<Usage>("GET", "/api/usage?period=month&group_by=provider"),
  submit: (tool: ToolKind, body: Record<string, unknown>) => call<{ job: Job }>("POST", `/api/${tool}`, body).then((r) => r.job),
};

export function previewUrl(imageId: string, target: string, crop: string, focal: { x: number; y: number } | null): string {
  const [platform = "", format = ""] = target.split("/");
  const params = new URLSearchParams({ image_id: imageId, platform, format, crop });
  if (focal) {
    params.set("focal_x", focal.x.toFixed(3));
    params.set("focal_y", focal.y.toFixed(3));
  }
  return withBase(`/api/social/preview?${params}`);
}
