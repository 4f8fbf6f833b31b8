// Every event the server sends (events.generated.ts, written from
// backend/services/event_types.py) is listened to and changes what the SPA shows.
import { afterEach, describe, expect, it } from "vitest";
import { createElement, type ReactNode } from "react";
import { QueryClient, QueryClientProvider, type InfiniteData } from "@tanstack/react-query";
import { renderHook, waitFor } from "@testing-library/react";
import type { ImageFilters } from "./client";
import { LiveConnection, setLiveConnection, type TopicEvent } from "./live";
import {
  FEED_EVENT_TOPICS,
  JOB_EVENT_NAMES,
  type FeedEventName,
  type GalleryImage,
  type JobEvent,
  type JobEventName,
  type Page,
} from "./types";
import { FakeSocket } from "../test/fakeSocket";
import { job } from "../test/fixtures";
import { applyGalleryEvent, useGalleryFeed } from "../gallery/galleryData";
import { STATUS_KEY } from "../gallery/IndexingBanner";
import { applyEvent, fromJob } from "../jobs/jobState";
import { JobsStore } from "../jobs/jobsStore";
import { applyUpdate } from "../matrix/useMatrix";
import { useProvidersFeed } from "../providers/settingsApi";
import type { Matrix } from "./types";

const MATRIX: Matrix = {
  id: "m1",
  created_at: "2026-01-01T00:00:00Z",
  status: "running",
  base: { prompt: "a lake" },
  axes: [{ field: "seed", values: [1] }],
  cells: [],
  warnings: [],
  estimate: { cells: 1, jobs: 1, skipped: 0, cost_usd: 0, unpriced_jobs: 1 },
  grid_image: null,
};

type Pages = InfiniteData<Page<GalleryImage>, string | null>;
const image = (id: string, extra: Partial<GalleryImage> = {}) =>
  ({ id, url: `/images/${id}.png`, path: `${id}.png`, prompt: "a lake", favorite: false, ...extra }) as GalleryImage;
const base = { job_id: "j1", seq: 2, ts: 1_800_000_000 };
const flush = () => new Promise((r) => setTimeout(r, 0));

function cached(qc: QueryClient, filters: ImageFilters, items: GalleryImage[]) {
  qc.setQueryData<Pages>(["images", filters], { pages: [{ items, next_cursor: null, total: items.length }], pageParams: [null] });
}
const ids = (qc: QueryClient, filters: ImageFilters) => qc.getQueryData<Pages>(["images", filters])!.pages[0]!.items;

// one sample of each job event; the type does not compile when a generated name lacks one
const JOB_SAMPLES: { [K in JobEventName]: Extract<JobEvent, { type: K }> } = {
  "job.queued": { ...base, type: "job.queued", position: 3 },
  "job.started": { ...base, type: "job.started", worker: "w1" },
  "job.progress": { ...base, type: "job.progress", progress: null, message: "OpenAI rate limited; retry 1 of 4" },
  "job.preview": { ...base, type: "job.preview", index: 0, width: 8, height: 8, mime: "image/jpeg", url: "blob:p" },
  "job.image": { ...base, type: "job.image", index: 0, image: image("i0") },
  "job.succeeded": { ...base, type: "job.succeeded", images: [image("i0")] },
  "job.failed": { ...base, type: "job.failed", error: { code: "quota", message: "out of credit", retryable: false } },
  "job.cancelled": { ...base, type: "job.cancelled" },
  "job.interrupted": {
    ...base,
    type: "job.interrupted",
    error: { code: "interrupted", message: "the worker stopped", retryable: true },
  },
};

describe("every event the server sends", () => {
  it("is listened to by the tab's connection", () => {
    const socket = new FakeSocket();
    new LiveConnection(socket);
    const all = [...JOB_EVENT_NAMES, ...Object.keys(FEED_EVENT_TOPICS)];
    expect(all.filter((name) => !socket.handlers.has(name))).toEqual([]);
  });

  it.each(JOB_EVENT_NAMES)("%s changes the job card", (name) => {
    const view = fromJob(job());
    const next = applyEvent(view, JOB_SAMPLES[name]);
    expect({ ...next, seq: view.seq }).not.toEqual(view);
  });

  // one check of each feed event; the type does not compile when a generated name lacks one
  const FEED_CHECKS: { [K in FeedEventName]: () => Promise<void> } = {
    "gallery.added": async () => {
      const qc = new QueryClient();
      cached(qc, {}, [image("a")]);
      applyGalleryEvent(qc, {}, { type: "gallery.added", ts: 1, image: image("b") });
      expect(ids(qc, {}).map((i) => i.id)).toEqual(["b", "a"]);
    },
    "gallery.removed": async () => {
      const qc = new QueryClient();
      cached(qc, {}, [image("a"), image("b")]);
      applyGalleryEvent(qc, {}, { type: "gallery.removed", ts: 1, id: "a", path: "a.png", reason: "deleted" });
      expect(ids(qc, {}).map((i) => i.id)).toEqual(["b"]);
    },
    "gallery.updated": async () => {
      const qc = new QueryClient();
      const other = { q: "lake" };
      cached(qc, {}, [image("a"), image("b")]);
      cached(qc, other, [image("b")]);
      applyGalleryEvent(qc, {}, { type: "gallery.updated", ts: 1, image: image("b", { favorite: true }) });
      expect(ids(qc, {}).map((i) => [i.id, i.favorite])).toEqual([
        ["a", false],
        ["b", true],
      ]);
      expect(ids(qc, other)[0]!.favorite).toBe(true); // every listing that shows it
    },
    "gallery.indexing": async () => {
      const qc = new QueryClient();
      const status = { indexing: true, indexed: 10, total: 100, started_at: null, finished_at: null, seconds: null };
      qc.setQueryData(STATUS_KEY, { ...status, watch: "events", watch_reason: "", images: 10 });
      cached(qc, {}, [image("a")]);
      applyGalleryEvent(qc, {}, { type: "gallery.indexing", ts: 1, indexing: true, indexed: 40, total: 100 });
      expect(qc.getQueryData<{ indexed: number }>(STATUS_KEY)!.indexed).toBe(40); // the banner follows
      expect(qc.getQueryState(["images", {}])!.isInvalidated).toBe(true); // a listing not full yet is loaded again
    },
    "queue.updated": async () => {
      const socket = new FakeSocket();
      const live = new LiveConnection(socket);
      const store = new JobsStore(async () => live);
      socket.ackWith = () => ({ ok: true, job: job(), last_seq: 1 });
      socket.up();
      store.track(job()); // queued, place 1 when submitted
      await flush();
      expect(socket.emitted).toContainEqual(["subscribe", { topic: "queue" }]);
      const queued = Array.from({ length: 30 }, (_, i) => `other${i}`);
      queued.splice(24, 0, "j1"); // place 25: past the 20 places job.queued reports
      socket.fire("queue.updated", { queued, running: ["x"], ts: 1 });
      expect(store.get("j1")!.position).toBe(25);
      socket.server({ ...base, type: "job.started" });
      await flush();
      expect(socket.emitted).toContainEqual(["unsubscribe", { topic: "queue" }]); // nothing waits now
    },
    "matrix.updated": async () => {
      const socket = new FakeSocket();
      const live = new LiveConnection(socket);
      const cell = { coords: [0], job_id: "j1", status: "queued", image_ids: [], reason: null };
      const matrix = { ...MATRIX, cells: [cell] };
      socket.ackWith = () => ({ ok: true, matrix });
      socket.up();
      let shown: Matrix | null = null;
      live.subscribeMatrix("m1", {
        onSnapshot: (m) => (shown = m),
        onEvent: (event) => (shown = applyUpdate(shown, event)),
      });
      expect(socket.emitted).toContainEqual(["subscribe", { matrix_id: "m1" }]);
      const done = { ...cell, status: "succeeded", image_ids: ["i0"] };
      socket.fire("matrix.updated", { matrix_id: "m1", status: "rendering", done: 1, total: 1, cell: done, ts: 1 });
      socket.fire("matrix.updated", { matrix_id: "other", status: "done", done: 1, total: 1, ts: 1 });
      expect(shown!.status).toBe("rendering");
      expect(shown!.cells[0]).toEqual(done);
    },
    "providers.changed": async () => {
      // a save on the Providers page (here or in another tab): the catalog and the settings are asked again
      const socket = new FakeSocket();
      const live = new LiveConnection(socket);
      setLiveConnection(live);
      socket.up();
      const qc = new QueryClient();
      qc.setQueryData(["providers"], []);
      qc.setQueryData(["provider-settings", "openai"], { version: 1 });
      const wrapper = ({ children }: { children: ReactNode }) => createElement(QueryClientProvider, { client: qc }, children);
      const view = renderHook(() => useProvidersFeed(), { wrapper });
      await waitFor(() => expect(socket.emitted).toContainEqual(["subscribe", { topic: "providers" }]));
      expect(qc.getQueryState(["providers"])!.isInvalidated).toBe(false);
      socket.fire("providers.changed", { provider: "openai", version: 2, ts: 1 });
      expect(qc.getQueryState(["providers"])!.isInvalidated).toBe(true);
      expect(qc.getQueryState(["provider-settings", "openai"])!.isInvalidated).toBe(true);
      view.unmount();
      setLiveConnection(null);
    },
  };

  it("has a check of each feed event", () => {
    expect(Object.keys(FEED_CHECKS).sort()).toEqual(Object.keys(FEED_EVENT_TOPICS).sort());
  });

  it.each(Object.keys(FEED_EVENT_TOPICS) as FeedEventName[])("%s changes what the tab shows", async (name) => {
    await FEED_CHECKS[name]();
  });
});

describe("gallery.updated", () => {
  afterEach(() => setLiveConnection(null));

  it("shows a favourite toggled in another tab in the open gallery grid", async () => {
    const socket = new FakeSocket();
    const live = new LiveConnection(socket);
    setLiveConnection(live);
    socket.up();
    const qc = new QueryClient();
    const filters: ImageFilters = {};
    cached(qc, filters, [image("a"), image("b")]);
    const wrapper = ({ children }: { children: ReactNode }) => createElement(QueryClientProvider, { client: qc }, children);
    renderHook(() => useGalleryFeed(filters), { wrapper });
    await waitFor(() => expect(socket.emitted).toContainEqual(["subscribe", { topic: "gallery" }]));

    socket.fire("gallery.updated", { image: image("a", { favorite: true }), ts: 1 });
    expect(ids(qc, filters).find((i) => i.id === "a")!.favorite).toBe(true);
  });

  it("reloads a favourites-only listing, which may gain or lose the image", async () => {
    const qc = new QueryClient();
    const favourites: ImageFilters = { favorite: true };
    cached(qc, favourites, [image("a", { favorite: true })]);
    const event: TopicEvent<"gallery"> = { type: "gallery.updated", ts: 1, image: image("a") };
    applyGalleryEvent(qc, favourites, event);
    expect(qc.getQueryState(["images", favourites])!.isInvalidated).toBe(true);
  });
});
