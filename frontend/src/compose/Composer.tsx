import { useId, useState, type FormEvent, type KeyboardEvent, type ReactNode } from "react";
import type { ProviderInfo, ServerWarning, Style } from "../api/types";
import { formatPrice, onlySketch, providerLabel } from "../providers/catalog";
import { DiceIcon, LockIcon } from "../common/icons";
import { estimatedCost, fitToModel, MAX_SEED, validate, type Draft, type DraftErrors } from "./draft";

export interface ComposerProps {
  draft: Draft;
  onChange: (draft: Draft) => void;
  providers: ProviderInfo[];
  styles: Style[];
  onGenerate: () => void;
  busy?: boolean;
  /** Warnings from the server's answer to the last request, by field. */
  warnings: ServerWarning[];
  /** The server's refusal of the last request. */
  serverError: { message: string; field?: string } | null;
  lastSeed: number | null;
  /** Keys in the prompt box the composer does not use itself (the history walk). */
  onPromptKeyDown?: (e: KeyboardEvent<HTMLTextAreaElement>) => void;
  /** Shown under the prompt box (the wildcard preview). */
  promptExtras?: ReactNode;
}

function FieldNote({ id, error, warning }: { id: string; error?: string; warning?: string }) {
  if (!error && !warning) return null;
  return (
    <p id={id} role={error ? "alert" : "status"} className={"mt-1 text-xs " + (error ? "text-red-400" : "text-amber-300")}>
      {error ?? warning}
    </p>
  );
}

function Label({ htmlFor, children }: { htmlFor?: string; children: ReactNode }) {
  return (
    <label htmlFor={htmlFor} className="mb-1 block text-xs font-medium uppercase tracking-wide text-neutral-400">
      {children}
    </label>
  );
}

function RatioShape({ ratio }: { ratio: string }) {
  const [w, h] = ratio.split(":").map(Number) as [number, number];
  const scale = 18 / Math.max(w, h);
  return (
    <span
      aria-hidden
      className="inline-block rounded-[2px] border border-current"
      style={{ width: Math.max(6, w * scale), height: Math.max(6, h * scale) }}
    />
  );
}

const input =
  "w-full rounded-md border border-neutral-800 bg-neutral-900 px-2.5 py-1.5 text-sm text-neutral-100 placeholder:text-neutral-500 focus:border-amber-400/70 focus:outline-none focus:ring-1 focus:ring-amber-400/40 disabled:opacity-50";

export function Composer(props: ComposerProps) {
  const { draft, onChange, providers, styles, warnings, serverError, lastSeed } = props;
  const [touched, setTouched] = useState(false);
  const ids = useId();
  const provider = providers.find((p) => p.id === draft.provider);
  const model = provider?.models.find((m) => m.id === draft.model);
  const errors: DraftErrors = validate(draft, model, provider?.available ?? false);
  const shown: DraftErrors = touched ? errors : {};
  const warningFor = (field: string) => warnings.find((w) => w.field === field)?.message;
  const serverFor = (field: string) => (serverError?.field === field ? serverError.message : undefined);
  const cost = estimatedCost(model, draft.n);
  const set = (patch: Partial<Draft>) => onChange({ ...draft, ...patch });

  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    setTouched(true);
    if (Object.keys(errors).length === 0 && !props.busy) props.onGenerate();
  };
  const onPromptKey = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
      return;
    }
    if (e.currentTarget.id === ids + "prompt") props.onPromptKeyDown?.(e);
  };
  const chooseProvider = (id: string) => {
    const p = providers.find((x) => x.id === id);
    const m = p?.models.find((x) => x.id === p.default_model) ?? p?.models[0];
    onChange(m ? fitToModel({ ...draft, provider: id, model: m.id }, m) : { ...draft, provider: id });
  };
  const chooseModel = (id: string) => {
    const m = provider?.models.find((x) => x.id === id);
    onChange(m ? fitToModel({ ...draft, model: id }, m) : { ...draft, model: id });
  };
  const selectedStyle = styles.find((s) => s.name === draft.style);
  const promptNote = shown.prompt ?? serverFor("prompt");

  return (
    <form onSubmit={submit} aria-label="Compose" className="flex flex-col gap-4" noValidate>
      {onlySketch(providers) && (
        <p role="note" className="rounded-md border border-amber-900/60 bg-amber-950/40 px-3 py-2 text-sm text-amber-200">
          Only the offline sketch renderer works now (no AI model).{" "}
          <a href="#/providers" className="font-medium underline hover:text-amber-100">
            Set up a provider
          </a>{" "}
          to make real images.
        </p>
      )}
      <div>
        <Label htmlFor={ids + "prompt"}>Prompt</Label>
        <textarea
          id={ids + "prompt"}
          value={draft.prompt}
          onChange={(e) => set({ prompt: e.target.value })}
          onKeyDown={onPromptKey}
          rows={3}
          placeholder="a lighthouse on a cliff at dusk, long exposure"
          aria-invalid={!!promptNote}
          aria-describedby={promptNote ? ids + "prompt-note" : undefined}
          className={input + " field-sizing-content min-h-20 max-h-72 resize-y leading-relaxed"}
        />
        <FieldNote id={ids + "prompt-note"} error={promptNote} />
        {props.promptExtras}
        <p className="mt-1 text-[11px] text-neutral-500">Ctrl/⌘ + Enter generates</p>
      </div>

      {model?.supports_negative_prompt !== false && (
        <div>
          <Label htmlFor={ids + "neg"}>Negative prompt</Label>
          <textarea
            id={ids + "neg"}
            value={draft.negativePrompt}
            onChange={(e) => set({ negativePrompt: e.target.value })}
            onKeyDown={onPromptKey}
            rows={1}
            placeholder="what to leave out"
            className={input + " field-sizing-content max-h-40 resize-y"}
          />
          <FieldNote
            id={ids + "neg-note"}
            error={shown.negative_prompt ?? serverFor("negative_prompt")}
            warning={warningFor("negative_prompt")}
          />
        </div>
      )}

      <fieldset>
        <legend className="mb-1 text-xs font-medium uppercase tracking-wide text-neutral-400">Style</legend>
        <div role="radiogroup" aria-label="Style" className="flex flex-wrap gap-1.5">
          {styles.map((s) => (
            <button
              key={s.name}
              type="button"
              role="radio"
              aria-checked={draft.style === s.name}
              title={s.description}
              onClick={() => set({ style: s.name })}
              className={
                "rounded-full border px-2.5 py-1 text-xs transition-colors " +
                (draft.style === s.name
                  ? "border-amber-400/70 bg-amber-400/15 text-amber-200"
                  : "border-neutral-800 text-neutral-300 hover:border-neutral-600")
              }
            >
              {s.label}
            </button>
          ))}
        </div>
        {selectedStyle?.description && <p className="mt-1 text-xs text-neutral-500">{selectedStyle.description}</p>}
      </fieldset>

      <div className="grid grid-cols-2 gap-3">
        <div>
          <Label htmlFor={ids + "provider"}>Provider</Label>
          <select
            id={ids + "provider"}
            value={draft.provider}
            onChange={(e) => chooseProvider(e.target.value)}
            className={input}
          >
            {providers.map((p) => (
              <option key={p.id} value={p.id} disabled={!p.available}>
                {providerLabel(p)}
                {p.available ? "" : " (unavailable)"}
              </option>
            ))}
          </select>
          <FieldNote id={ids + "provider-note"} error={shown.provider ?? serverFor("provider")} />
        </div>
        <div>
          <Label htmlFor={ids + "model"}>Model</Label>
          <select id={ids + "model"} value={draft.model} onChange={(e) => chooseModel(e.target.value)} className={input}>
            {provider?.models.map((m) => (
              <option key={m.id} value={m.id}>
                {m.label}
              </option>
            ))}
          </select>
          <FieldNote id={ids + "model-note"} error={serverFor("model")} />
        </div>
      </div>

      {model && (
        <fieldset>
          <legend className="mb-1 text-xs font-medium uppercase tracking-wide text-neutral-400">Aspect ratio</legend>
          <div role="radiogroup" aria-label="Aspect ratio" className="flex flex-wrap gap-1.5">
            {Object.entries(model.aspect_ratios).map(([ratio, size]) => (
              <button
                key={ratio}
                type="button"
                role="radio"
                aria-checked={draft.aspectRatio === ratio}
                aria-label={`${ratio} (${size.width}×${size.height})`}
                title={`${size.width}×${size.height}`}
                onClick={() => set({ aspectRatio: ratio })}
                className={
                  "flex h-12 w-12 flex-col items-center justify-center gap-1 rounded-md border text-[10px] " +
                  (draft.aspectRatio === ratio
                    ? "border-amber-400/70 bg-amber-400/10 text-amber-200"
                    : "border-neutral-800 text-neutral-400 hover:border-neutral-600")
                }
              >
                <RatioShape ratio={ratio} />
                {ratio}
              </button>
            ))}
          </div>
          <FieldNote id={ids + "ratio-note"} error={serverFor("aspect_ratio")} warning={warningFor("aspect_ratio")} />
        </fieldset>
      )}

      <div className="grid grid-cols-2 gap-3">
        <div>
          <Label htmlFor={ids + "n"}>Images</Label>
          <input
            id={ids + "n"}
            type="number"
            min={1}
            max={model?.max_images ?? 10}
            value={Number.isNaN(draft.n) ? "" : draft.n}
            onChange={(e) => set({ n: e.target.value === "" ? NaN : Number(e.target.value) })}
            aria-invalid={!!shown.n}
            className={input}
          />
          <FieldNote id={ids + "n-note"} error={shown.n ?? serverFor("n")} />
        </div>
        {model?.supports_seed !== false && (
          <div>
            <Label htmlFor={ids + "seed"}>Seed</Label>
            <div className="flex gap-1">
              <input
                id={ids + "seed"}
                inputMode="numeric"
                value={draft.seedLocked ? draft.seed : ""}
                placeholder="random"
                onChange={(e) => set({ seed: e.target.value.trim(), seedLocked: e.target.value.trim() !== "" })}
                aria-invalid={!!shown.seed}
                className={input + " min-w-0"}
              />
              <button
                type="button"
                aria-pressed={draft.seedLocked}
                aria-label={draft.seedLocked ? "Unlock seed (random each time)" : "Lock seed"}
                title={draft.seedLocked ? "Seed locked" : "Random seed"}
                onClick={() =>
                  set(
                    draft.seedLocked
                      ? { seedLocked: false }
                      : { seedLocked: true, seed: draft.seed || String(Math.floor(Math.random() * MAX_SEED)) },
                  )
                }
                className={
                  "rounded-md border px-2 text-sm " +
                  (draft.seedLocked ? "border-amber-400/70 text-amber-200" : "border-neutral-800 text-neutral-400")
                }
              >
                {draft.seedLocked ? <LockIcon /> : <DiceIcon />}
              </button>
              <button
                type="button"
                disabled={lastSeed === null}
                onClick={() => lastSeed !== null && set({ seed: String(lastSeed), seedLocked: true })}
                title="Reuse the last seed"
                className="rounded-md border border-neutral-800 px-2 text-xs text-neutral-300 disabled:opacity-40"
              >
                last
              </button>
            </div>
            <FieldNote id={ids + "seed-note"} error={shown.seed ?? serverFor("seed")} warning={warningFor("seed")} />
          </div>
        )}
      </div>

      {(model?.steps || (model && model.qualities.length > 0)) && (
        <div className="grid grid-cols-2 gap-3">
          {model.steps && (
            <div>
              <Label htmlFor={ids + "steps"}>
                Steps{" "}
                <span className="normal-case text-neutral-500">
                  ({model.steps.min}–{model.steps.max})
                </span>
              </Label>
              <input
                id={ids + "steps"}
                type="number"
                min={model.steps.min}
                max={model.steps.max}
                disabled={model.steps.min === model.steps.max}
                value={draft.steps ?? model.steps.default}
                onChange={(e) => set({ steps: e.target.value === "" ? null : Number(e.target.value) })}
                className={input}
              />
              <FieldNote id={ids + "steps-note"} error={shown.steps ?? serverFor("steps")} warning={warningFor("steps")} />
            </div>
          )}
          {model.qualities.length > 0 && (
            <div>
              <Label htmlFor={ids + "quality"}>Quality</Label>
              <select
                id={ids + "quality"}
                value={draft.quality ?? ""}
                onChange={(e) => set({ quality: e.target.value })}
                className={input}
              >
                {model.qualities.map((q) => (
                  <option key={q}>{q}</option>
                ))}
              </select>
              <FieldNote id={ids + "quality-note"} error={serverFor("quality")} warning={warningFor("quality")} />
            </div>
          )}
        </div>
      )}

      {serverError && !serverError.field && (
        <p role="alert" className="rounded-md border border-red-900 bg-red-950/50 px-3 py-2 text-sm text-red-300">
          {serverError.message}
        </p>
      )}

      <div className="flex items-center justify-between gap-3">
        <span className="text-xs text-neutral-400" aria-label="Estimated cost">
          {cost !== null ? <>Estimated cost: {formatPrice(cost)}</> : model ? "No price published" : ""}
        </span>
        <button
          type="submit"
          disabled={props.busy}
          className="rounded-md bg-amber-400 px-4 py-2 text-sm font-semibold text-neutral-950 hover:bg-amber-300 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-amber-300 disabled:opacity-60"
        >
          Generate
        </button>
      </div>
    </form>
  );
}
