// The queue's order as the panel shows it while a move is on its way to the server.

/** ``ids`` with ``id`` moved to ``position`` (1-based, clamped to the list). */
export function moved(ids: readonly string[], id: string, position: number): string[] {
  const from = ids.indexOf(id);
  if (from < 0) return [...ids];
  const rest = ids.filter((x) => x !== id);
  const to = Math.min(Math.max(position, 1), ids.length) - 1;
  return [...rest.slice(0, to), id, ...rest.slice(to)];
}

/** The place a drop on the item at ``targetPosition`` moves the dragged item to:
 * the dropped-on item's place (the others shift towards the gap). */
export function dropPosition(ids: readonly string[], dragged: string, target: string): number | null {
  const to = ids.indexOf(target);
  if (to < 0 || dragged === target || !ids.includes(dragged)) return null;
  return to + 1;
}
