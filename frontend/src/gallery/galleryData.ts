// The gallery listing as an infinite query, kept current by the gallery feed, with
// favourite and delete (with undo) applied to the cache at once.
import { useEffect } from "react";
import { useInfiniteQuery, useQueryClient, type InfiniteData, type QueryClient } from "@tanstack/react-query";
import { api, type ImageFilters } from "../api/client";
import { liveConnection, type TopicEvent } from "../api/live";
import type { GalleryImage, Page } from "../api/types";
import type { GalleryStatus } from "../api/schema.generated";
import { STATUS_KEY } from "./IndexingBanner";

export const PAGE_SIZE = 200;
type Pages = InfiniteData<Page<GalleryImage>, string | null>;

export function useGalleryImages(filters: ImageFilters) {
  return useInfiniteQuery({
    queryKey: ["images", filters],
    queryFn: ({ pageParam }) => api.images(filters, pageParam, PAGE_SIZE),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    staleTime: 30_000,
  });
}

export function hasFilters(f: ImageFilters): boolean {
  return Object.values(f).some((v) => v !== undefined && v !== "" && v !== false);
}

export function updateImages(qc: QueryClient, fn: (items: GalleryImage[]) => GalleryImage[]) {
  qc.setQueriesData<Pages>({ queryKey: ["images"] }, (data) =>
    data ? { ...data, pages: data.pages.map((p) => ({ ...p, items: fn(p.items) })) } : data,
  );
}

export function removeImages(qc: QueryClient, ids: Set<string>) {
  qc.setQueriesData<Pages>({ queryKey: ["images"] }, (data) =>
    data
      ? {
          ...data,
          pages: data.pages.map((p) => {
            const items = p.items.filter((i) => !ids.has(i.id));
            const removed = p.items.length - items.length;
            return { ...p, items, total: p.total !== undefined ? p.total - removed : undefined };
          }),
        }
      : data,
  );
}

/** Who made an image (accounts: the owner's user name; null without accounts). */
export function ownerOf(image: GalleryImage): string | null {
  return image.owner ?? null;
}

/** ``images`` with the image of the same id replaced by ``image``. */
export function replaceImage(images: GalleryImage[], image: GalleryImage): GalleryImage[] {
  return images.some((i) => i.id === image.id) ? images.map((i) => (i.id === image.id ? image : i)) : images;
}

/** One gallery feed event applied to the cached listing of ``filters`` (and, for a change
 * of an image, to every cached listing). Every gallery event is handled here: the switch
 * does not compile when events.generated.ts names one it misses. */
export function applyGalleryEvent(qc: QueryClient, filters: ImageFilters, event: TopicEvent<"gallery">): void {
  const filtered = hasFilters(filters);
  switch (event.type) {
    case "gallery.added": {
      if (filtered) {
        void qc.invalidateQueries({ queryKey: ["images", filters] });
        return;
      }
      const image = event.image;
      qc.setQueryData<Pages>(["images", filters], (data) => {
        if (!data || data.pages.length === 0) return data;
        if (data.pages.some((p) => p.items.some((i) => i.id === image.id))) return data;
        const [first, ...rest] = data.pages;
        return {
          ...data,
          pages: [{ ...first!, items: [image, ...first!.items], total: first!.total !== undefined ? first!.total + 1 : undefined }, ...rest],
        };
      });
      return;
    }
    case "gallery.removed":
      removeImages(qc, new Set([event.id]));
      return;
    case "gallery.updated":
      // e.g. a favourite toggled in another tab; a filtered listing (favourites only) may gain or lose it
      updateImages(qc, (items) => replaceImage(items, event.image));
      if (filtered) void qc.invalidateQueries({ queryKey: ["images", filters] });
      return;
    case "gallery.indexing": {
      // the index of a big folder is being built: the banner follows; a listing that is not
      // full yet, and every listing once it is done, is loaded again
      const { indexing, indexed, total } = event;
      qc.setQueryData<GalleryStatus>(STATUS_KEY, (s) => (s ? { ...s, indexing, indexed, total } : s));
      const first = qc.getQueryData<Pages>(["images", filters])?.pages[0];
      if (!indexing || !first || first.items.length < PAGE_SIZE) void qc.invalidateQueries({ queryKey: ["images"] });
      return;
    }
    default: {
      const unhandled: never = event;
      void unhandled;
    }
  }
}

/** New images from any tab or process appear at the top; removed ones disappear; changed ones change. */
export function useGalleryFeed(filters: ImageFilters) {
  const qc = useQueryClient();
  useEffect(() => {
    let off: (() => void) | undefined;
    let alive = true;
    void liveConnection().then((live) => {
      if (!alive) return;
      const offFeed = live.subscribeFeed("gallery", (event) => applyGalleryEvent(qc, filters, event));
      // what changed while the connection was down is not replayed: the listing is loaded again
      const offReconnect = live.onResubscribed("gallery", () => void qc.invalidateQueries({ queryKey: ["images"] }));
      off = () => {
        offFeed();
        offReconnect();
      };
    });
    return () => {
      alive = false;
      off?.();
    };
  }, [qc, filters]);
}
