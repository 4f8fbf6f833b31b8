// The gallery listing as an infinite query, kept current by the gallery feed, with
// favourite and delete (with undo) applied to the cache at once.
import { useEffect } from "react";
import { useInfiniteQuery, useQueryClient, type InfiniteData, type QueryClient } from "@tanstack/react-query";
import { api, type ImageFilters } from "../api/client";
import { liveConnection } from "../api/live";
import type { GalleryImage, Page } from "../api/types";

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

/** New images from any tab or process appear at the top; removed ones disappear. */
export function useGalleryFeed(filters: ImageFilters) {
  const qc = useQueryClient();
  const filtered = hasFilters(filters);
  useEffect(() => {
    let off: (() => void) | undefined;
    let alive = true;
    void liveConnection().then((live) => {
      if (!alive) return;
      off = live.subscribeFeed("gallery", (event, payload) => {
        if (event === "gallery.added" && payload?.image) {
          if (filtered) {
            void qc.invalidateQueries({ queryKey: ["images", filters] });
            return;
          }
          const image = payload.image as GalleryImage;
          qc.setQueryData<Pages>(["images", filters], (data) => {
            if (!data || data.pages.length === 0) return data;
            if (data.pages.some((p) => p.items.some((i) => i.id === image.id))) return data;
            const [first, ...rest] = data.pages;
            return {
              ...data,
              pages: [{ ...first!, items: [image, ...first!.items], total: first!.total !== undefined ? first!.total + 1 : undefined }, ...rest],
            };
          });
        } else if (event === "gallery.removed") {
          const ids = new Set<string>([payload?.id, payload?.image?.id, ...(payload?.ids ?? [])].filter(Boolean));
          removeImages(qc, ids);
        }
      });
    });
    return () => {
      alive = false;
      off?.();
    };
  }, [qc, filters, filtered]);
}
