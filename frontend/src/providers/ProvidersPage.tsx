import { formatPrice, providerLabel, useProviders } from "./catalog";
import { ProviderSetup } from "./ProviderSetup";

export default function ProvidersPage() {
  const { data, isLoading, error } = useProviders();
  if (isLoading) return <p className="text-sm text-neutral-500">Loading…</p>;
  if (error) return <p role="alert" className="text-sm text-red-300">{(error as Error).message}</p>;
  return (
    <div className="mx-auto flex max-w-4xl flex-col gap-3">
      <h1 className="text-lg font-semibold text-neutral-100">Providers</h1>
      <p className="text-sm text-neutral-400">
        Paste a provider's key here, or set it in the environment or <code>.env</code> (which wins). Keys are stored
        encrypted on the server and never shown again; changes apply to the next job, no restart.
      </p>
      {data!.map((p) => (
        <section key={p.id} aria-label={providerLabel(p)} className="rounded-lg border border-neutral-800 bg-neutral-900/50 p-4" data-provider={p.id}>
          <header className="flex flex-wrap items-center gap-2">
            <h2 className="font-medium text-neutral-100">{providerLabel(p)}</h2>
            <code className="text-xs text-neutral-500">{p.id}</code>
            <span className={"ml-auto rounded px-2 py-0.5 text-xs " + (p.available ? "bg-emerald-900 text-emerald-200" : "bg-neutral-800 text-neutral-400")}>
              {p.available ? "Available" : "Unavailable"}
            </span>
          </header>
          {!p.available && p.reason && <p className="mt-1 text-sm text-amber-300">{p.reason}</p>}
          {p.id === "offline" && (
            <p className="mt-1 text-sm text-neutral-400">
              Draws a quick sketch from the prompt's words; needs nothing (no key, no download). It is not an AI model.
            </p>
          )}
          <ProviderSetup id={p.id} />
          <details className="mt-3">
          <summary className="cursor-pointer text-xs text-neutral-400">Models ({p.models.length})</summary>
          <div className="overflow-x-auto">
          <table className="mt-2 w-full text-left text-xs">
            <thead className="text-neutral-500">
              <tr>
                <th className="py-1 pr-2 font-normal">Model</th>
                <th className="py-1 pr-2 font-normal">Shapes</th>
                <th className="py-1 pr-2 font-normal">Images</th>
                <th className="py-1 pr-2 font-normal">Options</th>
                <th className="py-1 text-right font-normal">Price / image</th>
              </tr>
            </thead>
            <tbody>
              {p.models.map((m) => (
                <tr key={m.id} className="border-t border-neutral-800 text-neutral-300">
                  <td className="py-1.5 pr-2">
                    {m.label}
                    {m.id === p.default_model && <span className="ml-1 text-neutral-500">(default)</span>}
                  </td>
                  <td className="py-1.5 pr-2">{Object.keys(m.aspect_ratios).join(" ")}</td>
                  <td className="py-1.5 pr-2">1–{m.max_images}</td>
                  <td className="py-1.5 pr-2">
                    {[m.supports_seed && "seed", m.supports_negative_prompt && "negative prompt", m.steps && `steps ${m.steps.min}–${m.steps.max}`, m.qualities.length > 0 && `quality: ${m.qualities.join("/")}`, m.step_progress && "live progress"]
                      .filter(Boolean)
                      .join(", ")}
                  </td>
                  <td className="py-1.5 text-right">{formatPrice(m.price_per_image)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
          </details>
        </section>
      ))}
    </div>
  );
}
