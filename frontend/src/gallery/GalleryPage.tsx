import { useEffect, useMemo, useRef, useState } from "react";
import { useVirtualizer } from "@tanstack/react-virtual";
import { useQueryClient } from "@tanstack/react-query";
import { api, ApiError, filterParams, type ImageFilters } from "../api/client";
import type { GalleryImage, ProviderInfo, Style } from "../api/types";
import { SafeImage } from "../common/SafeImage";
import { TrashIcon } from "../common/icons";
import { downloadChecked, downloadPosted } from "../common/download";
import { withBase } from "../api/base";
import { ownerOf, removeImages, updateImages, useGalleryFeed, useGalleryImages } from "./galleryData";
import { IndexingBanner } from "./IndexingBanner";
import { useAccount } from "../accounts/account";
import { AddToBoard, BoardsSidebar } from "../boards/BoardsSidebar";
import { useBoards, useRemoveFromBoard } from "../boards/boardsApi";

const GAP = 6;
const MIN_TILE = 150;

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}

function useWidth(ref: React.RefObject<HTMLElement | null>): number {
  const [w, setW] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setW(el.clientWidth);
    const ro = new ResizeObserver(() => setW(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return w;
}

export interface GalleryPageProps {
  providers: ProviderInfo[];
  styles: Style[];
  onOpen: (images: GalleryImage[], index: number) => void;
  onNotice: (message: string) => void;
}

const select =
  "rounded-md border border-neutral-800 bg-neutral-900 px-2 py-1 text-sm text-neutral-200 focus:border-amber-400/70 focus:outline-none";

export default function GalleryPage({ providers, styles, onOpen, onNotice }: GalleryPageProps) {
  const qc = useQueryClient();
  const [search, setSearch] = useState("");
  const [form, setForm] = useState<ImageFilters>({});
  const q = useDebounced(search.trim(), 250);
  const filters = useMemo<ImageFilters>(() => ({ ...form, q: q || undefined }), [form, q]);
  const query = useGalleryImages(filters);
  useGalleryFeed(filters);
  const items = useMemo(() => query.data?.pages.flatMap((p) => p.items) ?? [], [query.data]);
  const total = query.data?.pages[0]?.total;
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [undo, setUndo] = useState<{ ids: string[]; label: string } | null>(null);
  // accounts: boards beside the grid, and who made each image for admins
  const account = useAccount();
  const boards = useBoards(account.accounts);
  const board = boards.data?.find((b) => b.id === form.board);
  const removeFromBoard = useRemoveFromBoard();

  const scrollRef = useRef<HTMLDivElement>(null);
  const width = useWidth(scrollRef);
  const columns = Math.max(2, Math.floor((width + GAP) / (MIN_TILE + GAP)));
  const tile = width > 0 ? (width - GAP * (columns - 1)) / columns : MIN_TILE;
  const rows = Math.ceil(items.length / columns);
  const virtualizer = useVirtualizer({
    count: rows,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => tile + GAP,
    overscan: 2,
  });
  useEffect(() => virtualizer.measure(), [tile, virtualizer]);
  const virtualRows = virtualizer.getVirtualItems();
  const lastRow = virtualRows[virtualRows.length - 1]?.index ?? 0;
  useEffect(() => {
    if (lastRow >= rows - 4 && query.hasNextPage && !query.isFetchingNextPage) void query.fetchNextPage();
  }, [lastRow, rows, query]);

  const allModels = providers.flatMap((p) => p.models.map((m) => ({ provider: p.id, ...m })));
  const ratios = [...new Set(allModels.flatMap((m) => Object.keys(m.aspect_ratios)))];
  const setFilter = (patch: ImageFilters) => setForm((f) => ({ ...f, ...patch }));

  const toggleFavorite = async (image: GalleryImage) => {
    const favorite = !image.favorite;
    updateImages(qc, (list) => list.map((i) => (i.id === image.id ? { ...i, favorite } : i)));
    try {
      await api.setFavorite(image.id, favorite);
    } catch (e) {
      updateImages(qc, (list) => list.map((i) => (i.id === image.id ? { ...i, favorite: !favorite } : i)));
      onNotice(e instanceof ApiError && (e.status === 404 || e.status === 405) ? "Favourites are not available on this server yet." : (e as Error).message);
    }
  };

  const remove = async (ids: string[]) => {
    if (ids.length === 0) return;
    removeImages(qc, new Set(ids));
    setSelected(new Set());
    let deleted: string[];
    try {
      deleted = (await api.removeMany(ids)).deleted;
    } catch (e) {
      void qc.invalidateQueries({ queryKey: ["images"] });
      const error = e as ApiError;
      onNotice(error.status === 404 || error.status === 405 ? "Deleting is not available on this server yet." : error.message);
      return;
    }
    if (deleted.length < ids.length) void qc.invalidateQueries({ queryKey: ["images"] });
    setUndo({ ids: deleted, label: deleted.length === 1 ? "Image deleted" : `${deleted.length} images deleted` });
  };

  const restore = async () => {
    if (!undo) return;
    const ids = undo.ids;
    setUndo(null);
    await Promise.allSettled(ids.map((id) => api.restore(id)));
    void qc.invalidateQueries({ queryKey: ["images"] });
  };

  const exportZip = async () => {
    // a selection goes in the body (any size, in the order it was picked); filters in the URL
    const note =
      selected.size > 0
        ? await downloadPosted(withBase("/api/export.zip"), { ids: [...selected] })
        : await downloadChecked(withBase(`/api/export.zip?${filterParams(filters)}`));
    if (note) onNotice(note);
  };

  const toggleSelect = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  const page = (
    <div className="flex min-w-0 flex-1 flex-col gap-2">
      <IndexingBanner />
      <div className="flex flex-wrap items-center gap-2" role="search" aria-label="Search the gallery">
        <input
          type="search"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
          placeholder="Search prompts, seed:123, model:…"
          aria-label="Search"
          className={select + " min-w-48 flex-1"}
        />
        <select aria-label="Provider" value={form.provider ?? ""} onChange={(e) => setFilter({ provider: e.target.value || undefined, model: undefined })} className={select + " max-w-44"}>
          <option value="">All providers</option>
          {providers.map((p) => (
            <option key={p.id} value={p.id}>
              {p.label}
            </option>
          ))}
        </select>
        <select aria-label="Model" value={form.model ?? ""} onChange={(e) => setFilter({ model: e.target.value || undefined })} className={select + " max-w-44"}>
          <option value="">All models</option>
          {allModels
            .filter((m) => !form.provider || m.provider === form.provider)
            .map((m) => (
              <option key={m.provider + m.id} value={m.id}>
                {m.label}
              </option>
            ))}
        </select>
        <select aria-label="Style" value={form.style ?? ""} onChange={(e) => setFilter({ style: e.target.value || undefined })} className={select + " max-w-36"}>
          <option value="">All styles</option>
          {styles.map((s) => (
            <option key={s.name} value={s.name}>
              {s.label}
            </option>
          ))}
        </select>
        <select aria-label="Aspect ratio" value={form.aspect_ratio ?? ""} onChange={(e) => setFilter({ aspect_ratio: e.target.value || undefined })} className={select}>
          <option value="">All shapes</option>
          {ratios.map((r) => (
            <option key={r}>{r}</option>
          ))}
        </select>
        <label className="flex items-center gap-1 text-sm text-neutral-300">
          <input type="checkbox" checked={!!form.favorite} onChange={(e) => setFilter({ favorite: e.target.checked || undefined })} />
          Favourites
        </label>
        <label className="flex items-center gap-1 text-sm text-neutral-400">
          From
          <input type="date" aria-label="From date" value={form.from ?? ""} onChange={(e) => setFilter({ from: e.target.value || undefined })} className={select} />
        </label>
        <label className="flex items-center gap-1 text-sm text-neutral-400">
          to
          <input type="date" aria-label="To date" value={form.to ?? ""} onChange={(e) => setFilter({ to: e.target.value || undefined })} className={select} />
        </label>
      </div>

      <div className="flex min-h-8 flex-wrap items-center gap-2 text-sm text-neutral-400">
        <span data-testid="gallery-count">
          {query.isLoading ? "Loading…" : total !== undefined ? countLabel(total) : `${items.length.toLocaleString()}${query.hasNextPage ? "+" : ""} images`}
        </span>
        {selected.size > 0 && (
          <>
            <span className="text-neutral-200">{selected.size.toLocaleString()} selected</span>
            <button type="button" onClick={() => void remove([...selected])} className="rounded border border-neutral-700 px-2 py-0.5 text-xs hover:border-red-600 hover:text-red-300">
              Delete selected
            </button>
            {items.length > selected.size && (
              <button type="button" onClick={() => setSelected((s) => new Set([...s, ...items.map((i) => i.id)]))} className="rounded border border-neutral-700 px-2 py-0.5 text-xs">
                Select all {items.length.toLocaleString()} loaded
              </button>
            )}
            <button type="button" onClick={() => setSelected(new Set())} className="rounded border border-neutral-700 px-2 py-0.5 text-xs">
              Clear selection
            </button>
            {account.accounts && <AddToBoard ids={[...selected]} onNotice={onNotice} />}
            {board?.writable && (
              <button
                type="button"
                onClick={() =>
                  removeFromBoard.mutate(
                    { id: board.id, ids: [...selected] },
                    { onSuccess: () => setSelected(new Set()), onError: (e) => onNotice((e as Error).message) },
                  )
                }
                className="rounded border border-neutral-700 px-2 py-0.5 text-xs"
              >
                Remove from “{board.name}”
              </button>
            )}
          </>
        )}
        <button type="button" onClick={() => void exportZip()} className="ml-auto rounded border border-neutral-700 px-2 py-0.5 text-xs text-neutral-200 hover:border-amber-500">
          {selected.size > 0 ? "Export selected as ZIP" : "Export as ZIP"}
        </button>
      </div>

      {query.isError && (
        <p role="alert" className="rounded-md border border-red-900 bg-red-950/40 p-3 text-sm text-red-300">
          {(query.error as Error).message}
        </p>
      )}

      <div ref={scrollRef} className="h-[calc(100dvh-11rem)] overflow-y-auto" data-testid="gallery-scroll" aria-label="Gallery" role="region">
        {!query.isLoading && items.length === 0 && !query.isError && (
          <p className="p-8 text-center text-sm text-neutral-500">No images{q || Object.keys(form).length ? " match" : " yet"}.</p>
        )}
        <div style={{ height: virtualizer.getTotalSize(), position: "relative" }} role="list">
          {virtualRows.map((row) => (
            <div
              key={row.key}
              style={{ position: "absolute", top: 0, left: 0, right: 0, height: tile, transform: `translateY(${row.start}px)` }}
              className="flex"
            >
              {items.slice(row.index * columns, row.index * columns + columns).map((img, col) => {
                const index = row.index * columns + col;
                const isSelected = selected.has(img.id);
                return (
                  <div
                    key={img.id}
                    role="listitem"
                    data-image-id={img.id}
                    className={"group relative shrink-0 overflow-hidden rounded-md bg-neutral-900 " + (isSelected ? "ring-2 ring-amber-400" : "")}
                    style={{ width: tile, height: tile, marginLeft: col === 0 ? 0 : GAP }}
                  >
                    <button
                      type="button"
                      className="block h-full w-full"
                      aria-label={`Open: ${img.prompt || img.path}`}
                      onClick={(e) => (e.shiftKey || e.metaKey || e.ctrlKey || selected.size > 0 ? toggleSelect(img.id) : onOpen(items, index))}
                    >
                      {img.readable === false ? (
                        <div className="flex h-full items-center justify-center p-2 text-center text-xs text-neutral-500">⚠ unreadable file</div>
                      ) : (
                        <SafeImage src={img.thumb_url || img.url} alt={img.prompt || img.path} loading="lazy" decoding="async" className="h-full w-full object-cover" />
                      )}
                    </button>
                    <input
                      type="checkbox"
                      checked={isSelected}
                      onChange={() => toggleSelect(img.id)}
                      aria-label={`Select ${img.prompt || img.path}`}
                      className={"absolute left-1.5 top-1.5 h-4 w-4 accent-amber-400 " + (isSelected || selected.size ? "" : "opacity-0 group-hover:opacity-100 focus:opacity-100")}
                    />
                    <div className="absolute right-1 top-1 flex gap-1 opacity-0 transition-opacity group-hover:opacity-100 group-focus-within:opacity-100">
                      <button
                        type="button"
                        onClick={() => void toggleFavorite(img)}
                        aria-pressed={!!img.favorite}
                        aria-label={img.favorite ? "Unfavourite" : "Favourite"}
                        className="rounded bg-neutral-950/80 px-1.5 text-sm"
                      >
                        {img.favorite ? "★" : "☆"}
                      </button>
                      <button type="button" onClick={() => void remove([img.id])} aria-label="Delete" className="rounded bg-neutral-950/80 px-1.5 py-1 text-sm hover:text-red-300">
                        <TrashIcon />
                      </button>
                    </div>
                    {img.favorite && <span className="pointer-events-none absolute bottom-1 right-1.5 text-amber-300 group-hover:hidden" aria-hidden>★</span>}
                    {account.isAdmin && ownerOf(img) && (
                      <span data-testid="image-owner" className="pointer-events-none absolute bottom-1 left-1 max-w-[70%] truncate rounded bg-neutral-950/80 px-1 text-[10px] text-neutral-300">
                        {ownerOf(img)}
                      </span>
                    )}
                  </div>
                );
              })}
            </div>
          ))}
        </div>
      </div>

      {undo && (
        <div role="status" className="fixed bottom-4 left-1/2 z-40 flex -translate-x-1/2 items-center gap-3 rounded-lg border border-neutral-700 bg-neutral-900 px-4 py-2 text-sm shadow-xl">
          {undo.label}
          <button type="button" onClick={() => void restore()} className="font-semibold text-amber-300 hover:text-amber-200">
            Undo
          </button>
          <button type="button" aria-label="Dismiss" onClick={() => setUndo(null)} className="text-neutral-500">
            ×
          </button>
        </div>
      )}
    </div>
  );
  if (!account.accounts) return page;
  return (
    <div className="flex flex-col gap-3 lg:flex-row">
      <BoardsSidebar
        selected={form.board}
        onSelect={(id) => {
          setSelected(new Set());
          setFilter({ board: id });
        }}
        onNotice={onNotice}
      />
      {page}
    </div>
  );
}

function countLabel(n: number): string {
  return n === 1 ? "1 image" : `${n.toLocaleString()} images`;
}
