// Under the prompt box: what a wildcard template ({a|b}, __name__) resolves to for each
// image of the job, asked of the server as the person types (debounced).
import { useMemo } from "react";
import { useQuery } from "@tanstack/react-query";
import { ApiError } from "../api/client";
import { hasWildcards, promptsApi } from "./api";
import { useDebounced } from "./usePrompts";

export function WildcardPreview({ prompt, seed, n }: { prompt: string; seed: number | null; n: number }) {
  const exampleSeed = useMemo(() => Math.floor(Math.random() * 2 ** 31), []);
  const template = useDebounced(prompt, 350);
  const count = Number.isInteger(n) && n >= 1 ? Math.min(n, 10) : 1;
  const used = seed ?? exampleSeed;
  const enabled = hasWildcards(template) && template.length <= 4000;
  const expansions = useQuery({
    queryKey: ["wildcards", template, used, count],
    queryFn: ({ signal }) => promptsApi.expand(template, used, count, signal),
    enabled,
    retry: false,
    staleTime: 60_000,
  });
  if (!enabled || !hasWildcards(prompt)) return null;
  const error = expansions.error instanceof ApiError ? expansions.error.message : null;
  if (!error && expansions.data?.every((p) => p === template)) return null; // nothing to resolve
  return (
    <div aria-label="Wildcard preview" role="region" className="mt-1 rounded-md border border-neutral-800 bg-neutral-900/60 px-2 py-1.5 text-xs">
      {error ? (
        <p role="alert" className="text-red-400">
          {error}
        </p>
      ) : (
        <>
          <p className="text-neutral-500">{seed === null ? "For example:" : `With seed ${seed}:`}</p>
          <ol className="list-decimal pl-5 text-neutral-300">
            {(expansions.data ?? []).map((p, i) => (
              <li key={i} className="break-words">
                {p}
              </li>
            ))}
          </ol>
        </>
      )}
    </div>
  );
}
