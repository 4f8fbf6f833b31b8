import { afterEach, describe, expect, it, vi } from "vitest";
import { render, screen } from "@testing-library/react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { IndexingBanner, galleryStatusApi, indexingText } from "./IndexingBanner";

const status = {
  indexing: true,
  indexed: 34_000,
  total: 100_000 as number | null,
  started_at: "2026-01-01T00:00:00.000Z",
  finished_at: null,
  seconds: null,
  watch: "events" as const,
  watch_reason: "file events",
  images: 34_000,
};

function show() {
  render(
    <QueryClientProvider client={new QueryClient()}>
      <IndexingBanner />
    </QueryClientProvider>,
  );
}

afterEach(() => vi.restoreAllMocks());

describe("the indexing banner", () => {
  it("says how far the background index has come", async () => {
    vi.spyOn(galleryStatusApi, "status").mockResolvedValue(status);
    show();
    expect(await screen.findByRole("status", { name: "Gallery indexing" })).toHaveTextContent("Indexing 34,000 of 100,000");
  });

  it("before the folder is walked, says how many so far", () => {
    expect(indexingText({ indexed: 1200, total: null })).toBe("Indexing the gallery folder: 1,200 images so far");
  });

  it("is not shown once the index is complete", async () => {
    const done = vi.spyOn(galleryStatusApi, "status").mockResolvedValue({ ...status, indexing: false, indexed: 100_000 });
    show();
    await vi.waitFor(() => expect(done).toHaveBeenCalled());
    expect(screen.queryByRole("status", { name: "Gallery indexing" })).toBeNull();
  });
});
