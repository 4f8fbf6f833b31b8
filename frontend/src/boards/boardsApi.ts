// Boards: named collections of images, private or shared (docs/api.md, "Boards").
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { request } from "../api/client";
import { withBase } from "../api/base";
import type * as Api from "../api/schema.generated";

export type Board = Api.Board;
export type Visibility = Board["visibility"];

export const boardKeys = {
  all: ["boards"] as const,
};

export const boardsApi = {
  list: () => request<Api.Boards>("GET", "/api/boards").then((r) => r.boards),
  create: (name: string, visibility: Visibility) => request<Api.BoardEnvelope>("POST", "/api/boards", { name, visibility }).then((r) => r.board),
  update: (id: string, patch: { name?: string; visibility?: Visibility; cover_id?: string | null }) =>
    request<Api.BoardEnvelope>("PATCH", `/api/boards/${encodeURIComponent(id)}`, patch).then((r) => r.board),
  remove: (id: string) => request<null>("DELETE", `/api/boards/${encodeURIComponent(id)}`),
  addImages: (id: string, ids: string[]) =>
    request<Api.BoardEnvelope>("POST", `/api/boards/${encodeURIComponent(id)}/images`, { ids }).then((r) => r.board),
  removeImages: (id: string, ids: string[]) =>
    request<Api.BoardEnvelope>("DELETE", `/api/boards/${encodeURIComponent(id)}/images`, { ids }).then((r) => r.board),
};

export function boardExportUrl(id: string): string {
  return withBase(`/api/export.zip?${new URLSearchParams({ board: id })}`);
}

/** A board's name: 1–100 characters, not only spaces. */
export function checkBoardName(name: string): string | null {
  const t = name.trim();
  if (!t) return "A board needs a name.";
  if (t.length > 100) return "A board's name is at most 100 characters.";
  return null;
}

export function useBoards(enabled = true) {
  return useQuery({ queryKey: boardKeys.all, queryFn: boardsApi.list, enabled, staleTime: 10_000 });
}

/** Every board mutation: the list (counts) and the listings of images are loaded again. */
function useBoardMutation<A, R>(fn: (args: A) => Promise<R>, images = false) {
  const qc = useQueryClient();
  return useMutation({
    mutationFn: fn,
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: boardKeys.all });
      if (images) void qc.invalidateQueries({ queryKey: ["images"] });
    },
  });
}

export const useCreateBoard = () => useBoardMutation((a: { name: string; visibility: Visibility }) => boardsApi.create(a.name, a.visibility));
export const useUpdateBoard = () =>
  useBoardMutation((a: { id: string; patch: { name?: string; visibility?: Visibility; cover_id?: string | null } }) => boardsApi.update(a.id, a.patch));
export const useDeleteBoard = () => useBoardMutation((id: string) => boardsApi.remove(id), true);
export const useAddToBoard = () => useBoardMutation((a: { id: string; ids: string[] }) => boardsApi.addImages(a.id, a.ids), true);
export const useRemoveFromBoard = () => useBoardMutation((a: { id: string; ids: string[] }) => boardsApi.removeImages(a.id, a.ids), true);
