// Beside the prompt box: "Enhance" asks the configured text model to rewrite the prompt
// (POST /api/prompts/enhance). Nothing changes until the person accepts: the panel shows
// before and after, with Accept (the rewrite goes in the prompt box; the job records the
// original as original_prompt) and Keep mine.
import { useState } from "react";
import { useMutation } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { promptsApi, type PromptEnhancement } from "./api";

export interface PromptEnhancerProps {
  prompt: string;
  style: string | null;
  /** The person accepted: ``enhanced`` replaces the prompt; ``original`` is what they wrote. */
  onAccept: (enhanced: string, original: string) => void;
  /** The prompt before an accepted enhancement, while the prompt box holds the rewrite. */
  original?: string | null;
  /** Put the original back in the prompt box. */
  onUndo?: () => void;
}

export function PromptEnhancer({ prompt, style, onAccept, original, onUndo }: PromptEnhancerProps) {
  const [result, setResult] = useState<PromptEnhancement | null>(null);
  const enhance = useMutation({
    mutationFn: () => promptsApi.enhance(prompt, style),
    onSuccess: setResult,
  });
  const error = enhance.error instanceof ApiError ? enhance.error.message : enhance.error ? String(enhance.error) : null;
  const blank = !prompt.trim() || prompt.length > 4000;
  return (
    <div className="mt-1">
      <button
        type="button"
        onClick={() => {
          setResult(null);
          enhance.mutate();
        }}
        disabled={blank || enhance.isPending}
        className="rounded-md border border-neutral-700 px-2 py-0.5 text-xs text-neutral-200 hover:border-amber-400/70 disabled:opacity-50"
      >
        {enhance.isPending ? "Enhancing…" : "Enhance"}
      </button>
      {original && original !== prompt && !result && (
        <span className="ml-2 text-xs text-neutral-500">
          Original kept with the images.{" "}
          {onUndo && (
            <button type="button" className="text-amber-300 hover:underline" onClick={onUndo}>
              Undo
            </button>
          )}
        </span>
      )}
      {error && !enhance.isPending && (
        <p role="alert" className="mt-1 text-xs text-red-400">
          {error}
        </p>
      )}
      {result && (
        <section aria-label="Prompt enhancement" className="mt-2 rounded-md border border-amber-900/60 bg-neutral-900/80 p-2 text-xs">
          <div className="grid gap-2 sm:grid-cols-2">
            <div>
              <h3 className="mb-0.5 font-medium uppercase tracking-wide text-neutral-500">Before</h3>
              <p aria-label="Before" className="whitespace-pre-wrap break-words text-neutral-300">
                {result.original}
              </p>
            </div>
            <div>
              <h3 className="mb-0.5 font-medium uppercase tracking-wide text-amber-300/80">After</h3>
              <p aria-label="After" className="whitespace-pre-wrap break-words text-neutral-100">
                {result.enhanced}
              </p>
            </div>
          </div>
          {prompt !== result.original && (
            <p className="mt-1 text-amber-300">The prompt changed since; accepting replaces it.</p>
          )}
          <div className="mt-2 flex items-center gap-2">
            <button
              type="button"
              className="rounded-md bg-amber-400 px-2 py-0.5 font-medium text-neutral-950 hover:bg-amber-300"
              onClick={() => {
                onAccept(result.enhanced, result.original);
                setResult(null);
              }}
            >
              Accept
            </button>
            <button type="button" className="rounded-md px-2 py-0.5 text-neutral-300 hover:text-neutral-50" onClick={() => setResult(null)}>
              Keep mine
            </button>
            <span className="ml-auto text-neutral-500">
              {result.enhancer.kind} · {result.enhancer.model}
            </span>
          </div>
        </section>
      )}
    </div>
  );
}
