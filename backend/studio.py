"""The composition root: builds the services of one running studio from its settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backend.config import Settings, SettingsError
from backend.providers.registry import ProviderRegistry
from backend.runtime import Runtime
from backend.services.accounts import Accounts
from backend.services.boards import BoardService
from backend.services.budgets import Budgets, NoAccounts, StoredBudgets
from backend.services.enhancers import Enhancer, build_enhancer
from backend.services.event_types import Bus, ProvidersChanged
from backend.services.events import EventBus
from backend.services.export import ZipExport
from backend.services.fallback import FallbackChain
from backend.services.gallery import Gallery
from backend.services.gallery_indexer import GalleryIndexer
from backend.services.gallery_watch import GalleryWatcher
from backend.services.job_pool import LocalPool
from backend.services.job_runner import JobRunner, Producers
from backend.services.job_sinks import GallerySink
from backend.services.jobs import Executor, JobService
from backend.services.limits import JobLimits
from backend.services.matrix import MatrixService
from backend.services.memory import HeapTrimmer
from backend.services.ownership import CachedNames, UserNames
from backend.services.provider_setup import ProviderSetup
from backend.services.signin_throttle import SignInThrottle
from backend.services.thumbnails import ThumbnailCache
from backend.services.tools.common import LOCAL, gallery_reader
from backend.services.tools.producers import tool_producers
from backend.services.usage import UsageLedger
from backend.services.validation import MAX_PROMPT_CHARS
from backend.services.wildcards import WildcardFiles
from backend.storage.account_store import ACCOUNTS_FILE, AccountStore
from backend.storage.gallery_index import GalleryIndex
from backend.storage.job_store import JobStore
from backend.storage.matrix_store import MatrixStore
from backend.storage.prompt_store import PromptStore

if TYPE_CHECKING:
    from backend.services.oidc import OidcClient
    from backend.services.provider_sync import ProviderSync
    from backend.services.rq_executor import RqExecutor

log = logging.getLogger(__name__)

INDEX_FILE = ".atelier/index.sqlite3"
JOBS_FILE = "jobs.sqlite3"
PROMPTS_FILE = "prompts.sqlite3"
MATRICES_FILE = "matrices.sqlite3"


def job_service(
    settings: Settings,
    store: JobStore,
    registry: ProviderRegistry,
    gallery: Gallery,
    bus: Bus,
    runtime: Runtime,
    executor: Executor,
    *,
    reload: bool = False,
) -> JobService:
    """The job service on ``executor``; ``reload``: jobs run elsewhere, so the sink reads
    each job from the store before changing it."""
    producers = Producers(registry, tool_producers(registry, gallery_reader(gallery)))
    runner = JobRunner(producers, FallbackChain(registry, settings.fallback), runtime)
    sink = GallerySink(gallery, store, bus, runtime, reload=reload)
    return JobService(store, registry, bus, runtime, runner, sink, executor)


def check_provider_names(settings: Settings, registry: ProviderRegistry) -> None:
    """ATELIER_DEFAULT_PROVIDER, ATELIER_FALLBACK and ATELIER_PROVIDER_CONCURRENCY name providers of
    this studio: a typo would leave every job without its provider, or silently do nothing."""
    known = registry.ids()
    named = [("ATELIER_DEFAULT_PROVIDER", settings.default_provider)]
    named += [("ATELIER_FALLBACK", name) for name in settings.fallback]
    for variable, name in named:
        if name not in known:
            raise SettingsError(f"{variable}: no provider {name!r}; use one of {', '.join(known)}")
    limited = [*known, LOCAL]  # tool jobs done on this machine are limited under "local"
    for name in settings.provider_concurrency:
        if name not in limited:
            raise SettingsError(f"ATELIER_PROVIDER_CONCURRENCY: no provider {name!r}; use one of {', '.join(limited)}")


@dataclass
class Studio:
    settings: Settings
    runtime: Runtime
    registry: ProviderRegistry
    gallery: Gallery
    bus: Bus
    jobs: JobService
    thumbnails: ThumbnailCache
    export: ZipExport
    usage: UsageLedger
    #: set when ATELIER_REDIS_URL is: the jobs' executor, which takes the workers' reports
    remote: RqExecutor | None = None
    worker_secret: str | None = None
    #: with Redis: where provider settings entered in the studio reach the workers
    provider_sync: ProviderSync | None = None
    #: built last, so that it feeds the event bus the studio ends up with
    watcher: GalleryWatcher = field(init=False)
    #: brings the index in line with the folder at start, in the background for a big folder
    indexer: GalleryIndexer = field(init=False)
    heap: HeapTrimmer = field(init=False)
    #: users, sessions and API keys (services/accounts.py); no user = no accounts
    accounts: Accounts = field(init=False)
    #: sign-in through OpenID Connect (ATELIER_OIDC_ISSUER); None when off
    oidc: OidcClient | None = field(init=False)
    #: the prompt history (GET /api/prompts) and the wildcard files (ATELIER_WILDCARDS_DIR)
    prompts: PromptStore = field(init=False)
    wildcards: WildcardFiles = field(init=False)
    matrices: MatrixService = field(init=False)
    #: the prompt enhancer (ATELIER_ENHANCER); None when it is off
    enhancer: Enhancer | None = field(init=False)
    #: boards, and who sees which image (services/boards.py)
    boards: BoardService = field(init=False)
    #: the Providers page's settings: keys (encrypted), base URLs, on/off, applied at once
    provider_setup: ProviderSetup = field(init=False)

    @classmethod
    def build(
        cls,
        settings: Settings,
        runtime: Runtime,
        emit: Callable[[str, dict[str, Any], str], None],
        join: Callable[[str, str], None],
        leave: Callable[[str, str], None],
        deliver: Callable[[str, dict[str, Any], str], None] | None = None,
    ) -> Studio:
        Gallery.prepare_folder(settings.gallery_dir)
        registry = ProviderRegistry.discover(settings.env, settings.provider_modules)
        check_provider_names(settings, registry)
        gallery = Gallery(
            settings.gallery_dir, GalleryIndex(settings.gallery_dir / INDEX_FILE), run_blocking=runtime.run_blocking
        )
        store = JobStore(settings.data_dir / JOBS_FILE)

        def load_last_seq(job_id: str) -> int:
            job = store.get(job_id)
            return job.last_seq if job else 0

        bus = EventBus(emit, join, leave, load_last_seq, store.set_last_seq, settings.event_retention_seconds)
        pool = LocalPool(
            registry,
            runtime,
            max_concurrent=settings.max_concurrent_jobs,
            provider_concurrency=settings.provider_concurrency,
            preview_interval=1.0 / settings.previews_per_second,
            preview_side=settings.preview_size,
        )
        jobs = job_service(settings, store, registry, gallery, bus, runtime, pool)
        budgets = Budgets(store.db, NoAccounts(), settings.user_monthly_budget_usd)
        job_limits = JobLimits(store.db, settings.user_max_concurrent_jobs, settings.key_max_concurrent_jobs)
        usage = UsageLedger(store.db, settings.monthly_budget_usd, budgets, job_limits)
        thumbnails = ThumbnailCache(settings.gallery_dir)
        export = ZipExport(gallery, runtime.run_blocking)
        studio = cls(settings, runtime, registry, gallery, bus, jobs, thumbnails, export, usage)
        if settings.scaleout.distributed:  # ATELIER_REDIS_URL: jobs and events go through Redis
            from backend.distributed import make_distributed

            assert deliver is not None
            make_distributed(studio, store, emit, join, leave, deliver)
        # the accounts first: an unreadable accounts database stops the studio before anything
        # else is made (the provider settings' secret file, for one)
        studio.accounts = Accounts(
            AccountStore(settings.data_dir / ACCOUNTS_FILE), _signin_throttle(settings), runtime.run_blocking
        )
        usage.budgets.source = StoredBudgets(studio.accounts.store)  # users' and keys' budgets
        studio.provider_setup = ProviderSetup(
            registry,
            settings.env,
            settings.data_dir,
            settings.secret_key,
            allow_private_urls=settings.provider_urls_allow_private,
            env_concurrency=settings.provider_concurrency,
            pool_limits=pool.provider_concurrency if studio.remote is None else None,
            announce=lambda pid, version: studio.bus.feed(ProvidersChanged(provider=pid, version=version)),
            sync=studio.provider_sync,
        )
        studio.provider_setup.start()
        studio.heap = HeapTrimmer(runtime)
        studio.oidc = _oidc(settings)
        studio.prompts = PromptStore(settings.data_dir / PROMPTS_FILE)
        studio.wildcards = WildcardFiles(settings.wildcards_dir)
        studio.enhancer = build_enhancer(settings.enhancer, settings.env, MAX_PROMPT_CHARS)
        studio.matrices = MatrixService(
            MatrixStore(settings.data_dir / MATRICES_FILE),
            studio.jobs,
            usage,
            gallery,
            studio.bus,
            runtime,
            registry,
            settings.default_provider,
            settings.matrix_max_cells,
        )
        studio.boards = BoardService(gallery)
        gallery.shared_paths = studio.boards.shared_paths  # their events reach every user
        accounts = studio.accounts
        studio.set_user_names(CachedNames(lambda: [u.name for u in accounts.users()]))
        gallery.feed = studio.bus.feed  # the gallery announces its own changes
        studio.watcher = GalleryWatcher(
            gallery, runtime, settings.watch_interval_seconds, settings.trash_days * 86400, settings.watch_mode
        )
        studio.indexer = GalleryIndexer(gallery, runtime)
        return studio

    def set_user_names(self, names: UserNames) -> None:
        """Tell the services which accounts exist (their folders, their rooms): the accounts
        service calls it; without accounts there are none and the studio is today's."""
        self.gallery.user_names = names
        self.jobs.user_names = names

    def start(self) -> None:
        """Bring the index in line with the folder (a big folder: in the background, while
        serving), resume the queue, watch the folder."""
        foreground = self.indexer.fits_in_foreground()
        if foreground:
            changed, removed = self.indexer.index_now()
        else:
            self.indexer.announce_start()
        purged = self.gallery.trash.purge(self.settings.trash_days * 86400)
        interrupted, queued = self.jobs.recover()
        self.matrices.recover()
        self.watcher.choose()
        self.runtime.spawn(self._watch, foreground)
        self.jobs.executor.background()
        # with Redis: a save on another web server reaches this one's providers too
        self.provider_setup.follow(self.runtime.spawn, self.runtime.sleep)
        if foreground:
            log.info(
                "gallery %s: %d images (%d new or changed, %d gone, %d purged from the trash); "
                "jobs: %d resumed, %d interrupted",
                self.settings.gallery_dir,
                self.gallery.index.count(),
                changed,
                removed,
                purged,
                queued,
                interrupted,
            )
        else:
            log.info(
                "gallery %s: %d images indexed so far, indexing the folder in the background "
                "(%d purged from the trash); jobs: %d resumed, %d interrupted",
                self.settings.gallery_dir,
                self.gallery.index.count(),
                purged,
                queued,
                interrupted,
            )

    def _watch(self, indexed: bool) -> None:
        """The watcher's task: file events first, so that nothing changed after the next
        full look goes unnoticed; then that look (the background index, or one scan when the
        index was brought in line before serving and events will be all the watcher sees);
        then watch."""
        self.watcher.begin()
        if not indexed:
            self.indexer.index_in_background()
        elif self.watcher.mode == "events":
            self.watcher.look_at([""])
        self.watcher.run()


def _signin_throttle(settings: Settings) -> SignInThrottle:
    """Failed sign-ins counted in Redis when web instances share it, else in this process."""
    if not settings.scaleout.redis_url:
        return SignInThrottle()
    import redis

    return SignInThrottle(redis=redis.Redis.from_url(settings.scaleout.redis_url))


def _oidc(settings: Settings) -> OidcClient | None:
    if not settings.oidc.enabled:
        return None
    from backend.services.oidc import OidcClient  # Authlib is imported only when it is used

    return OidcClient(settings.oidc)
