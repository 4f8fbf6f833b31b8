// The gallery's boards: "All images" and each board (own and shared) to filter the grid by,
// a new board, and for the chosen one rename, private/shared, delete and export.
import { useState, type FormEvent } from "react";
import { downloadChecked } from "../common/download";
import { useAccount } from "../accounts/account";
import { boardExportUrl, checkBoardName, useAddToBoard, useBoards, useCreateBoard, useDeleteBoard, useUpdateBoard, type Board } from "./boardsApi";

const field =
  "min-w-0 flex-1 rounded-md border border-neutral-800 bg-neutral-900 px-2 py-1 text-sm text-neutral-200 focus:border-amber-400/70 focus:outline-none";
const small = "rounded border border-neutral-700 px-2 py-0.5 text-xs text-neutral-200 hover:border-amber-400 disabled:opacity-40";

function BoardTools({ board, onDeleted, onNotice }: { board: Board; onDeleted: () => void; onNotice: (m: string) => void }) {
  const update = useUpdateBoard();
  const remove = useDeleteBoard();
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirming, setConfirming] = useState(false);
  const error = update.error ?? remove.error;
  const rename = (e: FormEvent) => {
    e.preventDefault();
    if (renaming === null) return;
    const wrong = checkBoardName(renaming);
    if (wrong) return onNotice(wrong);
    update.mutate({ id: board.id, patch: { name: renaming.trim() } }, { onSuccess: () => setRenaming(null) });
  };
  return (
    <div className="mt-2 flex flex-col gap-1.5 rounded-md border border-neutral-800 p-2" aria-label={`Board ${board.name}`} role="group">
      {renaming !== null ? (
        <form onSubmit={rename} className="flex gap-1">
          <input aria-label="New name" className={field} value={renaming} onChange={(e) => setRenaming(e.target.value)} autoFocus maxLength={120} />
          <button type="submit" className={small}>
            Save
          </button>
        </form>
      ) : (
        <div className="flex flex-wrap gap-1">
          {board.writable && (
            <>
              <button type="button" className={small} onClick={() => setRenaming(board.name)}>
                Rename
              </button>
              <button
                type="button"
                className={small}
                onClick={() => update.mutate({ id: board.id, patch: { visibility: board.visibility === "shared" ? "private" : "shared" } })}
              >
                {board.visibility === "shared" ? "Make private" : "Share"}
              </button>
            </>
          )}
          <button type="button" className={small} onClick={() => void downloadChecked(boardExportUrl(board.id)).then((n) => n && onNotice(n))}>
            Export ZIP
          </button>
          {board.writable &&
            (confirming ? (
              <button
                type="button"
                className={small + " border-red-700 text-red-300"}
                onClick={() => remove.mutate(board.id, { onSuccess: onDeleted })}
                title="The images stay in the gallery"
              >
                Delete board
              </button>
            ) : (
              <button type="button" className={small + " hover:border-red-600 hover:text-red-300"} onClick={() => setConfirming(true)}>
                Delete…
              </button>
            ))}
        </div>
      )}
      {!board.writable && <p className="text-[11px] text-neutral-500">Shared by {board.owner ?? "someone"}: read-only</p>}
      {confirming && <p className="text-[11px] text-neutral-500">Deleting a board keeps its images.</p>}
      {error && (
        <p role="alert" className="text-xs text-red-300">
          {(error as Error).message}
        </p>
      )}
    </div>
  );
}

export function BoardsSidebar({
  selected,
  onSelect,
  onNotice,
}: {
  selected: string | undefined;
  onSelect: (id: string | undefined) => void;
  onNotice: (message: string) => void;
}) {
  const { user } = useAccount();
  const boards = useBoards();
  const create = useCreateBoard();
  const [name, setName] = useState("");
  const [shared, setShared] = useState(false);
  const current = boards.data?.find((b) => b.id === selected);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const wrong = checkBoardName(name);
    if (wrong) return onNotice(wrong);
    create.mutate(
      { name: name.trim(), visibility: shared ? "shared" : "private" },
      {
        onSuccess: () => {
          setName("");
          setShared(false);
        },
      },
    );
  };
  const item = (active: boolean) =>
    // a row of chips on a phone, a list beside the grid on a wide screen
    "flex shrink-0 items-center gap-1.5 whitespace-nowrap rounded-md px-2 py-1 text-left text-sm lg:w-full lg:shrink lg:whitespace-normal " +
    (active ? "bg-neutral-800 text-neutral-50" : "text-neutral-400 hover:text-neutral-100");

  return (
    <aside aria-label="Boards" className="flex flex-col gap-1 lg:w-56 lg:shrink-0">
      <h2 className="px-2 text-xs font-medium uppercase tracking-wide text-neutral-500">Boards</h2>
      <nav aria-label="Board filter" className="flex gap-1 overflow-x-auto lg:flex-col lg:overflow-visible">
        <button type="button" className={item(!selected)} aria-current={!selected ? "true" : undefined} onClick={() => onSelect(undefined)}>
          All images
        </button>
        {boards.data?.map((b) => (
          <button
            key={b.id}
            type="button"
            className={item(b.id === selected)}
            aria-current={b.id === selected ? "true" : undefined}
            onClick={() => onSelect(b.id)}
            data-testid="board"
            data-board-name={b.name}
          >
            <span className="min-w-0 flex-1 truncate">{b.name}</span>
            {(b.visibility === "shared" || (b.owner && b.owner !== user?.name)) && (
              // someone else's board names its owner (an admin sees private ones too); one's own shared board says so
              <span
                className={"rounded px-1 text-[10px] " + (b.visibility === "shared" ? "bg-sky-900/60 text-sky-200" : "bg-neutral-800 text-neutral-300")}
                title={`${b.visibility}${b.owner ? ` · ${b.owner}'s` : ""}`}
              >
                {b.owner && b.owner !== user?.name ? b.owner : "shared"}
              </span>
            )}
            <span className="text-xs tabular-nums text-neutral-500">{b.count}</span>
          </button>
        ))}
      </nav>
      {boards.isError && <p className="px-2 text-xs text-red-300">{(boards.error as Error).message}</p>}
      {current && <BoardTools key={current.id} board={current} onDeleted={() => onSelect(undefined)} onNotice={onNotice} />}
      <form onSubmit={submit} aria-label="New board" className="mt-1 flex flex-wrap items-center gap-1 px-1 lg:flex-col lg:items-stretch">
        <input className={field} aria-label="New board name" placeholder="New board…" value={name} onChange={(e) => setName(e.target.value)} maxLength={120} />
        <div className="flex items-center gap-2">
          <label className="flex items-center gap-1 text-xs text-neutral-400">
            <input type="checkbox" checked={shared} onChange={(e) => setShared(e.target.checked)} className="accent-amber-400" />
            Shared
          </label>
          <button type="submit" className={small + " ml-auto"} disabled={create.isPending || !name.trim()}>
            Create
          </button>
        </div>
        {create.isError && <p className="text-xs text-red-300">{(create.error as Error).message}</p>}
      </form>
    </aside>
  );
}

/** A menu that puts images into one of the boards this person may change. */
export function AddToBoard({ ids, onNotice, className }: { ids: string[]; onNotice: (message: string) => void; className?: string }) {
  const boards = useBoards();
  const add = useAddToBoard();
  const writable = boards.data?.filter((b) => b.writable) ?? [];
  if (ids.length === 0 || writable.length === 0) return null;
  return (
    <select
      aria-label="Add to board"
      value=""
      disabled={add.isPending}
      className={
        className ??
        "rounded border border-neutral-700 bg-neutral-900 px-1.5 py-0.5 text-xs text-neutral-200 hover:border-amber-400 focus:border-amber-400/70 focus:outline-none"
      }
      onChange={(e) => {
        const board = writable.find((b) => b.id === e.target.value);
        if (!board) return;
        add.mutate(
          { id: board.id, ids },
          {
            onSuccess: () => onNotice(`${ids.length === 1 ? "Image" : `${ids.length} images`} added to “${board.name}”.`),
            onError: (err) => onNotice((err as Error).message),
          },
        );
      }}
    >
      <option value="">Add to board…</option>
      {writable.map((b) => (
        <option key={b.id} value={b.id}>
          {b.name}
        </option>
      ))}
    </select>
  );
}
