// The history panel beside the composer: search the prompts used, one click restores a
// prompt with the settings of its last job; an entry can be removed.
import { useState } from "react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { promptsApi, type PromptEntry } from "./api";
import { PROMPTS_KEY, useDebounced, usePromptHistory } from "./usePrompts";

function ago(iso: string): string {
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

export function PromptHistory({ onRestore }: { onRestore: (entry: PromptEntry) => void }) {
  const [q, setQ] = useState("");
  const query = useDebounced(q, 250);
  const history = usePromptHistory(query);
  const queryClient = useQueryClient();
  const remove = useMutation({
    mutationFn: (id: number) => promptsApi.remove(id),
    onSettled: () => queryClient.invalidateQueries({ queryKey: PROMPTS_KEY }),
  });
  const items = history.data?.items ?? [];

  return (
    <details className="group mt-4 rounded-md border border-neutral-800 bg-neutral-900/40">
      <summary className="cursor-pointer select-none px-3 py-2 text-xs font-medium uppercase tracking-wide text-neutral-400">
        Prompt history
      </summary>
      <section aria-label="Prompt history" className="flex flex-col gap-2 px-3 pb-3">
        <input
          type="search"
          value={q}
          onChange={(e) => setQ(e.target.value)}
          placeholder="words of a prompt you used"
          aria-label="Search prompt history"
          maxLength={1000}
          className="w-full rounded-md border border-neutral-800 bg-neutral-900 px-2.5 py-1.5 text-sm text-neutral-100 placeholder:text-neutral-500 focus:border-amber-400/70 focus:outline-none"
        />
        {history.isError && (
          <p role="alert" className="text-xs text-red-400">
            {(history.error as Error).message}
          </p>
        )}
        {history.isSuccess && items.length === 0 && (
          <p className="text-xs text-neutral-500">{query ? "No prompt matches." : "Prompts you generate appear here. ↑ in an empty prompt box walks them."}</p>
        )}
        <ul className="flex max-h-80 flex-col gap-1 overflow-y-auto">
          {items.map((entry) => (
            <li key={entry.id} className="group/item flex items-start gap-1 rounded-md hover:bg-neutral-800/60">
              <button
                type="button"
                onClick={() => onRestore(entry)}
                title="Use this prompt and its settings"
                className="min-w-0 flex-1 px-2 py-1.5 text-left"
              >
                <span className="line-clamp-2 text-sm text-neutral-200">{entry.prompt}</span>
                <span className="block text-[11px] text-neutral-500">
                  {entry.uses}× · {ago(entry.last_used)}
                  {entry.settings.provider ? ` · ${entry.settings.provider}` : ""}
                  {entry.settings.model ? ` / ${entry.settings.model}` : ""}
                </span>
              </button>
              <button
                type="button"
                onClick={() => remove.mutate(entry.id)}
                aria-label={`Remove “${entry.prompt.slice(0, 40)}” from history`}
                className="px-2 py-1.5 text-sm text-neutral-500 hover:text-red-300"
              >
                ×
              </button>
            </li>
          ))}
        </ul>
      </section>
    </details>
  );
}
