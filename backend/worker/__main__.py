"""``python -m backend.worker --providers diffusers,offline``: run jobs from Redis.

Equivalent to ``rq worker -w rq.worker.SimpleWorker --url $ATELIER_REDIS_URL atelier:diffusers
atelier:offline`` with the same environment, plus a check at start that every provider
asked for is here and usable. Jobs run in this process (RQ's SimpleWorker), so a model
loaded for one job stays loaded for the next; run several workers for more at once.

``local`` names the studio tools that need no provider (upscale fast and auto, social
formats): a worker serving it takes them from ``atelier:local``. Edits and provider
upscales go to their provider's queue. Without --providers and ATELIER_WORKER_PROVIDERS,
a worker serves the default provider and ``local``.
"""

from __future__ import annotations

import argparse
import logging
import sys

from backend.config import SettingsError, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backend.worker", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--providers",
        help="comma-separated provider ids, `local` for the studio tools that need no provider "
        "(default: ATELIER_WORKER_PROVIDERS, else ATELIER_DEFAULT_PROVIDER and local)",
    )
    parser.add_argument("--name", help="this worker's name (default: host-pid)")
    parser.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"atelier-worker: {exc}", file=sys.stderr)
        return 2
    scale = settings.scaleout
    if not scale.redis_url:
        print("atelier-worker: set ATELIER_REDIS_URL to the Redis the web server uses", file=sys.stderr)
        return 2
    from backend.env_values import parse_names
    from backend.services.tools.common import LOCAL

    if args.providers:
        wanted = parse_names(args.providers)
    else:
        wanted = scale.worker_providers or (settings.default_provider, LOCAL)
    logging.basicConfig(
        level=getattr(logging, settings.log_level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )

    from backend.providers.registry import ProviderRegistry

    try:
        registry = ProviderRegistry.discover(settings.env, settings.provider_modules)
    except SettingsError as exc:  # the providers' own settings (ATELIER_HTTP_*, ATELIER_RETRY_*) are read here
        print(f"atelier-worker: {exc}", file=sys.stderr)
        return 2
    here = sorted([*(p.id for p in registry), LOCAL])
    for provider_id in wanted:
        if provider_id != LOCAL and registry.get(provider_id) is None:  # LOCAL: the tools that run on any machine
            print(
                f"atelier-worker: this machine has no provider {provider_id!r} (it has: {', '.join(here)})",
                file=sys.stderr,
            )
            return 2

    from redis import Redis
    from rq.worker import SimpleWorker

    from backend.distributed import RedisUnreachable, connect_redis
    from backend.services.job_queue import queue_name
    from backend.worker.tasks import build_state, default_name, install_state

    def unusable() -> str | None:
        for provider_id in wanted:
            provider = registry.get(provider_id)
            ok, reason = provider.availability() if provider is not None else (True, None)
            if not ok:
                return f"atelier-worker: provider {provider_id!r} cannot run here: {reason}"
        return None

    try:
        redis = connect_redis(scale.redis_url)
    except RedisUnreachable as exc:
        problem = unusable()
        print(problem or f"atelier-worker: {exc}", file=sys.stderr)
        return 2 if problem else 1
    # the provider settings entered in the studio (keys, base URLs, on/off) count too
    from backend.services.job_queue import JobQueue
    from backend.services.provider_setup import apply_synced
    from backend.services.provider_sync import ProviderSync

    secret = JobQueue(redis, scale.heartbeat_seconds, scale.job_timeout_seconds).worker_secret(scale.worker_secret)
    synced = ProviderSync(redis, secret).fetch(None)
    if synced is not None:
        apply_synced(registry, {p.id: type(p) for p in registry}, settings.env, synced[1])
    problem = unusable()
    if problem:
        print(problem, file=sys.stderr)
        return 2

    name = args.name or default_name()
    install_state(build_state(settings, redis, wanted, name))
    queues = [queue_name(p) for p in wanted]
    # RQ's blocking pop waits longer than a socket timeout allows: a client without one
    rq_redis = Redis.from_url(scale.redis_url)
    worker = SimpleWorker(queues, connection=rq_redis, name=name)
    print(f"atelier-worker {name}: serving {', '.join(queues)}", flush=True)
    worker.work(burst=args.burst, with_scheduler=False, logging_level=settings.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
