// The matrix on screen: started from the builder, kept current by its matrix.updated
// events (a snapshot on every (re)subscribe covers what was missed), with the image of
// each finished cell fetched once.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import { liveConnection } from "../api/live";
import type { FeedEvent, GalleryImage, JobSubmission, Matrix, MatrixAxis, MatrixWarning } from "../api/types";
import { matrixApi } from "./matrixApi";

type MatrixUpdate = Extract<FeedEvent, { type: "matrix.updated" }>;
/** the matrix this tab shows, so a reload shows it again (the server keeps it) */
const SHOWN = "atelier.matrix";

function remember(id: string | null) {
  try {
    if (id) sessionStorage.setItem(SHOWN, id);
    else sessionStorage.removeItem(SHOWN);
  } catch {
    // storage refused (private mode): the matrix is just not shown again after a reload
  }
}

function remembered(): string | null {
  try {
    return sessionStorage.getItem(SHOWN);
  } catch {
    return null;
  }
}

export interface MatrixState {
  matrix: Matrix | null;
  /** the first image of each finished cell, by image id */
  images: Record<string, GalleryImage>;
  warnings: MatrixWarning[];
  start(body: { base: JobSubmission; axes: MatrixAxis[] }): Promise<void>;
  close(): void;
}

export function applyUpdate(matrix: Matrix | null, event: MatrixUpdate): Matrix | null {
  if (!matrix || matrix.id !== event.matrix_id) return matrix;
  const cell = event.cell;
  const cells = cell ? matrix.cells.map((c) => (c.coords.join() === cell.coords.join() ? { ...c, ...cell } : c)) : matrix.cells;
  return { ...matrix, status: event.status, cells, grid_image: event.grid_image ?? matrix.grid_image };
}

export function useMatrix(): MatrixState {
  const [matrix, setMatrix] = useState<Matrix | null>(null);
  const [images, setImages] = useState<Record<string, GalleryImage>>({});
  const asked = useRef(new Set<string>());
  const matrixId = matrix?.id ?? null;

  useEffect(() => {
    const id = remembered();
    if (id) matrixApi.get(id).then((m) => setMatrix((current) => current ?? m), () => remember(null));
  }, []);

  useEffect(() => {
    if (!matrixId) return;
    let off: (() => void) | undefined;
    let alive = true;
    void liveConnection().then((live) => {
      if (!alive) return;
      off = live.subscribeMatrix(matrixId, {
        onSnapshot: (m) => setMatrix((current) => (current?.id === m.id ? m : current)),
        onEvent: (event) => setMatrix((current) => applyUpdate(current, event)),
      });
    });
    return () => {
      alive = false;
      off?.();
    };
  }, [matrixId]);

  useEffect(() => {
    for (const cell of matrix?.cells ?? []) {
      const id = cell.image_ids[0];
      if (!id || asked.current.has(id)) continue;
      asked.current.add(id);
      api.image(id).then(
        ({ image }) => setImages((all) => ({ ...all, [id]: image })),
        () => asked.current.delete(id),
      );
    }
  }, [matrix]);

  const start = useCallback(async (body: { base: JobSubmission; axes: MatrixAxis[] }) => {
    const answer = await matrixApi.submit(body);
    setMatrix(answer.matrix);
    remember(answer.matrix.id);
  }, []);
  const close = useCallback(() => {
    remember(null);
    setMatrix(null);
  }, []);
  // the cells' adjustments and skips, kept with the matrix (so they show after a reload too)
  return { matrix, images, warnings: matrix?.warnings ?? [], start, close };
}
