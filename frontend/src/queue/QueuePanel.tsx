// The queue panel of the studio: the queued jobs in the order they will run, drag (or the
// move buttons) to reorder, pause/resume, cancel all. Live from the queue feed.
import { useCallback, useEffect, useRef, useState } from "react";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { liveConnection } from "../api/live";
import type { QueueItem } from "../api/schema.generated";
import { queueApi, type MoveTarget } from "./queueApi";
import { dropPosition, moved } from "./queueOrder";

const QUEUE_KEY = ["queue"];

const PRIORITY_STYLE: Record<string, string> = {
  high: "bg-amber-900/70 text-amber-200",
  normal: "bg-neutral-800 text-neutral-300",
  low: "bg-neutral-900 text-neutral-500",
};

function useLiveQueue() {
  const queryClient = useQueryClient();
  const query = useQuery({ queryKey: QUEUE_KEY, queryFn: queueApi.get });
  useEffect(() => {
    let off: (() => void) | undefined;
    let alive = true;
    const reload = () => void queryClient.invalidateQueries({ queryKey: QUEUE_KEY });
    void liveConnection().then((live) => {
      if (!alive) return;
      const offFeed = live.subscribeFeed("queue", reload);
      const offAgain = live.onResubscribed("queue", reload); // the feed is not replayed
      off = () => {
        offFeed();
        offAgain();
      };
    });
    return () => {
      alive = false;
      off?.();
    };
  }, [queryClient]);
  return query;
}

export function QueuePanel({ onNotice }: { onNotice: (message: string) => void }) {
  const queryClient = useQueryClient();
  const queue = useLiveQueue();
  const [order, setOrder] = useState<string[] | null>(null); // shown while a move is on its way
  const [dragging, setDragging] = useState<string | null>(null);
  const [confirmCancel, setConfirmCancel] = useState(false);
  const confirmTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(confirmTimer.current), []);

  const paused = queue.data?.paused ?? false;
  const byId = new Map((queue.data?.items ?? []).map((item) => [item.job_id, item]));
  const ids = order?.filter((id) => byId.has(id)) ?? (queue.data?.items ?? []).map((i) => i.job_id);
  const items = ids.map((id) => byId.get(id)).filter((i): i is QueueItem => i !== undefined);

  const act = useCallback(
    async (action: () => Promise<unknown>) => {
      try {
        await action();
      } catch (e) {
        onNotice(e instanceof ApiError ? e.message : String(e));
      } finally {
        await queryClient.invalidateQueries({ queryKey: QUEUE_KEY });
        setOrder(null);
      }
    },
    [onNotice, queryClient],
  );

  const move = (id: string, to: MoveTarget) => {
    const position = to === "front" ? 1 : to === "back" ? ids.length : to;
    setOrder(moved(ids, id, position));
    void act(() => queueApi.move(id, to));
  };

  const cancelAll = () => {
    if (!confirmCancel) {
      setConfirmCancel(true);
      clearTimeout(confirmTimer.current);
      confirmTimer.current = setTimeout(() => setConfirmCancel(false), 4000);
      return;
    }
    setConfirmCancel(false);
    void act(async () => {
      const { cancelled } = await queueApi.cancelAll();
      onNotice(`Cancelled ${cancelled.length} queued job${cancelled.length === 1 ? "" : "s"}`);
    });
  };

  if (queue.isError || !queue.data) return null;

  return (
    <section
      aria-label="Queue"
      className={
        "rounded-lg border bg-neutral-950 p-2 " + (paused ? "border-amber-800/70" : "border-neutral-800")
      }
    >
      <header className="flex flex-wrap items-center gap-2 px-1">
        <h2 className="text-sm font-semibold text-neutral-200">Queue</h2>
        <span className="text-xs text-neutral-500" aria-live="polite">
          {items.length === 0 ? "empty" : `${items.length} waiting`}
        </span>
        {paused && (
          <span role="status" className="rounded bg-amber-900/70 px-1.5 py-0.5 text-xs font-medium text-amber-200">
            Paused
          </span>
        )}
        <span className="flex-1" />
        <button
          type="button"
          onClick={() => void act(paused ? queueApi.resume : queueApi.pause)}
          className="rounded-md border border-neutral-700 px-2 py-1 text-xs text-neutral-200 hover:bg-neutral-800"
        >
          {paused ? "Resume queue" : "Pause queue"}
        </button>
        {items.length > 0 && (
          <button
            type="button"
            onClick={cancelAll}
            className={
              "rounded-md border px-2 py-1 text-xs disabled:opacity-40 " +
              (confirmCancel ? "border-red-700 bg-red-950 text-red-200" : "border-neutral-700 text-neutral-300 hover:bg-neutral-800")
            }
          >
            {confirmCancel ? `Really cancel ${items.length}?` : "Cancel all queued"}
          </button>
        )}
      </header>
      {paused && (
        <p className="px-1 pt-1 text-xs text-amber-300/80">Paused: running jobs finish, nothing new starts.</p>
      )}
      {items.length > 0 && (
        <ol aria-label="Queued jobs, next to run first" className="mt-2 flex max-h-72 flex-col gap-1 overflow-y-auto">
          {items.map((item, index) => {
            const position = index + 1;
            return (
              <li
                key={item.job_id}
                data-job-id={item.job_id}
                draggable
                onDragStart={(e) => {
                  e.dataTransfer.setData("text/plain", item.job_id);
                  e.dataTransfer.effectAllowed = "move";
                  setDragging(item.job_id);
                }}
                onDragEnd={() => setDragging(null)}
                onDragOver={(e) => {
                  if (dragging) e.preventDefault();
                }}
                onDrop={(e) => {
                  e.preventDefault();
                  const from = dragging ?? e.dataTransfer.getData("text/plain");
                  setDragging(null);
                  const to = from ? dropPosition(ids, from, item.job_id) : null;
                  if (from && to !== null) move(from, to);
                }}
                className={
                  "flex items-center gap-2 rounded-md border px-2 py-1 text-sm " +
                  (dragging === item.job_id ? "border-sky-700 bg-sky-950/40 opacity-60" : "border-neutral-800 bg-neutral-900")
                }
              >
                <span aria-hidden className="cursor-grab select-none text-neutral-600" title="Drag to reorder">
                  ⠿
                </span>
                <span className="w-6 shrink-0 text-right text-xs tabular-nums text-neutral-500">#{position}</span>
                <span className="min-w-0 flex-1 truncate text-neutral-200" title={item.request.prompt}>
                  {item.request.prompt}
                </span>
                <span className="hidden shrink-0 text-xs text-neutral-500 sm:inline">{item.provider}</span>
                {item.priority !== "normal" && (
                  <span className={"shrink-0 rounded px-1 text-[10px] uppercase " + PRIORITY_STYLE[item.priority]}>
                    {item.priority}
                  </span>
                )}
                <span className="flex shrink-0 gap-0.5">
                  <QueueButton label={`Run next: ${item.request.prompt}`} disabled={position === 1} onClick={() => move(item.job_id, "front")}>
                    Run next
                  </QueueButton>
                  <QueueButton label={`Move up: ${item.request.prompt}`} disabled={position === 1} onClick={() => move(item.job_id, position - 1)}>
                    ↑
                  </QueueButton>
                  <QueueButton
                    label={`Move down: ${item.request.prompt}`}
                    disabled={position === items.length}
                    onClick={() => move(item.job_id, position + 1)}
                  >
                    ↓
                  </QueueButton>
                </span>
              </li>
            );
          })}
        </ol>
      )}
    </section>
  );
}

function QueueButton(props: { label: string; disabled: boolean; onClick: () => void; children: React.ReactNode }) {
  return (
    <button
      type="button"
      aria-label={props.label}
      title={props.label}
      disabled={props.disabled}
      onClick={props.onClick}
      className="rounded px-1.5 py-0.5 text-xs text-neutral-300 hover:bg-neutral-800 disabled:opacity-30"
    >
      {props.children}
    </button>
  );
}
