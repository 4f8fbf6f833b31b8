import { describe, expect, it } from "vitest";
import type { GalleryImage, JobEvent } from "../api/types";
import { LiveConnection } from "../api/live";
import { FakeSocket } from "../test/fakeSocket";
import { applyEvent, applySnapshot, fromJob, imageList } from "./jobState";
import { JobsStore } from "./jobsStore";
import { job } from "../test/fixtures";

const image = (i: number) => ({ id: "img" + i, url: `/images/${i}.png`, prompt: "a lake" }) as GalleryImage;
const base = { job_id: "j1", ts: 1_800_000_000 };

const script: JobEvent[] = [
  { ...base, seq: 2, type: "job.started" },
  { ...base, seq: 3, type: "job.progress", progress: 0.25, index: 0, step: 1, total_steps: 2, message: "first half" },
  { ...base, seq: 4, type: "job.preview", index: 0, width: 32, height: 32, mime: "image/jpeg", url: "blob:p0" },
  { ...base, seq: 5, type: "job.image", index: 0, image: image(0) },
  { ...base, seq: 6, type: "job.progress", progress: 0.75, index: 1, step: 1, total_steps: 2, message: "second" },
  { ...base, seq: 7, type: "job.image", index: 1, image: image(1) },
  { ...base, seq: 8, type: "job.succeeded", images: [image(0), image(1)] },
];

describe("job card state machine", () => {
  it("follows a scripted event sequence from queued to succeeded", () => {
    let v = fromJob(job());
    expect(v.status).toBe("queued");
    expect(v.position).toBe(1);
    v = applyEvent(v, { ...base, seq: 2, type: "job.queued", position: 3 });
    expect(v.position).toBe(3);
    const states = [];
    for (const e of script.map((e) => ({ ...e, seq: e.seq + 1 }))) {
      v = applyEvent(v, e);
      states.push([v.status, v.progress]);
    }
    expect(states[0]).toEqual(["running", 0]);
    expect(states[1]).toEqual(["running", 0.25]);
    expect(v.step).toBe(1);
    expect(v.previews[0]!.url).toBe("blob:p0");
    expect(v.status).toBe("succeeded");
    expect(v.progress).toBe(1);
    expect(imageList(v).map((i) => i.id)).toEqual(["img0", "img1"]);
  });

  it("ignores duplicates and events from before what it has applied", () => {
    let v = fromJob(job());
    for (const e of script.slice(0, 4)) v = applyEvent(v, e);
    const before = v;
    for (const e of script.slice(0, 4)) v = applyEvent(v, e);
    expect(v).toBe(before);
  });

  it("shows an indeterminate status and a failure in plain words", () => {
    let v = fromJob(job());
    v = applyEvent(v, { ...base, seq: 2, type: "job.started" });
    v = applyEvent(v, { ...base, seq: 3, type: "job.progress", progress: null, message: "waiting for the provider" });
    expect(v.progress).toBeNull();
    expect(v.message).toBe("waiting for the provider");
    v = applyEvent(v, { ...base, seq: 4, type: "job.failed", error: { code: "moderation_blocked", message: "refused", retryable: false } });
    expect(v.status).toBe("failed");
    expect(v.error?.code).toBe("moderation_blocked");
  });
});

const flush = () => new Promise((r) => setTimeout(r, 0));

describe("a snapshot from a re-subscribe", () => {
  it("brings a waiting job's place up to date, though no event of its own was missed", () => {
    // past the 20th place no job.queued tells a move: the queue feed does, and it is not replayed
    const view = fromJob(job({ position: 23 }), 1);
    const next = applySnapshot(view, job({ position: 21 }), 1);
    expect(next.position).toBe(21);
    expect(next.seq).toBe(1);
  });

  it("keeps the snapshot's place when the events before it are replayed", () => {
    // a tab follows the job from its start: the snapshot is at seq 1, its job.queued (seq 1)
    // told the place at submit, 23; the queue has moved since, to 21
    let view = fromJob(job({ position: 23, last_seq: 0 }), 0);
    view = applySnapshot(view, job({ position: 21, last_seq: 1 }), 1);
    view = applyEvent(view, { ...base, seq: 1, type: "job.queued", position: 23 });
    expect(view.position).toBe(21);
    expect(view.seq).toBe(1);
    // a move told after the snapshot still counts
    view = applyEvent(view, { ...base, seq: 2, type: "job.queued", position: 20 });
    expect(view.position).toBe(20);
  });

  it("keeps everything else of a view that is as new as the snapshot", () => {
    const view = applyEvent(fromJob(job(), 1), { ...base, seq: 2, type: "job.started" });
    expect(applySnapshot(view, job({ position: 4 }), 2)).toBe(view);
  });
});

describe("job store over a reconnecting socket", () => {
  it("re-subscribes with its last seq after a drop and applies the replay without gaps or repeats", async () => {
    const socket = new FakeSocket();
    const live = new LiveConnection(socket);
    const states: string[] = [];
    live.onStateChange(() => states.push(live.state));
    const store = new JobsStore(async () => live);
    socket.ackWith = () => ({ ok: true, job: job(), last_seq: 1 });
    socket.up();
    store.track(job());
    await flush();
    expect(socket.emitted).toContainEqual(["subscribe", { job_id: "j1", after_seq: 0 }]);

    for (const e of script.slice(0, 3)) socket.server(e); // started, progress, preview
    expect(store.get("j1")!.seq).toBe(4);

    socket.down(); // the connection drops; the job goes on without us
    expect(live.state).toBe("lost");
    socket.ackWith = () => ({
      ok: true,
      job: job({ status: "running", progress: 0.75, message: "second", images: [image(0)], position: null }),
      last_seq: 6,
    });
    socket.up();
    expect(states).toEqual(["connected", "lost", "connected"]);
    const resub = socket.emitted.filter(([e, p]) => e === "subscribe" && p.job_id); // the queue feed's too, while it waits
    expect(resub[resub.length - 1]).toEqual(["subscribe", { job_id: "j1", after_seq: 4 }]);

    // the server replays seq 5 and 6 after the ack, then goes on live
    for (const e of script.slice(3)) socket.server(e);
    socket.server(script[3]!); // a duplicate delivery changes nothing
    const v = store.get("j1")!;
    expect(v.status).toBe("succeeded");
    expect(v.seq).toBe(8);
    expect(imageList(v).map((i) => i.id)).toEqual(["img0", "img1"]);
  });

  it("recovers from the snapshot when the server no longer holds the missed events", async () => {
    const socket = new FakeSocket();
    const live = new LiveConnection(socket);
    const store = new JobsStore(async () => live);
    socket.ackWith = () => ({ ok: true, job: job(), last_seq: 1 });
    socket.up();
    store.track(job());
    await flush();
    socket.down();
    socket.ackWith = () => ({ ok: true, job: job({ status: "succeeded", images: [image(0), image(1)], progress: 1 }), last_seq: 9 });
    socket.up(); // no replay follows: retention expired
    const v = store.get("j1")!;
    expect(v.status).toBe("succeeded");
    expect(imageList(v)).toHaveLength(2);
  });
});
