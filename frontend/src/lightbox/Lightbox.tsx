import { useEffect, useRef, useState, useLayoutEffect } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { api, ApiError } from "../api/client";
import type { GalleryImage } from "../api/types";
import type { Settings } from "../compose/draft";
import { SafeImage } from "../common/SafeImage";
import { ownerOf, removeImages, replaceImage, updateImages } from "../gallery/galleryData";
import { useAccount } from "../accounts/account";
import { AddToBoard } from "../boards/BoardsSidebar";
import { TOOL_KINDS } from "../tools/toolKinds";
import { sourceLabel } from "./sources";

export interface LightboxProps {
  images: GalleryImage[];
  index: number;
  onIndex: (index: number) => void;
  onClose: () => void;
  onUseSettings: (s: Settings) => void;
  onVariation: (s: Settings) => void;
  onNotice: (message: string) => void;
  /** The server's copy of an image this viewer changed (a favourite). */
  onImage: (image: GalleryImage) => void;
}

function settingsOf(image: GalleryImage, metadata: Record<string, any> | null | undefined): Settings {
  const req = (metadata?.request ?? {}) as Record<string, any>;
  return {
    prompt: image.prompt || req.prompt,
    negative_prompt: image.negative_prompt || req.negative_prompt,
    provider: image.provider ?? req.provider,
    model: image.model ?? req.model,
    style: image.style ?? req.style,
    aspect_ratio: image.aspect_ratio ?? req.aspect_ratio,
    seed: image.seed ?? req.seed ?? null,
    steps: req.steps ?? null,
    quality: req.quality ?? null,
  };
}

function Param({ name, value }: { name: string; value: unknown }) {
  if (value === null || value === undefined || value === "") return null;
  return (
    <>
      <dt className="text-neutral-500">{name}</dt>
      <dd className="break-words text-neutral-200">{String(value)}</dd>
    </>
  );
}

function Figure({ image, label }: { image: GalleryImage; label?: string }) {
  return (
    <figure className="flex h-full min-h-0 min-w-0 flex-1 flex-col items-center justify-center">
      <SafeImage
        src={image.url}
        alt={image.prompt || image.path}
        width={image.width ?? undefined}
        height={image.height ?? undefined}
        className="h-full min-h-0 w-full flex-1 object-contain"
        data-testid="lightbox-image"
      />
      {label && <figcaption className="mt-1 text-xs text-neutral-500">{label}</figcaption>}
    </figure>
  );
}

export default function Lightbox({ images, index, onIndex, onClose, onUseSettings, onVariation, onNotice, onImage }: LightboxProps) {
  const qc = useQueryClient();
  const account = useAccount();
  const image = images[index];
  const [compareWith, setCompareWith] = useState<GalleryImage | null>(null);
  // a favourite clicked here, shown until the server answers; then the image itself says it,
  // so a change made in another tab (gallery.updated) shows too
  const [pendingFavorite, setPendingFavorite] = useState<Record<string, boolean>>({});
  const dialogRef = useRef<HTMLDivElement>(null);
  const detail = useQuery({
    queryKey: ["image", image?.id],
    queryFn: () => api.image(image!.id),
    enabled: !!image,
    staleTime: 60_000,
  });
  const metadata = detail.data?.metadata as Record<string, any> | null | undefined;
  // values of the file's metadata the server dropped (wrong type, out of range): said, not hidden
  const ignored = detail.data?.parameters?.ignored ?? [];
  // what the file itself says (read now): another tool's sampler, CFG and steps, and the seed
  // as exact text (a JSON number above 2^53 is not exact in the browser)
  const params = detail.data?.parameters ?? null;
  const isFavorite = image ? (pendingFavorite[image.id] ?? !!image.favorite) : false;

  const previous = useRef<HTMLElement | null>(null);
  useEffect(() => {
    previous.current = document.activeElement as HTMLElement | null;
    dialogRef.current?.focus();
    return () => previous.current?.focus?.();
  }, []);

  const go = (delta: number) => {
    const next = index + delta;
    if (next >= 0 && next < images.length) onIndex(next);
  };

  const toggleFavorite = async () => {
    if (!image) return;
    const next = !isFavorite;
    const id = image.id;
    setPendingFavorite((f) => ({ ...f, [id]: next }));
    // a later click on the same image is still on its way: its answer ends the wait
    const settle = () =>
      setPendingFavorite((f) => {
        if (f[id] !== next) return f;
        const { [id]: _settled, ...rest } = f;
        return rest;
      });
    try {
      const { image: updated } = await api.setFavorite(id, next);
      updateImages(qc, (list) => replaceImage(list, updated));
      onImage(updated);
      settle();
    } catch (e) {
      settle();
      onNotice(e instanceof ApiError && (e.status === 404 || e.status === 405) ? "Favourites are not available on this server yet." : (e as Error).message);
    }
  };

  const remove = async () => {
    if (!image) return;
    try {
      await api.remove(image.id);
      removeImages(qc, new Set([image.id]));
      onNotice("Image deleted. It stays in the trash for 30 days.");
      if (images.length <= 1) onClose();
      else onIndex(Math.min(index, images.length - 2));
    } catch (e) {
      onNotice(e instanceof ApiError && (e.status === 404 || e.status === 405) ? "Deleting is not available on this server yet." : (e as Error).message);
    }
  };

  // a layout effect: the keys work from the moment the viewer is on screen (a passive effect
  // runs a little later, and a key pressed at once, e.g. right after the lazy chunk loads, was lost)
  useLayoutEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
      if (e.key === "Escape") onClose();
      else if (e.key === "ArrowRight") go(1);
      else if (e.key === "ArrowLeft") go(-1);
      else if (e.key === "f" || e.key === "F") void toggleFavorite();
      else if (e.key === "Delete") void remove();
      else return;
      e.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  });

  if (!image) return null;
  const settings = settingsOf(image, metadata);
  const req = (metadata?.request ?? {}) as Record<string, any>;
  const btn = "rounded-md border border-neutral-700 px-2.5 py-1 text-xs text-neutral-100 hover:border-amber-400";

  return (
    <div
      ref={dialogRef}
      role="dialog"
      aria-modal="true"
      aria-label="Image viewer"
      tabIndex={-1}
      className="fixed inset-0 z-50 flex flex-col bg-neutral-950 outline-none lg:flex-row"
    >
      <div className="relative flex min-h-0 flex-1 items-center gap-2 p-3">
        <button type="button" onClick={() => go(-1)} disabled={index === 0} aria-label="Previous image" className="z-10 rounded-full bg-neutral-900/80 px-3 py-2 text-lg disabled:opacity-20">
          ‹
        </button>
        {compareWith && <Figure image={compareWith} label="pinned" />}
        <Figure image={image} label={compareWith ? "current" : undefined} />
        <button type="button" onClick={() => go(1)} disabled={index >= images.length - 1} aria-label="Next image" className="z-10 rounded-full bg-neutral-900/80 px-3 py-2 text-lg disabled:opacity-20">
          ›
        </button>
      </div>
      <aside className="max-h-[45dvh] w-full shrink-0 overflow-y-auto border-t border-neutral-800 bg-neutral-950 p-4 lg:max-h-none lg:w-80 lg:border-l lg:border-t-0" aria-label="Parameters">
        <div className="mb-3 flex items-center justify-between">
          <span className="text-xs text-neutral-500">
            {index + 1} / {images.length}
          </span>
          <button type="button" onClick={onClose} aria-label="Close viewer" className="rounded px-2 text-lg text-neutral-400 hover:text-neutral-100">
            ×
          </button>
        </div>
        <p className="mb-3 whitespace-pre-wrap text-sm text-neutral-100" data-testid="lightbox-prompt">
          {image.prompt || <span className="text-neutral-500">No prompt recorded</span>}
        </p>
        <dl className="grid grid-cols-[6rem_minmax(0,1fr)] gap-x-2 gap-y-1 text-xs">
          {account.isAdmin && <Param name="Owner" value={ownerOf(image)} />}
          <Param name="Negative" value={image.negative_prompt} />
          <Param name="Made with" value={params && params.source !== "atelier" ? sourceLabel(params.source) : null} />
          <Param name="Provider" value={image.provider} />
          <Param name="Model" value={image.model} />
          <Param name="Style" value={image.style} />
          <Param name="Aspect ratio" value={image.aspect_ratio} />
          <Param name="Size" value={image.width && image.height ? `${image.width}×${image.height}` : null} />
          <Param name="Seed" value={params?.seed_text ?? image.seed} />
          <Param name="Steps" value={req.steps ?? params?.steps} />
          <Param name="Sampler" value={params?.sampler} />
          <Param name="CFG scale" value={params?.cfg_scale} />
          <Param name="Quality" value={req.quality} />
          <Param name="Format" value={image.format} />
          <Param name="Created" value={new Date(image.created_at).toLocaleString()} />
        </dl>
        {ignored.length > 0 && (
          <details className="mt-3 rounded border border-amber-800/60 bg-amber-950/30 p-2 text-xs text-amber-200" data-testid="lightbox-ignored">
            <summary className="cursor-pointer">
              {ignored.length === 1 ? "1 value" : `${ignored.length} values`} in this file's metadata could not be used
            </summary>
            <ul className="mt-1 list-disc pl-4 text-amber-100/80">
              {ignored.map((note) => (
                <li key={note} className="break-words">
                  {note}
                </li>
              ))}
            </ul>
          </details>
        )}
        <div className="mt-4 flex flex-wrap gap-2">
          <button type="button" className={btn} onClick={() => onUseSettings(settings)}>
            Use these settings
          </button>
          <button type="button" className={btn} onClick={() => onVariation(settings)}>
            Variation
          </button>
          <button
            type="button"
            className={btn}
            onClick={() =>
              navigator.clipboard
                ?.writeText(image.prompt)
                .then(() => onNotice("Prompt copied."))
                .catch(() => onNotice("The browser did not allow copying."))
            }
          >
            Copy prompt
          </button>
          {TOOL_KINDS.map(({ kind, label }) => (
            <a key={kind} className={btn} href={`#/tools?tool=${kind}&image=${encodeURIComponent(image.id)}`} onClick={onClose}>
              {label}
            </a>
          ))}
          <a className={btn} href={image.url} download={image.path.split("/").pop()}>
            Download
          </a>
          <button type="button" className={btn} aria-pressed={isFavorite} onClick={() => void toggleFavorite()}>
            {isFavorite ? "★ Favourite" : "☆ Favourite"}
          </button>
          <button type="button" className={btn} aria-pressed={!!compareWith} onClick={() => setCompareWith(compareWith ? null : image)}>
            {compareWith ? "Stop comparing" : "Compare…"}
          </button>
          <button type="button" className={btn + " hover:border-red-500"} onClick={() => void remove()}>
            Delete
          </button>
          {account.accounts && <AddToBoard ids={[image.id]} onNotice={onNotice} className={btn + " bg-neutral-950"} />}
        </div>
        {compareWith && <p className="mt-2 text-xs text-neutral-500">Pinned this image; use the arrows to choose the one to compare with.</p>}
        <p className="mt-4 text-[11px] text-neutral-600">Keys: ← → browse · F favourite · Delete · Esc close</p>
      </aside>
    </div>
  );
}
