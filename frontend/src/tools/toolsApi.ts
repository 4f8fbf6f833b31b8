// The studio tools' REST calls (edit, upscale, social, templates, usage).
import { request } from "../api/client";
import { withBase } from "../api/base";
import type { Job } from "../api/types";
import type { ToolKind } from "./toolKinds";

// the answers' shapes are generated from the server's declarations (backend/shapes/tools.py)
import type { EditOperations, SocialFormats, Templates, Usage } from "../api/schema.generated";
export type { EditOperation, SocialFormat, SocialPlatform, Template, Usage, UsageGroup } from "../api/schema.generated";

// the API client's request: the token, the base path and one error shape for every call
const call = request;

export const toolsApi = {
  operations: () => call<EditOperations>("GET", "/api/edit/operations").then((r) => r.operations),
  formats: () => call<SocialFormats>("GET", "/api/social/formats").then((r) => r.platforms),
  templates: (q: string) => call<Templates>("GET", `/api/templates?${new URLSearchParams({ q })}`).then((r) => r.templates),
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
