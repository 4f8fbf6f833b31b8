import { useEffect, useRef, useState, type ReactNode } from "react";
import { api, ApiError } from "../api/client";
import type { Settings } from "../compose/draft";
import { readPngTextChunks, settingsFromAtelierChunk } from "./pngMetadata";

/** What /api/metadata/parse found, as composer settings. */
export function settingsFromParsed(body: Record<string, any>): Settings | null {
  const p = (body.parameters ?? body.metadata ?? body) as Record<string, any>;
  if (!p || typeof p !== "object") return null;
  const req = (p.request ?? {}) as Record<string, any>;
  const pick = (k: string) => p[k] ?? req[k] ?? null;
  const settings: Settings = {
    prompt: pick("prompt"),
    negative_prompt: pick("negative_prompt"),
    provider: pick("provider"),
    model: pick("model"),
    style: pick("style"),
    aspect_ratio: pick("aspect_ratio"),
    seed: typeof pick("seed") === "number" ? pick("seed") : pick("seed") ? Number(pick("seed")) || null : null,
    steps: typeof pick("steps") === "number" ? pick("steps") : null,
    quality: pick("quality"),
  };
  return settings.prompt ? settings : null;
}

export async function readParameters(file: File): Promise<Settings> {
  try {
    const body = await api.parseMetadata(file);
    const s = settingsFromParsed(body as Record<string, any>);
    if (s) return s;
    throw new ApiError(422, "no_parameters", `No generation parameters were found in ${file.name}.`);
  } catch (e) {
    if (!(e instanceof ApiError) || (e.status !== 404 && e.status !== 405)) throw e;
    // the server has no metadata parser yet: read Atelier's own PNG chunk here
    const chunks = readPngTextChunks(await file.arrayBuffer());
    const s = chunks.atelier ? settingsFromAtelierChunk(chunks.atelier) : null;
    if (s) return s;
    throw new ApiError(422, "no_parameters", `No Atelier parameters were found in ${file.name}.`);
  }
}

/** Drop an image anywhere on the page to read its generation parameters into the composer. */
export function DropZone({
  children,
  onParameters,
  onError,
}: {
  children: ReactNode;
  onParameters: (s: Settings) => void;
  onError: (message: string) => void;
}) {
  const [over, setOver] = useState(false);
  const callbacks = useRef({ onParameters, onError });
  callbacks.current = { onParameters, onError };
  useEffect(() => {
    const onParameters = (s: Settings) => callbacks.current.onParameters(s);
    const onError = (m: string) => callbacks.current.onError(m);
    let depth = 0;
    const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes("Files");
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth++;
      setOver(true);
    };
    const leave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) setOver(false);
    };
    const overHandler = (e: DragEvent) => {
      if (hasFiles(e)) e.preventDefault();
    };
    const drop = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      setOver(false);
      const file = e.dataTransfer?.files[0];
      if (!file) return;
      if (!file.type.startsWith("image/")) return onError(`${file.name} is not an image.`);
      readParameters(file)
        .then(onParameters)
        .catch((err: Error) => onError(err.message));
    };
    window.addEventListener("dragenter", enter);
    window.addEventListener("dragleave", leave);
    window.addEventListener("dragover", overHandler);
    window.addEventListener("drop", drop);
    return () => {
      window.removeEventListener("dragenter", enter);
      window.removeEventListener("dragleave", leave);
      window.removeEventListener("dragover", overHandler);
      window.removeEventListener("drop", drop);
    };
  }, []);
  return (
    <>
      {children}
      {over && (
        <div className="pointer-events-none fixed inset-0 z-50 flex items-center justify-center bg-neutral-950/80" aria-hidden>
          <p className="rounded-xl border-2 border-dashed border-amber-400/70 px-10 py-8 text-lg text-amber-200">
            Drop the image to read its parameters
          </p>
        </div>
      )}
    </>
  );
}
