// The prompt history as the studio reads it (TanStack Query), and the arrow-key walk.
import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";
import { useQuery } from "@tanstack/react-query";
import { promptsApi } from "./api";
import { START, step, type Walk } from "./historyWalk";

export const PROMPTS_KEY = ["prompts"] as const;

export function usePromptHistory(q: string) {
  return useQuery({ queryKey: [...PROMPTS_KEY, q], queryFn: () => promptsApi.list(q), staleTime: 10_000 });
}

/** ``value`` once it has stayed the same for ``ms``. */
export function useDebounced<T>(value: T, ms: number): T {
  const [settled, setSettled] = useState(value);
  useEffect(() => {
    const timer = setTimeout(() => setSettled(value), ms);
    return () => clearTimeout(timer);
  }, [value, ms]);
  return settled;
}

/** A keydown handler for the prompt box: arrow-up/down walk the history. */
export function usePromptWalk(prompt: string, setPrompt: (prompt: string) => void) {
  const history = usePromptHistory("");
  const walk = useRef<Walk>(START);
  return useCallback(
    (e: KeyboardEvent<HTMLTextAreaElement>) => {
      if (e.altKey || e.ctrlKey || e.metaKey || e.shiftKey) return;
      const prompts = history.data?.items.map((i) => i.prompt) ?? [];
      const next = step(walk.current, e.key, prompt, prompts);
      if (!next) return;
      e.preventDefault();
      walk.current = next.walk;
      setPrompt(next.prompt);
    },
    [history.data, prompt, setPrompt],
  );
}
