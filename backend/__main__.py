"""``python -m backend``: start the studio.

Under eventlet, monkey patching must happen before anything imports threading or
socket, so the async mode is read here with the standard library alone, first.
"""

import os
import sys


def _async_mode() -> str:
    mode = os.environ.get("ATELIER_ASYNC_MODE")
    env_file = os.environ.get("ATELIER_ENV_FILE", ".env")
    if mode is None and os.path.isfile(env_file):
        with open(env_file, encoding="utf-8") as f:
            for line in f:
                key, sep, value = line.strip().removeprefix("export ").partition("=")
                if sep and key.strip() == "ATELIER_ASYNC_MODE":
                    mode = value.split("#", 1)[0].strip().strip("'\"")
    return (mode or "eventlet").strip()


if _async_mode() == "eventlet":
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

from backend.cli import main  # noqa: E402

sys.exit(main())
