// "Indexing 34,000 of 100,000": shown above the gallery while the server builds the index of
// a big folder in the background after a start (GET /api/gallery/status, kept current by the
// gallery feed's gallery.indexing events and, while indexing, a slow poll).
import { useQuery } from "@tanstack/react-query";
import { request } from "../api/client";
import type { GalleryStatus } from "../api/schema.generated";

export const STATUS_KEY = ["gallery-status"] as const;

export const galleryStatusApi = {
  status: () => request<GalleryStatus>("GET", "/api/gallery/status"),
};

const number = new Intl.NumberFormat("en-US");

export function indexingText(status: Pick<GalleryStatus, "indexed" | "total">): string {
  return status.total === null
    ? `Indexing the gallery folder: ${number.format(status.indexed)} images so far`
    : `Indexing ${number.format(status.indexed)} of ${number.format(status.total)}`;
}

export function IndexingBanner() {
  const { data } = useQuery({
    queryKey: STATUS_KEY,
    queryFn: galleryStatusApi.status,
    refetchInterval: (query) => (query.state.data?.indexing ? 3000 : false),
  });
  if (!data?.indexing) return null;
  const percent = data.total ? Math.min(100, Math.round((100 * data.indexed) / data.total)) : null;
  return (
    <div
      role="status"
      aria-label="Gallery indexing"
      className="flex items-center gap-3 rounded-md border border-amber-400/30 bg-amber-400/10 px-3 py-1.5 text-sm text-amber-200"
    >
      <span>{indexingText(data)}</span>
      {percent !== null && (
        <div className="h-1.5 flex-1 overflow-hidden rounded bg-neutral-800" aria-hidden>
          <div className="h-full bg-amber-400/70" style={{ width: `${percent}%` }} />
        </div>
      )}
      <span className="text-xs text-amber-200/70">images appear as they are indexed</span>
    </div>
  );
}
