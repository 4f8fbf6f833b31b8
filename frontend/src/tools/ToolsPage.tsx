// The studio tools: edit (with a mask brush), upscale, social formats, templates and
// this month's spend. The image comes from the gallery / lightbox ("Edit", "Upscale",
// "Social") through the URL: #/tools?tool=edit&image=<id>.
import { createContext, useContext, useEffect, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { api, ApiError } from "../api/client";
import type { GalleryImage } from "../api/types";
import { JobCard } from "../jobs/JobCard";
import { imageList } from "../jobs/jobState";
import { useJobs, type JobsStore } from "../jobs/jobsStore";
import { MaskCanvas, type MaskHandle } from "./MaskCanvas";
import { previewUrl, toolsApi, type Template } from "./toolsApi";
import { TOOL_KINDS, type ToolKind } from "./toolKinds";
import { withBase } from "../api/base";

/** The tab's jobs, shared with the studio: a tool job is followed live like any other
 * (progress, cancel, retry) and its images join the session strip. */
export interface ToolJobs {
  store: JobsStore;
  session: string;
  cancel: (id: string) => void;
  /** Retries a job; resolves to the new job's id, or null when the server refused. */
  retry: (id: string) => Promise<string | null>;
}

const ToolJobsContext = createContext<ToolJobs | null>(null);

// the job-making tools are the server's table (toolKinds.ts is generated from it); the rest are pages
export type Tool = ToolKind | "templates" | "spend";
const TOOLS: { id: Tool; label: string }[] = [
  ...TOOL_KINDS.map((t) => ({ id: t.kind, label: t.label })),
  { id: "templates", label: "Templates" },
  { id: "spend", label: "Spend" },
];

export function toolParams(): { tool: Tool; image: string | null } {
  const query = new URLSearchParams(location.hash.split("?")[1] ?? "");
  const tool = (query.get("tool") as Tool) || "edit";
  return { tool: TOOLS.some((t) => t.id === tool) ? tool : "edit", image: query.get("image") };
}

export function toolsHref(tool: Tool, imageId?: string): string {
  const q = new URLSearchParams({ tool });
  if (imageId) q.set("image", imageId);
  return `#/tools?${q}`;
}

function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error as ApiError;
  return (
    <p role="alert" className="text-sm text-rose-400">
      {e.message}
      {e.field ? ` (${e.field})` : ""}
    </p>
  );
}

function useRunner() {
  const jobs = useContext(ToolJobsContext)!;
  const views = useJobs(jobs.store);
  const [jobId, setJobId] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const job = views.find((v) => v.id === jobId) ?? null;
  const run = async (tool: ToolKind, body: Record<string, unknown>) => {
    setError(null);
    setJobId(null);
    try {
      const queued = await toolsApi.submit(tool, { ...body, session: jobs.session });
      jobs.store.track(queued);
      setJobId(queued.id);
    } catch (e) {
      setError(e);
    }
  };
  const retry = (id: string) => void jobs.retry(id).then((next) => next && setJobId(next));
  return { job, error, run, retry, cancel: jobs.cancel, dismiss: () => setJobId(null) };
}

function JobResult({ runner, source }: { runner: ReturnType<typeof useRunner>; source: GalleryImage }) {
  const { job } = runner;
  const box = useRef<HTMLDivElement>(null);
  const jobId = job?.id;
  // a new job's card may be below the fold (the social previews are tall): bring it into view
  useEffect(() => {
    if (jobId) box.current?.scrollIntoView?.({ block: "nearest", behavior: "smooth" });
  }, [jobId]);
  if (!job) return null;
  const images = imageList(job);
  return (
    <div ref={box} className="space-y-2" data-testid="tool-job" data-status={job.status}>
      <span className="sr-only" data-testid="tool-job-status">{job.status}</span>
      <div className="max-w-xl">
        <JobCard job={job} onCancel={runner.cancel} onRetry={runner.retry} onDismiss={runner.dismiss} showImages={false} />
      </div>
      {images.length > 0 && (
        <div className="grid grid-cols-2 gap-3">
          <figure>
            <figcaption className="text-xs text-neutral-400">Before ({source.width}×{source.height})</figcaption>
            <img src={source.url} alt="Before" className="max-h-72 rounded border border-neutral-800" />
          </figure>
          <div className="flex flex-wrap gap-3">
            {images.map((img) => (
              <figure key={img.id}>
                <figcaption className="text-xs text-neutral-400">After ({img.width}×{img.height})</figcaption>
                <img src={img.url} alt={`After ${img.width}x${img.height}`} className="max-h-72 rounded border border-neutral-800" />
              </figure>
            ))}
          </div>
        </div>
      )}
    </div>
  );
}

function EditTool({ image }: { image: GalleryImage }) {
  const operations = useQuery({ queryKey: ["edit-operations"], queryFn: toolsApi.operations });
  const [op, setOp] = useState("inpaint");
  const [provider, setProvider] = useState("");
  const [prompt, setPrompt] = useState("");
  const [extra, setExtra] = useState<Record<string, string>>({});
  const mask = useRef<MaskHandle>(null);
  const runner = useRunner();
  const { error, run } = runner;
  const operation = operations.data?.find((o) => o.id === op);
  const providers = operation?.providers ?? [];
  const chosen = providers.find((p) => p.id === provider) ?? providers.find((p) => p.available) ?? providers[0];
  const fields = chosen?.fields ?? [];
  // none of this operation's providers set up: say so and why, rather than offer a run that must fail
  const usable = chosen?.available === true;
  return (
    <section className="space-y-3">
      <div className="flex flex-wrap gap-3">
        <label className="text-sm">
          Operation{" "}
          <select aria-label="Operation" value={op} onChange={(e) => setOp(e.target.value)} className="rounded bg-neutral-900 px-2 py-1">
            {operations.data?.map((o) => (
              <option key={o.id} value={o.id}>{o.id}</option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          Provider{" "}
          <select aria-label="Edit provider" value={chosen?.id ?? ""} onChange={(e) => setProvider(e.target.value)} className="rounded bg-neutral-900 px-2 py-1">
            {providers.map((p) => (
              <option key={p.id} value={p.id} disabled={!p.available}>
                {p.label}{p.available ? "" : " (unavailable)"}{p.price_per_image != null ? ` · $${p.price_per_image}` : ""}
              </option>
            ))}
          </select>
        </label>
      </div>
      <p className="text-xs text-neutral-400">{operation?.description}</p>
      {operations.data && !usable && (
        <p className="text-sm text-amber-300" role="status" data-testid="edit-unavailable">
          No provider that can {op} is set up here
          {chosen ? ` (${chosen.label}: ${chosen.reason ?? "unavailable"})` : ""}. Add its key (see Providers) or pick
          another operation.
        </p>
      )}
      {fields.includes("prompt") && (
        <input aria-label="Edit prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} placeholder="What should change?" className="w-full rounded bg-neutral-900 px-2 py-1" />
      )}
      {["search_prompt", "select_prompt", "left", "right", "up", "down"].filter((f) => fields.includes(f)).map((f) => (
        <input key={f} aria-label={f} placeholder={f} value={extra[f] ?? ""} onChange={(e) => setExtra((x) => ({ ...x, [f]: e.target.value }))} className="mr-2 rounded bg-neutral-900 px-2 py-1" />
      ))}
      {fields.includes("mask") && <MaskCanvas ref={mask} src={image.url} width={image.width ?? 512} height={image.height ?? 512} />}
      <button
        type="button"
        disabled={!usable}
        className="rounded bg-indigo-600 px-3 py-1.5 font-medium disabled:cursor-not-allowed disabled:opacity-40"
        onClick={() => {
          const body: Record<string, unknown> = { operation: op, provider: chosen?.id, image_id: image.id };
          if (fields.includes("prompt")) body.prompt = prompt;
          for (const [k, v] of Object.entries(extra)) if (fields.includes(k) && v) body[k] = ["left", "right", "up", "down"].includes(k) ? Number(v) : v;
          if (fields.includes("mask")) body.mask = mask.current?.dataUrl() ?? undefined;
          void run("edit", body);
        }}
      >
        Run {op}
      </button>
      <ErrorLine error={error} />
      <JobResult runner={runner} source={image} />
    </section>
  );
}

function UpscaleTool({ image }: { image: GalleryImage }) {
  const [mode, setMode] = useState("fast");
  const [scale, setScale] = useState(2);
  const runner = useRunner();
  const { error, run } = runner;
  return (
    <section className="space-y-3">
      <div className="flex gap-3 text-sm">
        <select aria-label="Upscale mode" value={mode} onChange={(e) => setMode(e.target.value)} className="rounded bg-neutral-900 px-2 py-1">
          <option value="fast">fast (local, free)</option>
          <option value="conservative">conservative (Stability)</option>
          <option value="creative">creative (Stability)</option>
        </select>
        {mode === "fast" && (
          <select aria-label="Scale" value={scale} onChange={(e) => setScale(Number(e.target.value))} className="rounded bg-neutral-900 px-2 py-1">
            <option value={2}>2× → {(image.width ?? 0) * 2}×{(image.height ?? 0) * 2}</option>
            <option value={4}>4× → {(image.width ?? 0) * 4}×{(image.height ?? 0) * 4}</option>
          </select>
        )}
        <button type="button" className="rounded bg-indigo-600 px-3 py-1.5 font-medium" onClick={() => void run("upscale", { image_id: image.id, mode, scale })}>
          Upscale
        </button>
      </div>
      <ErrorLine error={error} />
      <JobResult runner={runner} source={image} />
    </section>
  );
}

function SocialTool({ image }: { image: GalleryImage }) {
  const platforms = useQuery({ queryKey: ["social-formats"], queryFn: toolsApi.formats });
  const [targets, setTargets] = useState<string[]>(["instagram/post", "youtube/thumbnail"]);
  const [crop, setCrop] = useState("smart");
  const [focal, setFocal] = useState<{ x: number; y: number } | null>(null);
  const [overlay, setOverlay] = useState(true);
  const runner = useRunner();
  const { job, error, run } = runner;
  const toggle = (id: string) => setTargets((t) => (t.includes(id) ? t.filter((x) => x !== id) : [...t, id]));
  return (
    <section className="space-y-3">
      <fieldset className="flex flex-wrap gap-x-6 gap-y-2 text-sm">
        <legend className="mb-1 text-neutral-400">Platforms</legend>
        {platforms.data?.map((p) => (
          <div key={p.id}>
            <div className="font-medium">{p.label}</div>
            {p.formats.map((f) => (
              <label key={f.id} className="mr-3 block">
                <input type="checkbox" checked={targets.includes(f.id)} onChange={() => toggle(f.id)} /> {f.label} {f.width}×{f.height}
              </label>
            ))}
          </div>
        ))}
      </fieldset>
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <select aria-label="Crop mode" value={crop} onChange={(e) => setCrop(e.target.value)} className="rounded bg-neutral-900 px-2 py-1">
          <option value="smart">smart (keeps the busiest part)</option>
          <option value="center">center</option>
          <option value="fit">fit (blurred fill)</option>
          <option value="focal">focal point (click the image)</option>
        </select>
        <label><input type="checkbox" checked={overlay} onChange={(e) => setOverlay(e.target.checked)} /> Show safe zones (preview only)</label>
        {focal && <span data-testid="focal">focal {focal.x.toFixed(2)}, {focal.y.toFixed(2)}</span>}
      </div>
      <img
        src={image.url}
        alt="Click to set the focal point"
        data-testid="focal-picker"
        className="max-h-56 cursor-crosshair rounded border border-neutral-800"
        onClick={(e) => {
          const r = e.currentTarget.getBoundingClientRect();
          setFocal({ x: (e.clientX - r.left) / r.width, y: (e.clientY - r.top) / r.height });
          setCrop("focal");
        }}
      />
      {overlay && (
        <div className="flex flex-wrap gap-3" data-testid="social-previews">
          {targets.map((t) => (
            <figure key={t}>
              <figcaption className="text-xs text-neutral-400">{t}</figcaption>
              <img src={previewUrl(image.id, t, crop, crop === "focal" ? focal : null)} alt={`Preview ${t}`} className="max-h-60 rounded" />
            </figure>
          ))}
        </div>
      )}
      <div className="flex gap-3">
        <button
          type="button"
          disabled={!targets.length}
          className="rounded bg-indigo-600 px-3 py-1.5 font-medium disabled:opacity-40"
          onClick={() => void run("social", { image_id: image.id, targets, crop, ...(crop === "focal" && focal ? { focal } : {}) })}
        >
          Export {targets.length} format{targets.length === 1 ? "" : "s"}
        </button>
        {job?.status === "succeeded" && (
          <a className="rounded bg-neutral-800 px-3 py-1.5" href={withBase(`/api/export.zip?job=${job.id}`)} download>
            Download ZIP
          </a>
        )}
      </div>
      <ErrorLine error={error} />
      <JobResult runner={runner} source={image} />
    </section>
  );
}

function TemplatesTool({ onUse }: { onUse: (t: Template) => void }) {
  const [q, setQ] = useState("");
  const templates = useQuery({ queryKey: ["templates", q], queryFn: () => toolsApi.templates(q) });
  return (
    <section className="space-y-3">
      <input aria-label="Search templates" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Search templates" className="w-80 rounded bg-neutral-900 px-2 py-1" />
      <ul className="grid grid-cols-1 gap-2 md:grid-cols-3">
        {templates.data?.map((t) => (
          <li key={t.id} className="rounded border border-neutral-800 p-3">
            <div className="font-medium">{t.name}</div>
            <div className="text-xs text-neutral-400">{t.description}</div>
            <div className="mt-1 text-xs text-neutral-500">
              {t.provider} · {t.model} · {t.aspect_ratio} ({t.width}×{t.height}){t.available ? "" : " · provider unavailable"}
            </div>
            <button type="button" className="mt-2 rounded bg-indigo-600 px-2 py-1 text-sm" onClick={() => onUse(t)}>
              Use {t.name}
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}

export function SpendTool() {
  const usage = useQuery({ queryKey: ["usage-month"], queryFn: toolsApi.usageThisMonth });
  const data = usage.data;
  return (
    <section className="space-y-2" aria-label="Spend this month">
      <h2 className="font-medium">This month's spend per provider</h2>
      <table className="text-sm">
        <thead className="text-neutral-400">
          <tr><th className="pr-6 text-left">Provider</th><th className="pr-6 text-right">Jobs</th><th className="pr-6 text-right">Images</th><th className="pr-6 text-right">Failures</th><th className="text-right">Cost</th></tr>
        </thead>
        <tbody>
          {data?.groups.map((g) => (
            <tr key={g.key}>
              <td className="pr-6">{g.key}</td><td className="pr-6 text-right">{g.jobs}</td><td className="pr-6 text-right">{g.images}</td><td className="pr-6 text-right">{g.failures}</td><td className="text-right tabular-nums">${g.cost_usd.toFixed(3)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {data && (
        <p className="text-sm text-neutral-300">
          Total ${data.totals.cost_usd.toFixed(3)}
          {data.budget.monthly_budget_usd != null ? ` of a $${data.budget.monthly_budget_usd.toFixed(2)} budget ($${data.budget.remaining_usd?.toFixed(3)} left)` : " (no monthly budget set)"}
        </p>
      )}
    </section>
  );
}

/** Each registered tool's form: a tool added to the server's table fails the typecheck until it has one. */
const TOOL_VIEWS: Record<ToolKind, (props: { image: GalleryImage }) => React.JSX.Element> = {
  edit: EditTool,
  upscale: UpscaleTool,
  social: SocialTool,
};

function isToolKind(tool: Tool): tool is ToolKind {
  return TOOL_KINDS.some((t) => t.kind === tool);
}

export default function ToolsPage({ onUseTemplate, jobs }: { onUseTemplate: (t: Template) => void; jobs: ToolJobs }) {
  const [params, setParams] = useState(toolParams);
  useEffect(() => {
    const on = () => setParams(toolParams());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  // not under ["images"]: those are the gallery's infinite listings, which its feed edits in place
  const recent = useQuery({ queryKey: ["tools-picker"], queryFn: () => api.images({}, null, 24) });
  const picked = useQuery({ queryKey: ["image", params.image], queryFn: () => api.image(params.image!), enabled: !!params.image });
  const image = picked.data?.image ?? null;
  const kind = isToolKind(params.tool) ? params.tool : null;
  const View = kind ? TOOL_VIEWS[kind] : null;
  return (
    <ToolJobsContext.Provider value={jobs}>
    <div className="mx-auto max-w-screen-xl space-y-4 p-4">
      <nav aria-label="Tools" className="flex gap-1">
        {TOOLS.map((t) => (
          <a key={t.id} href={toolsHref(t.id, params.image ?? undefined)} aria-current={params.tool === t.id ? "page" : undefined}
             className={"rounded px-3 py-1.5 text-sm " + (params.tool === t.id ? "bg-neutral-800" : "text-neutral-400 hover:text-neutral-100")}>
            {t.label}
          </a>
        ))}
      </nav>
      {View && (
        <div className="space-y-1">
          <div className="text-sm text-neutral-400">{image ? `Image: ${image.path} (${image.width}×${image.height})` : "Pick an image"}</div>
          <div className="flex gap-1 overflow-x-auto" aria-label="Pick an image">
            {recent.data?.items.map((img) => (
              <a key={img.id} href={toolsHref(params.tool, img.id)} title={img.path}>
                <img src={img.thumb_url ?? img.url} alt={img.prompt || img.path} className={"h-14 w-14 rounded object-cover " + (img.id === params.image ? "ring-2 ring-indigo-500" : "")} />
              </a>
            ))}
          </div>
        </div>
      )}
      {View && image && <View key={image.id} image={image} />}
      {params.tool === "templates" && <TemplatesTool onUse={onUseTemplate} />}
      {params.tool === "spend" && <SpendTool />}
    </div>
    </ToolJobsContext.Provider>
  );
}
