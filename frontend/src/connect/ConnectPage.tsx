import { useState } from "react";
import { BASE } from "../api/base";
import { useProviders } from "../providers/catalog";
import { useAccount, useAuthInfo } from "../accounts/account";

/** Where clients that speak the OpenAI Images API or AUTOMATIC1111's API reach this studio,
 * and how the common ones are set up. Every image they make is a normal job: it shows in the
 * studio live and lands in the gallery. */

function Snippet({ label, text }: { label: string; text: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <figure className="mt-2">
      <figcaption className="mb-1 flex items-center justify-between text-xs text-neutral-400">
        <span>{label}</span>
        <button
          type="button"
          className="rounded border border-neutral-700 px-2 py-0.5 text-neutral-200 hover:border-amber-400"
          onClick={() =>
            navigator.clipboard
              ?.writeText(text)
              .then(() => {
                setCopied(true);
                setTimeout(() => setCopied(false), 1500);
              })
              .catch(() => undefined)
          }
        >
          {copied ? "Copied" : "Copy"}
        </button>
      </figcaption>
      <pre className="overflow-x-auto rounded-md border border-neutral-800 bg-neutral-950 p-3 text-xs text-neutral-200">{text}</pre>
    </figure>
  );
}

export default function ConnectPage() {
  const providers = useProviders();
  const root = `${location.origin}${BASE}`;
  const openai = `${root}/v1`;
  const models = (providers.data ?? []).filter((p) => p.available).flatMap((p) => p.models.map((m) => `${p.id}/${m.id}`));
  const model = models[0] ?? "offline/procedural-v1";
  const { accounts } = useAccount();
  const setup = useAuthInfo().data?.setup === true;
  const key = accounts
    ? "one of your API keys (atl_…, made on the Keys page)"
    : "your ATELIER_TOKEN (any text when the studio runs on this computer without one)";

  return (
    <div className="mx-auto flex max-w-4xl flex-col gap-4">
      <header>
        <h1 className="text-lg font-semibold text-neutral-100">Connect a client</h1>
        <p className="mt-1 text-sm text-neutral-400">
          Chat front-ends and scripts that make images through the OpenAI Images API or AUTOMATIC1111's API can use Atelier instead: every
          provider here, fallback and budgets included. Their images appear in the studio as they are made (tagged with the client) and land in
          the gallery with their metadata. The key is {key}.
        </p>
        {setup && (
          <p className="mt-2 text-sm text-neutral-400">
            Sharing this studio with other people? <a href="#/setup" className="text-amber-300 underline">Create its first admin</a> to turn accounts
            on: everyone then signs in, with their own gallery and keys.
          </p>
        )}
      </header>

      <section aria-label="Base URLs" className="rounded-lg border border-neutral-800 bg-neutral-900/50 p-4">
        <h2 className="font-medium text-neutral-100">Base URLs</h2>
        <dl className="mt-2 grid grid-cols-[12rem_minmax(0,1fr)] gap-x-3 gap-y-1 text-sm">
          <dt className="text-neutral-400">OpenAI Images API</dt>
          <dd>
            <code data-testid="openai-base-url" className="break-all text-amber-200">{openai}</code>
          </dd>
          <dt className="text-neutral-400">AUTOMATIC1111 API</dt>
          <dd>
            <code data-testid="a1111-base-url" className="break-all text-amber-200">{root}</code>
            <span className="text-neutral-500"> (its routes are under /sdapi/v1)</span>
          </dd>
          <dt className="text-neutral-400">Models</dt>
          <dd className="break-words text-neutral-300">
            {models.length > 0 ? models.join(", ") : "none available yet: see Providers"}. OpenAI's own names (dall-e-3, gpt-image-1) mean the
            studio's default model unless ATELIER_MODEL_ALIASES maps them.
          </dd>
        </dl>
      </section>

      <section aria-label="openai SDK" className="rounded-lg border border-neutral-800 bg-neutral-900/50 p-4">
        <h2 className="font-medium text-neutral-100">The openai Python SDK</h2>
        <Snippet
          label="Python"
          text={`from openai import OpenAI
import base64

client = OpenAI(base_url="${openai}", api_key="<key>")
result = client.images.generate(
    model="${model}",
    prompt="a lighthouse on a cliff in a storm",
    size="1024x1024",
)
open("lighthouse.png", "wb").write(base64.b64decode(result.data[0].b64_json))`}
        />
      </section>

      <section aria-label="Open WebUI" className="rounded-lg border border-neutral-800 bg-neutral-900/50 p-4">
        <h2 className="font-medium text-neutral-100">Open WebUI</h2>
        <p className="mt-1 text-sm text-neutral-400">
          Admin Panel → Settings → Images: turn image generation on, then either engine works.
        </p>
        <Snippet label="Engine “Default (Open AI)”" text={`OpenAI API Base URL: ${openai}\nOpenAI API Key: <key>\nModel: ${model}`} />
        <Snippet label="Engine “Automatic1111”" text={`AUTOMATIC1111 Base URL: ${root}\nAPI Auth String: atelier:<key>`} />
      </section>

      <section aria-label="SillyTavern" className="rounded-lg border border-neutral-800 bg-neutral-900/50 p-4">
        <h2 className="font-medium text-neutral-100">SillyTavern</h2>
        <p className="mt-1 text-sm text-neutral-400">Extensions → Image Generation → Source: Stable Diffusion Web UI (AUTOMATIC1111).</p>
        <Snippet label="Connection" text={`SD Web UI URL: ${root}\nAuthentication (optional): atelier:<key>`} />
      </section>

      <section aria-label="LibreChat" className="rounded-lg border border-neutral-800 bg-neutral-900/50 p-4">
        <h2 className="font-medium text-neutral-100">LibreChat</h2>
        <p className="mt-1 text-sm text-neutral-400">The DALL·E tool, pointed at Atelier in LibreChat's .env:</p>
        <Snippet
          label=".env (DALLE3_BASEURL in newer versions, DALLE_REVERSE_PROXY in older ones)"
          text={`DALLE3_BASEURL=${openai}\nDALLE_REVERSE_PROXY=${openai}\nDALLE3_API_KEY=<key>`}
        />
      </section>
    </div>
  );
}
