import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { FakeApi } from "../test/fakeApi";
import { MEMBER, renderAs } from "../test/renderWith";
import type { Board } from "./boardsApi";
import { AddToBoard, BoardsSidebar } from "./BoardsSidebar";

const board = (over: Partial<Board>): Board => ({
  id: "b1",
  name: "Foxes",
  visibility: "private",
  owner: "bob",
  cover_id: null,
  count: 3,
  created_at: "2026-12-01T10:00:00Z",
  writable: true,
  ...over,
});

let server: FakeApi;
let boards: Board[];
beforeEach(() => {
  boards = [board({}), board({ id: "b2", name: "Class trip", visibility: "shared", owner: "ada", writable: false, count: 7 })];
  server = new FakeApi()
    .on("GET /api/boards", () => ({ body: { boards } }))
    .on("POST /api/boards", (call) => {
      const made = board({ id: "b3", name: call.body.name, visibility: call.body.visibility, count: 0 });
      boards = [...boards, made];
      return { status: 201, body: { board: made } };
    })
    .on("PATCH /api/boards/b1", (call) => {
      boards = boards.map((b) => (b.id === "b1" ? { ...b, ...call.body } : b));
      return { body: { board: boards[0] } };
    })
    .on("DELETE /api/boards/b1", () => {
      boards = boards.filter((b) => b.id !== "b1");
      return { status: 204, body: null };
    })
    .on("POST /api/boards/b1/images", (call) => ({ body: { board: board({ count: 3 + call.body.ids.length }) } }))
    .install();
});
afterEach(() => vi.unstubAllGlobals());

describe("boards in the gallery", () => {
  it("lists own and shared boards, and filters the grid by the one chosen", async () => {
    const onSelect = vi.fn();
    renderAs(MEMBER, <BoardsSidebar selected={undefined} onSelect={onSelect} onNotice={() => undefined} />);
    const shared = await screen.findByRole("button", { name: /Class trip/ });
    expect(shared).toHaveTextContent("ada"); // shared by someone else: their name
    expect(shared).toHaveTextContent("7");
    await userEvent.click(screen.getByRole("button", { name: /Foxes/ }));
    expect(onSelect).toHaveBeenCalledWith("b1");
    await userEvent.click(screen.getByRole("button", { name: "All images" }));
    expect(onSelect).toHaveBeenLastCalledWith(undefined);
  });

  it("creates a shared board; an empty name is refused here", async () => {
    const onNotice = vi.fn();
    renderAs(MEMBER, <BoardsSidebar selected={undefined} onSelect={() => undefined} onNotice={onNotice} />);
    await screen.findByRole("button", { name: /Foxes/ });
    await userEvent.type(screen.getByLabelText("New board name"), "   ");
    expect(screen.getByRole("button", { name: "Create" })).toBeDisabled();
    await userEvent.clear(screen.getByLabelText("New board name"));
    await userEvent.type(screen.getByLabelText("New board name"), "Winter");
    await userEvent.click(screen.getByRole("checkbox", { name: "Shared" }));
    await userEvent.click(screen.getByRole("button", { name: "Create" }));
    expect(await screen.findByRole("button", { name: /Winter/ })).toBeInTheDocument();
    expect(server.called("POST", "/api/boards")[0]!.body).toEqual({ name: "Winter", visibility: "shared" });
  });

  it("renames, shares and deletes the chosen board", async () => {
    const onSelect = vi.fn();
    renderAs(MEMBER, <BoardsSidebar selected="b1" onSelect={onSelect} onNotice={() => undefined} />);
    const tools = await screen.findByRole("group", { name: "Board Foxes" });
    await userEvent.click(within(tools).getByRole("button", { name: "Rename" }));
    await userEvent.clear(within(tools).getByLabelText("New name"));
    await userEvent.type(within(tools).getByLabelText("New name"), "Red foxes{Enter}");
    expect(await screen.findByRole("group", { name: "Board Red foxes" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Share" }));
    await userEvent.click(await screen.findByRole("button", { name: "Delete…" }));
    await userEvent.click(screen.getByRole("button", { name: "Delete board" }));
    await waitFor(() => expect(onSelect).toHaveBeenCalledWith(undefined));
    expect(server.called("PATCH", "/api/boards/b1").map((c) => c.body)).toEqual([{ name: "Red foxes" }, { visibility: "shared" }]);
    expect(server.called("DELETE", "/api/boards/b1")).toHaveLength(1);
  });

  it("a shared board of someone else is read-only: export only", async () => {
    renderAs(MEMBER, <BoardsSidebar selected="b2" onSelect={() => undefined} onNotice={() => undefined} />);
    const tools = await screen.findByRole("group", { name: "Board Class trip" });
    expect(within(tools).getByRole("button", { name: "Export ZIP" })).toBeInTheDocument();
    expect(within(tools).queryByRole("button", { name: "Rename" })).toBeNull();
    expect(within(tools).queryByRole("button", { name: "Delete…" })).toBeNull();
    expect(tools).toHaveTextContent("Shared by ada: read-only");
  });

  it("adds the selection to a board it may change (read-only boards are not offered)", async () => {
    const onNotice = vi.fn();
    renderAs(MEMBER, <AddToBoard ids={["i1", "i2"]} onNotice={onNotice} />);
    const menu = await screen.findByRole("combobox", { name: "Add to board" });
    expect(within(menu).queryByRole("option", { name: "Class trip" })).toBeNull();
    await userEvent.selectOptions(menu, "Foxes");
    await waitFor(() => expect(onNotice).toHaveBeenCalledWith("2 images added to “Foxes”."));
    expect(server.called("POST", "/api/boards/b1/images")[0]!.body).toEqual({ ids: ["i1", "i2"] });
  });
});
