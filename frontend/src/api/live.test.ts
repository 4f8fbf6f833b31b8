import { afterEach, describe, expect, it, vi } from "vitest";
import { FakeSocket } from "../test/fakeSocket";
import { LiveConnection as Live } from "./live";

// The studio behind a proxy at /studio: every root-relative URL the server sends, in
// REST answers, events and subscribe acks alike, must reach the page under /studio.
describe("under a sub-path", () => {
  afterEach(() => {
    document.querySelector("base")?.remove();
    vi.resetModules();
  });

  async function loadUnder(path: string) {
    const base = document.createElement("base");
    base.href = path;
    document.head.append(base);
    vi.resetModules(); // BASE is read from the page's address when the module loads
    return await import("./live");
  }

  const image = { id: "i1", url: "/images/2026-11-21/a.png", thumb_url: "/thumbs/256/i1/h.webp", prompt: "p" };

  it("rebases the URLs in a subscribe ack's snapshot, job events and feed events", async () => {
    const { LiveConnection } = await loadUnder("/studio/");
    const socket = new FakeSocket();
    const live = new LiveConnection(socket);
    const snapshots: any[] = [];
    const events: any[] = [];
    const feed: any[] = [];
    socket.ackWith = () => ({ ok: true, job: { id: "j1", status: "succeeded", images: [image] }, last_seq: 3 });
    live.subscribeJob("j1", { onSnapshot: (job) => snapshots.push(job), onEvent: (e) => events.push(e), lastSeq: () => 0 });
    live.subscribeFeed("gallery", (event) => void feed.push(event));
    socket.up();
    socket.fire("job.image", { job_id: "j1", seq: 4, index: 0, image });
    socket.fire("gallery.added", { image });

    const rebased = { ...image, url: "/studio/images/2026-11-21/a.png", thumb_url: "/studio/thumbs/256/i1/h.webp" };
    expect(snapshots[0].images).toEqual([rebased]);
    expect(events[0].image).toEqual(rebased);
    expect(feed[0].image).toEqual(rebased);
  });

  it("leaves URLs alone at the root", async () => {
    const { LiveConnection } = await loadUnder("/");
    const socket = new FakeSocket();
    const live = new LiveConnection(socket);
    const snapshots: any[] = [];
    socket.ackWith = () => ({ ok: true, job: { id: "j1", status: "succeeded", images: [image] }, last_seq: 3 });
    live.subscribeJob("j1", { onSnapshot: (job) => snapshots.push(job), onEvent: () => {}, lastSeq: () => 0 });
    socket.up();
    expect(snapshots[0].images).toEqual([image]);
  });
});

describe("after a reconnect", () => {
  it("a feed's reload waits until the server has taken the subscription again", () => {
    const socket = new FakeSocket();
    const live = new Live(socket);
    const reloads: string[] = [];
    live.subscribeFeed("gallery", () => {});
    live.onResubscribed("gallery", () => reloads.push("gallery"));
    socket.up();
    expect(reloads).toEqual([]); // the first connection has nothing to catch up on
    socket.down();
    const acks: ((response: unknown) => void)[] = [];
    socket.emit = (event, payload, ack) => {
      socket.emitted.push([event, payload]);
      if (ack) acks.push(ack);
    };
    socket.up();
    // a change between the reconnect and the server's join would be missed by a reload now
    expect(reloads).toEqual([]);
    acks.forEach((ack) => ack({ ok: true, topic: "gallery" }));
    expect(reloads).toEqual(["gallery"]);
  });
});

describe("a feed's confirmation", () => {
  it("runs once the server acknowledges the subscription, and again after each reconnect", () => {
    const socket = new FakeSocket();
    const live = new Live(socket);
    const confirmed: number[] = [];
    socket.ackWith = () => ({ ok: true, topic: "queue" });
    live.subscribeFeed("queue", () => {}, () => confirmed.push(1));
    expect(confirmed).toEqual([]); // not connected yet: nothing is confirmed
    socket.up();
    expect(confirmed).toEqual([1]);
    socket.down();
    socket.up();
    expect(confirmed).toEqual([1, 1]); // what changed while disconnected is loaded again
    socket.ackWith = () => ({ ok: false, error: { code: "bad", message: "no" } });
    socket.down();
    socket.up();
    expect(confirmed).toEqual([1, 1]); // a refused subscription confirms nothing
  });
});
