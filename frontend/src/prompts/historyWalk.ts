// Arrow-up in the prompt box walks back through the prompt history (arrow-down forward),
// as a shell does: only while the box is empty or still holds what the walk put there, so
// arrows keep moving the caret in a prompt being written.

export interface Walk {
  /** index in the history of the prompt shown; -1: none (what was typed before the walk) */
  index: number;
  /** the prompt the walk put in the box */
  shown: string | null;
}

export const START: Walk = { index: -1, shown: null };

/** The next walk and the prompt to show, or null when the key is not the walk's. */
export function step(
  walk: Walk,
  key: string,
  current: string,
  history: readonly string[],
): { walk: Walk; prompt: string } | null {
  if (key !== "ArrowUp" && key !== "ArrowDown") return null;
  const untouched = current.trim() === "" || (walk.shown !== null && current === walk.shown);
  if (!untouched) return null;
  const from = walk.shown !== null && current === walk.shown ? walk.index : -1;
  const index = key === "ArrowUp" ? Math.min(from + 1, history.length - 1) : from - 1;
  if (index < 0) return key === "ArrowDown" && from >= 0 ? { walk: START, prompt: "" } : null;
  if (index === from) return null;
  const prompt = history[index]!;
  return { walk: { index, shown: prompt }, prompt };
}
