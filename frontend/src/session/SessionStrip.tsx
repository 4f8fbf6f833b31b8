import { useState } from "react";
import type { GalleryImage } from "../api/types";
import { SafeImage } from "../common/SafeImage";
import { downloadChecked } from "../common/download";
import { withBase } from "../api/base";

export function SessionStrip({
  images,
  session,
  onOpen,
}: {
  images: GalleryImage[];
  session: string;
  onOpen: (image: GalleryImage, all: GalleryImage[]) => void;
}) {
  const [note, setNote] = useState<string | null>(null);
  if (images.length === 0) return null;
  const zip = withBase(`/api/export.zip?${new URLSearchParams({ session })}`);
  return (
    <section aria-label="This session" className="rounded-lg border border-neutral-800 bg-neutral-900/40 p-2">
      <div className="mb-1.5 flex items-center justify-between px-1">
        <h2 className="text-xs font-medium uppercase tracking-wide text-neutral-400">
          This session · <span data-testid="session-count">{images.length}</span> image{images.length === 1 ? "" : "s"}
        </h2>
        <button
          type="button"
          onClick={async () => setNote(await downloadChecked(zip))}
          data-href={zip}
          className="rounded border border-neutral-700 px-2 py-0.5 text-xs text-neutral-200 hover:border-amber-500"
        >
          Download all as ZIP
        </button>
      </div>
      {note && (
        <p role="status" className="px-1 pb-1 text-xs text-amber-300">
          {note}
        </p>
      )}
      <ul className="flex gap-2 overflow-x-auto pb-1" data-testid="session-strip">
        {images.map((img) => (
          <li key={img.id} className="shrink-0">
            <button
              type="button"
              onClick={() => onOpen(img, images)}
              aria-label={`Open ${img.prompt}`}
              className="block h-24 overflow-hidden rounded-md bg-neutral-800 focus-visible:outline-2 focus-visible:outline-amber-400"
              style={{ aspectRatio: `${img.width ?? 1} / ${img.height ?? 1}` }}
            >
              <SafeImage src={img.thumb_url || img.url} alt={img.prompt} className="h-full w-full object-cover" loading="lazy" />
            </button>
          </li>
        ))}
      </ul>
    </section>
  );
}
