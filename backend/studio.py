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
from backend.services.budgets import Budgets, NoAccounts
from backend.services.enhancers import Enhancer, build_enhancer
from backend.services.event_types import Bus
from backend.services.events import EventBus
from backend.services.export import ZipExport
from backend.services.fallback import FallbackChain
from backend.services.gallery import Gallery
from backend.services.gallery_watch import GalleryWatcher
from backend.services.job_pool import LocalPool
from backend.services.job_runner import JobRunner, Producers
from backend.services.job_sinks import GallerySink
from backend.services.jobs import Executor, JobService
from backend.services.limits import JobLimits
from backend.services.matrix import MatrixService
from backend.services.memory import HeapTrimmer
from backend.services.ownership import UserNames
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
    #: built last, so that it feeds the event bus the studio ends up with
    watcher: GalleryWatcher = field(init=False)
    heap: HeapTrimmer = field(init=False)
    #: users, sessions and API keys (services/accounts.py); no user = no accounts
    accounts: Accounts = field(init=False)
    #: the prompt history (GET /api/prompts) and the wildcard files (ATELIER_WILDCARDS_DIR)
    prompts: PromptStore = field(init=False)
    wildcards: WildcardFiles = field(init=False)
    matrices: MatrixService = field(init=False)
    #: the prompt enhancer (ATELIER_ENHANCER); None when it is off
    enhancer: Enhancer | None = field(init=False)
    #: boards, and who sees which image (services/boards.py)
    boards: BoardService = field(init=False)

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
        studio.heap = HeapTrimmer(runtime)
        studio.accounts = Accounts(AccountStore(settings.data_dir / ACCOUNTS_FILE), _signin_throttle(settings))
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
        # the accounts that exist now (read on each use: the users CLI changes them under a running server)
        accounts = studio.accounts
        studio.set_user_names(lambda: [user.name for user in accounts.users()])
        gallery.feed = studio.bus.feed  # the gallery announces its own changes
        studio.watcher = GalleryWatcher(gallery, runtime, settings.watch_interval_seconds, settings.trash_days * 86400)
        return studio

    def set_user_names(self, names: UserNames) -> None:
        """Tell the services which accounts exist (their folders, their rooms): the accounts
        service calls it; without accounts there are none and the studio is today's."""
        self.gallery.user_names = names
        self.jobs.user_names = names

    def start(self) -> None:
        """Bring the index in line with the folder, resume the queue, watch the folder."""
        changed, removed = self.gallery.reconcile()
        purged = self.gallery.trash.purge(self.settings.trash_days * 86400)
        interrupted, queued = self.jobs.recover()
        self.matrices.recover()
        self.watcher.start()
        self.jobs.executor.background()
        log.info(
            "gallery %s: %d images (%d new or changed, %d gone, %d purged from the trash); "
            "jobs: %d resumed, %d interrupted",
            self.settings.gallery_dir,
            self.gallery.index.count(),
            len(changed),
            len(removed),
            purged,
            queued,
            interrupted,
        )


def _signin_throttle(settings: Settings) -> SignInThrottle:
    """Failed sign-ins counted in Redis when web instances share it, else in this process."""
    if not settings.scaleout.redis_url:
        return SignInThrottle()
    import redis

    return SignInThrottle(redis=redis.Redis.from_url(settings.scaleout.redis_url))
