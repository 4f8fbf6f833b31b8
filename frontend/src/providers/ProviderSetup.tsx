// Setting one provider up: its key (write-only), its other settings, on/off, the test
// button. The key field is never filled from the server: only "set, …last4, when" comes back.
import { useEffect, useId, useState } from "react";
import { ApiError } from "../api/client";
import type { LocalSetup, ProviderSettings, SettingFieldInfo } from "../api/schema.generated";
import { useProviderSettings, useSaveSettings, useTestProvider, type SettingsChange } from "./settingsApi";

const input =
  "w-full rounded-md border border-neutral-700 bg-neutral-950 px-2.5 py-1.5 text-sm text-neutral-100 placeholder:text-neutral-600 focus:border-amber-400/70 focus:outline-none disabled:opacity-60";
const button =
  "rounded-md border border-neutral-700 px-3 py-1.5 text-sm text-neutral-200 hover:border-neutral-500 disabled:opacity-50";
const primary = "rounded-md bg-amber-400 px-3 py-1.5 text-sm font-medium text-neutral-950 hover:bg-amber-300 disabled:opacity-50";

const VERDICT_STYLE: Record<string, string> = {
  works: "border-emerald-800 bg-emerald-950/60 text-emerald-200",
  wrong_key: "border-red-900 bg-red-950/60 text-red-200",
  no_credit: "border-amber-900 bg-amber-950/60 text-amber-200",
  cannot_reach: "border-red-900 bg-red-950/60 text-red-200",
};

function when(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

function errorText(error: unknown): string {
  return error instanceof ApiError || error instanceof Error ? error.message : String(error);
}

export function ProviderSetup({ id }: { id: string }) {
  const settings = useProviderSettings(id);
  if (settings.isLoading) return <p className="mt-3 text-xs text-neutral-500">Loading settings…</p>;
  if (settings.error) {
    const refused = settings.error instanceof ApiError && settings.error.status === 403;
    return (
      <p className="mt-3 text-xs text-neutral-500">
        {refused ? "Only an admin can set providers up." : `Settings unavailable: ${errorText(settings.error)}`}
      </p>
    );
  }
  return <SetupForm id={id} data={settings.data!} />;
}

function SetupForm({ id, data }: { id: string; data: ProviderSettings }) {
  const save = useSaveSettings(id);
  const test = useTestProvider(id);
  const enabled = data.settings.enabled !== false;
  const ids = useId();
  return (
    <div className="mt-3 flex flex-col gap-3 border-t border-neutral-800 pt-3">
      <div className="flex flex-wrap items-center gap-3">
        <button
          type="button"
          role="switch"
          aria-checked={enabled}
          aria-label={`${data.provider.label} on`}
          disabled={save.isPending}
          onClick={() => save.mutate({ enabled: !enabled })}
          className={
            "relative h-5 w-9 shrink-0 rounded-full transition-colors " + (enabled ? "bg-emerald-500" : "bg-neutral-700")
          }
        >
          <span
            className={"absolute top-0.5 h-4 w-4 rounded-full bg-white transition-all " + (enabled ? "left-[18px]" : "left-0.5")}
          />
        </button>
        <span className="text-sm text-neutral-300">{enabled ? "On" : "Off: no job runs on it"}</span>
        <button
          type="button"
          className={button + " ml-auto"}
          disabled={test.isPending}
          onClick={() => test.mutate()}
          title="Makes the cheapest call the API offers (listing models); never a paid generation"
        >
          {test.isPending ? "Testing…" : "Test"}
        </button>
      </div>
      {(test.data || test.error) && (
        <p
          role="status"
          aria-label={`${data.provider.label} test`}
          className={
            "rounded-md border px-3 py-2 text-sm " +
            (test.data ? (VERDICT_STYLE[test.data.verdict] ?? "border-neutral-700 bg-neutral-900 text-neutral-200") : "border-red-900 text-red-200")
          }
        >
          {test.data ? test.data.message : errorText(test.error)}
        </p>
      )}
      {data.takes_key && <KeyField id={id} data={data} labelId={ids + "key"} />}
      {data.fields.length > 0 && <SettingsFields id={id} data={data} />}
      {data.local && <LocalModels local={data.local} />}
      {save.error && (
        <p role="alert" className="text-sm text-red-300">
          {errorText(save.error)}
        </p>
      )}
    </div>
  );
}

function KeyField({ id, data, labelId }: { id: string; data: ProviderSettings; labelId: string }) {
  const save = useSaveSettings(id);
  const [key, setKey] = useState("");
  const status = data.key;
  const fromEnv = status.source === "environment";
  let said: string;
  if (fromEnv) said = "Set by the environment (.env or the server's environment); change it there.";
  else if (status.set) said = `Key set: …${status.last4 ?? ""}${status.set_at ? `, saved ${when(status.set_at)}` : ""}`;
  else said = "No key yet.";
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    save.mutate({ api_key: key }, { onSuccess: () => setKey("") });
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-1.5" aria-label={`${data.provider.label} key`}>
      <label htmlFor={labelId} className="text-xs font-medium uppercase tracking-wide text-neutral-400">
        API key
      </label>
      <p className="text-sm text-neutral-300" data-testid={`key-status-${id}`}>
        {said}
      </p>
      {status.problem && <p className="text-sm text-amber-300">{status.problem}</p>}
      {!fromEnv && (
        <div className="flex flex-wrap gap-2">
          <input
            id={labelId}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={key}
            maxLength={1024}
            onChange={(e) => setKey(e.target.value)}
            placeholder={status.set ? "Paste a new key to replace it" : "Paste the key"}
            className={input + " min-w-0 basis-full sm:basis-0 sm:flex-1"}
          />
          <button type="submit" className={primary} disabled={save.isPending || key.trim() === ""}>
            Save key
          </button>
          {status.source === "studio" && (
            <button type="button" className={button} disabled={save.isPending} onClick={() => save.mutate({ api_key: null })}>
              Remove key
            </button>
          )}
        </div>
      )}
      {save.error && (
        <p role="alert" className="text-sm text-red-300">
          {errorText(save.error)}
        </p>
      )}
    </form>
  );
}

function fieldText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join(", ");
  return String(value);
}

function parseField(field: SettingFieldInfo, text: string): unknown {
  const t = text.trim();
  if (t === "") return null; // back to the default
  if (field.kind === "names") return t.split(/[\s,]+/).filter(Boolean);
  if (field.kind === "number" || field.kind === "integer") return Number(t);
  return t;
}

function shownValues(data: ProviderSettings): Record<string, string> {
  return Object.fromEntries(data.fields.map((f) => [f.name, fieldText(data.settings[f.name])]));
}

function SettingsFields({ id, data }: { id: string; data: ProviderSettings }) {
  const save = useSaveSettings(id);
  const [values, setValues] = useState<Record<string, string>>(() => shownValues(data));
  const ids = useId();
  useEffect(() => setValues(shownValues(data)), [data]); // a save (here or elsewhere) shows what is now set
  const editable = data.fields.filter((f) => data.sources[f.name] !== "environment");
  const changed = editable.filter((f) => values[f.name] !== fieldText(data.settings[f.name]));
  const submit = (e: React.FormEvent) => {
    e.preventDefault();
    const change: SettingsChange = {};
    for (const f of changed) change[f.name] = parseField(f, values[f.name] ?? "");
    save.mutate(change);
  };
  return (
    <form onSubmit={submit} className="flex flex-col gap-2" aria-label={`${data.provider.label} settings`}>
      <div className="grid grid-cols-1 gap-2 sm:grid-cols-2">
        {data.fields.map((f) => {
          const fromEnv = data.sources[f.name] === "environment";
          return (
            <div key={f.name} className={f.kind === "url" || f.kind === "names" ? "sm:col-span-2" : ""}>
              <label htmlFor={ids + f.name} className="text-xs text-neutral-400">
                {f.label}
              </label>
              <input
                id={ids + f.name}
                type={f.kind === "url" || f.kind === "names" ? "text" : "number"}
                inputMode={f.kind === "integer" ? "numeric" : undefined}
                min={f.min ?? undefined}
                max={f.max ?? undefined}
                step={f.kind === "integer" ? 1 : "any"}
                disabled={fromEnv}
                value={values[f.name] ?? ""}
                onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
                className={input}
              />
              <p className="mt-0.5 text-xs text-neutral-500">{fromEnv ? "set by the environment" : f.help}</p>
            </div>
          );
        })}
      </div>
      <div>
        <button type="submit" className={button} disabled={save.isPending || changed.length === 0}>
          Save settings
        </button>
      </div>
      {save.error && (
        <p role="alert" className="text-sm text-red-300">
          {errorText(save.error)}
        </p>
      )}
    </form>
  );
}

function LocalModels({ local }: { local: LocalSetup }) {
  return (
    <div className="flex flex-col gap-1.5 text-sm text-neutral-300" aria-label="Local models setup">
      {local.missing_packages.length > 0 ? (
        <p>
          Missing packages: {local.missing_packages.join(", ")}. Install them with{" "}
          <code className="rounded bg-neutral-800 px-1.5 py-0.5 text-amber-200">{local.install_command}</code> and restart
          the studio.
        </p>
      ) : (
        <p>The local-model packages are installed.</p>
      )}
      <p>
        Put weights in <code className="rounded bg-neutral-800 px-1.5 py-0.5">{local.models_dir}</code> (
        {local.models_dir_variable}) or the Hugging Face cache{" "}
        <code className="break-all rounded bg-neutral-800 px-1.5 py-0.5">{local.hf_cache}</code>, e.g.{" "}
        <code className="rounded bg-neutral-800 px-1.5 py-0.5">{local.download_examples[0]}</code>.
      </p>
      <p>
        {local.found.length === 0
          ? "No model found on disk yet."
          : `Found on disk: ${local.found.map((m) => `${m.label} (${m.source})`).join(", ")}.`}
      </p>
    </div>
  );
}
