import { lazy, Suspense, useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { api, ApiError } from "./api/client";
import { liveConnection } from "./api/live";
import type { GalleryImage, ServerWarning } from "./api/types";
import { Composer } from "./compose/Composer";
import { draftFromSettings, EMPTY_DRAFT, toSubmission, withDefaults, type Draft, type Settings } from "./compose/draft";
import { ConnectionBanner } from "./common/ConnectionBanner";
import { DropZone } from "./common/DropZone";
import { replaceImage } from "./gallery/galleryData";
import { JobCard } from "./jobs/JobCard";
import { imageList } from "./jobs/jobState";
import { useClientJobs } from "./jobs/clientJobs";
import { QueuePanel } from "./queue/QueuePanel";
import { JobsStore, useJobs } from "./jobs/jobsStore";
import { findModel, useProviders, useStyles } from "./providers/catalog";
import { useProvidersFeed } from "./providers/settingsApi";
import { MatrixBuilder } from "./matrix/MatrixBuilder";
import { MatrixGrid } from "./matrix/MatrixGrid";
import { useMatrix } from "./matrix/useMatrix";
import { sessionId } from "./session/session";
import { SessionStrip } from "./session/SessionStrip";
import { PromptHistory } from "./prompts/PromptHistory";
import { PROMPTS_KEY, usePromptWalk } from "./prompts/usePrompts";
import { WildcardPreview } from "./prompts/WildcardPreview";
import { PromptEnhancer } from "./prompts/PromptEnhancer";
import { useAccount } from "./accounts/account";
import { accountRoutes, UserMenu } from "./accounts/UserMenu";

const GalleryPage = lazy(() => import("./gallery/GalleryPage"));
const ProvidersPage = lazy(() => import("./providers/ProvidersPage"));
const Lightbox = lazy(() => import("./lightbox/Lightbox"));
const ToolsPage = lazy(() => import("./tools/ToolsPage"));
const ConnectPage = lazy(() => import("./connect/ConnectPage"));
const KeysPage = lazy(() => import("./accounts/KeysPage"));
const AdminPage = lazy(() => import("./accounts/AdminPage"));

type Route = "studio" | "gallery" | "providers" | "tools" | "connect" | "keys" | "admin";

function routeFromHash(): Route {
  const h = location.hash.replace(/^#\/?/, "").split("?")[0];
  return h === "gallery" || h === "providers" || h === "tools" || h === "connect" || h === "keys" || h === "admin" ? h : "studio";
}

function useRoute(): [Route, (r: Route) => void] {
  const [route, setRoute] = useState<Route>(routeFromHash);
  useEffect(() => {
    const on = () => setRoute(routeFromHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return [route, (r) => (location.hash = r === "studio" ? "/" : `/${r}`)];
}

export interface LightboxState {
  images: GalleryImage[];
  index: number;
}

export function App() {
  const session = useMemo(sessionId, []);
  const store = useMemo(() => new JobsStore(liveConnection), []);
  const jobs = useJobs(store);
  useClientJobs(store, liveConnection);
  const providers = useProviders();
  useProvidersFeed(); // a save on the Providers page (any tab) refreshes the catalog
  const styles = useStyles();
  const queryClient = useQueryClient();
  const [route, go] = useRoute();
  const [draft, setDraft] = useState<Draft>(EMPTY_DRAFT);
  const [warnings, setWarnings] = useState<ServerWarning[]>([]);
  const [serverError, setServerError] = useState<{ message: string; field?: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [lastSeed, setLastSeed] = useState<number | null>(null);
  const [lightbox, setLightbox] = useState<LightboxState | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const loadedSession = useRef(false);
  const matrix = useMatrix();
  const account = useAccount();

  // fill in the provider/model defaults once the catalog is known
  useEffect(() => {
    if (providers.data) setDraft((d) => withDefaults(d, providers.data));
  }, [providers.data]);

  // after a reload of the tab, its session's jobs come back
  useEffect(() => {
    if (loadedSession.current) return;
    loadedSession.current = true;
    api
      .jobs(session)
      .then((page) => page.items.forEach((j) => store.track(j)))
      .catch(() => {});
  }, [session, store]);

  useEffect(() => {
    store.setImageListener(() => void queryClient.invalidateQueries({ queryKey: ["images"], refetchType: "none" }));
  }, [store, queryClient]);

  const generate = useCallback(async () => {
    const model = findModel(providers.data, draft.provider, draft.model);
    if (!model) return;
    setBusy(true);
    setServerError(null);
    try {
      const { job, warnings } = await api.submit(toSubmission(draft, model, session));
      setWarnings(warnings);
      if (job.request.seed !== null) setLastSeed(job.request.seed);
      store.track(job);
      void queryClient.invalidateQueries({ queryKey: PROMPTS_KEY });
    } catch (e) {
      // the prompt stays: only the message changes
      const err = e instanceof ApiError ? e : new ApiError(0, "unknown", String(e));
      setServerError({ message: err.message, field: err.field });
    } finally {
      setBusy(false);
    }
  }, [draft, providers.data, session, store, queryClient]);
  const walkHistory = usePromptWalk(draft.prompt, useCallback((prompt: string) => setDraft((d) => ({ ...d, prompt })), []));

  const cancel = useCallback(
    (id: string) => {
      api
        .cancel(id)
        .then((job) => store.merge(job))
        .catch((e: ApiError) => setNotice(e.message));
    },
    [store],
  );
  const retry = useCallback(
    (id: string): Promise<string | null> =>
      api
        .retry(id)
        .then(({ job }) => {
          store.track(job);
          return job.id;
        })
        .catch((e: ApiError) => {
          setNotice(e.message);
          return null;
        }),
    [store],
  );
  const toolJobs = useMemo(() => ({ store, session, cancel, retry }), [store, session, cancel, retry]);

  const applySettings = useCallback(
    (s: Settings, newSeed = false) => {
      setDraft((d) => {
        const next = draftFromSettings(d, s, newSeed);
        return providers.data ? withDefaults(next, providers.data) : next;
      });
      setWarnings([]);
      setServerError(null);
      setLightbox(null);
      go("studio");
    },
    [providers.data, go],
  );

  // an image changed elsewhere (a favourite toggled in another tab): the open lightbox shows it
  const lightboxOpen = lightbox !== null;
  const shownImage = useRef<string | null>(null);
  useEffect(() => {
    shownImage.current = lightbox?.images[lightbox.index]?.id ?? null;
  });
  useEffect(() => {
    if (!lightboxOpen) return;
    let off: (() => void) | undefined;
    let alive = true;
    const show = (image: GalleryImage) => setLightbox((l) => (l ? { ...l, images: replaceImage(l.images, image) } : l));
    void liveConnection().then((live) => {
      if (!alive) return;
      const offFeed = live.subscribeFeed("gallery", (event) => {
        if (event.type === "gallery.updated") show(event.image);
      });
      // a change missed while the connection was down: the image on screen is asked for again
      const offReconnect = live.onResubscribed("gallery", () => {
        const id = shownImage.current;
        if (id) api.image(id).then(({ image }) => alive && show(image), () => {});
      });
      off = () => {
        offFeed();
        offReconnect();
      };
    });
    return () => {
      alive = false;
      off?.();
    };
  }, [lightboxOpen]);

  const sessionImages = useMemo(() => jobs.slice().reverse().flatMap(imageList), [jobs]);

  return (
    <DropZone onParameters={(p) => applySettings(p)} onError={setNotice}>
      <div className="min-h-dvh">
        <ConnectionBanner />
        <header className="sticky top-0 z-30 border-b border-neutral-900 bg-neutral-950/90 backdrop-blur">
          <div className="mx-auto flex max-w-screen-2xl items-center">
            <nav aria-label="Main" className="mx-auto flex min-w-0 max-w-screen-2xl flex-1 items-center gap-0.5 overflow-x-auto px-2 py-2 sm:gap-1 sm:px-3">
              <span className="mr-1 font-semibold tracking-tight text-amber-300 max-[440px]:hidden sm:mr-3">Atelier</span>
              {(["studio", "gallery", "tools", "providers", "connect", ...accountRoutes(account)] as const).map((r) => (
                <a
                  key={r}
                  href={r === "studio" ? "#/" : `#/${r}`}
                  aria-current={route === r ? "page" : undefined}
                  className={
                    "shrink-0 rounded-md px-2 py-1 text-sm capitalize sm:px-2.5 " +
                    (route === r ? "bg-neutral-800 text-neutral-50" : "text-neutral-400 hover:text-neutral-100")
                  }
                >
                  {r}
                </a>
              ))}
            </nav>
            <UserMenu />
          </div>
        </header>

        {notice && (
          <div role="status" className="mx-auto mt-2 flex max-w-screen-2xl items-center justify-between gap-2 px-3">
            <p className="flex-1 rounded-md border border-amber-900/60 bg-amber-950/40 px-3 py-1.5 text-sm text-amber-200">
              {notice}
            </p>
            <button type="button" className="text-sm text-neutral-400" onClick={() => setNotice(null)} aria-label="Dismiss notice">
              ×
            </button>
          </div>
        )}

        <main className="mx-auto max-w-screen-2xl px-3 py-3">
          {route === "studio" && (
            <div className="grid gap-4 lg:grid-cols-[24rem_minmax(0,1fr)]">
              <aside className="lg:sticky lg:top-14 lg:self-start">
                {providers.isError ? (
                  <p role="alert" className="rounded-md border border-red-900 bg-red-950/40 p-3 text-sm text-red-300">
                    The server cannot be reached ({(providers.error as Error).message}). It will retry by itself.
                  </p>
                ) : (
                  <Composer
                    draft={draft}
                    onChange={(d) => {
                      setDraft(d.prompt.trim() ? d : { ...d, originalPrompt: null }); // a cleared prompt drops the original
                      if (serverError) setServerError(null);
                    }}
                    providers={providers.data ?? []}
                    styles={styles.data ?? []}
                    onGenerate={generate}
                    busy={busy}
                    warnings={warnings}
                    serverError={serverError}
                    lastSeed={lastSeed}
                    onPromptKeyDown={walkHistory}
                    promptExtras={
                      <>
                        <WildcardPreview prompt={draft.prompt} seed={draft.seedLocked && /^\d+$/.test(draft.seed) ? Number(draft.seed) : null} n={draft.n} />
                        <PromptEnhancer
                          prompt={draft.prompt}
                          style={draft.style}
                          onAccept={(enhanced, original) => setDraft((d) => ({ ...d, prompt: enhanced, originalPrompt: d.originalPrompt ?? original }))}
                          original={draft.originalPrompt}
                          onUndo={() => setDraft((d) => ({ ...d, prompt: d.originalPrompt ?? d.prompt, originalPrompt: null }))}
                        />
                      </>
                    }
                  />
                )}
                <PromptHistory
                  onRestore={(entry) => {
                    applySettings({ prompt: entry.prompt, ...entry.settings });
                    if (entry.settings.n) setDraft((d) => ({ ...d, n: entry.settings.n ?? d.n }));
                  }}
                />
                <MatrixBuilder
                  base={(() => {
                    const model = findModel(providers.data, draft.provider, draft.model);
                    return model && draft.prompt.trim() ? toSubmission(draft, model, session) : null;
                  })()}
                  providers={providers.data ?? []}
                  styles={styles.data ?? []}
                  onStart={matrix.start}
                />
              </aside>
              <section aria-label="Jobs" className="flex min-w-0 flex-col gap-3">
                <QueuePanel onNotice={setNotice} />
                <MatrixGrid state={matrix} onUseSettings={(s) => applySettings(s)} onOpenImage={(img) => setLightbox({ images: [img], index: 0 })} />
                <SessionStrip images={sessionImages} session={session} onOpen={(img, all) => setLightbox({ images: all, index: all.indexOf(img) })} />
                {jobs.length === 0 && !matrix.matrix && (
                  <p className="rounded-lg border border-dashed border-neutral-800 p-8 text-center text-sm text-neutral-500">
                    Write a prompt and press Generate. Your jobs appear here as they run.
                    <br />
                    Drop an image made by Atelier or another studio anywhere to reuse its settings.
                  </p>
                )}
                <div className="grid gap-3 xl:grid-cols-2">
                  {jobs.map((job) => (
                    <JobCard
                      key={job.id}
                      job={job}
                      onCancel={cancel}
                      onRetry={retry}
                      onDismiss={(id) => store.dismiss(id)}
                      onOpenImage={(img) => {
                        const all = imageList(job);
                        setLightbox({ images: all, index: all.findIndex((x) => x.id === img.id) });
                      }}
                    />
                  ))}
                </div>
              </section>
            </div>
          )}
          <Suspense fallback={<p className="p-6 text-sm text-neutral-500">Loading…</p>}>
            {route === "gallery" && (
              <GalleryPage
                providers={providers.data ?? []}
                styles={styles.data ?? []}
                onOpen={(images, index) => setLightbox({ images, index })}
                onNotice={setNotice}
              />
            )}
            {route === "providers" && <ProvidersPage />}
            {route === "connect" && <ConnectPage />}
            {route === "keys" && account.user && <KeysPage />}
            {route === "admin" && account.isAdmin && <AdminPage />}
            {route === "tools" && (
              <ToolsPage
                jobs={toolJobs}
                onUseTemplate={(t) => {
                  setDraft((d) => ({
                    ...d,
                    prompt: t.prompt,
                    provider: t.provider,
                    model: t.model,
                    style: t.style,
                    aspectRatio: t.aspect_ratio,
                  }));
                  setNotice(`Template “${t.name}”: replace {subject} with what you want`);
                  go("studio");
                }}
              />
            )}
            {lightbox && (
              <Lightbox
                images={lightbox.images}
                index={lightbox.index}
                onIndex={(index) => setLightbox((l) => (l ? { ...l, index } : l))}
                onClose={() => setLightbox(null)}
                onUseSettings={(s) => applySettings(s)}
                onVariation={(s) => applySettings(s, true)}
                onNotice={setNotice}
                onImage={(image) => setLightbox((l) => (l ? { ...l, images: replaceImage(l.images, image) } : l))}
              />
            )}
          </Suspense>
        </main>
      </div>
    </DropZone>
  );
}
