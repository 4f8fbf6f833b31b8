// The matrix on screen: started from the builder, kept current by its matrix.updated
// events (a snapshot on every (re)subscribe covers what was missed), with the image of
// each finished cell fetched once.
import { useCallback, useEffect, useRef, useState } from "react";
import { api } from "../api/client";
import { liveConnection } from "../api/live";
import type { FeedEvent, GalleryImage, JobSubmission, Matrix, MatrixAxis, MatrixWarning } from "../api/types";
import { matrixApi } from "./matrixApi";

type MatrixUpdate = Extract<FeedEvent, { type: "matrix.updated" }>;

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
  const [warnings, setWarnings] = useState<MatrixWarning[]>([]);
  const [images, setImages] = useState<Record<string, GalleryImage>>({});
  const asked = useRef(new Set<string>());
  const matrixId = matrix?.id ?? null;

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
    setWarnings(answer.warnings);
    setMatrix(answer.matrix);
  }, []);
  const close = useCallback(() => {
    setMatrix(null);
    setWarnings([]);
  }, []);
  return { matrix, images, warnings, start, close };
}
