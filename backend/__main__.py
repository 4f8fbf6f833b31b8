"""``python -m backend``: start the studio.

Under eventlet, monkey patching must happen before anything imports threading or
socket, so the async mode is read first, by config.early_async_mode (standard library only).
"""

import sys

from backend.config import early_async_mode  # the standard library alone: safe before patching

if early_async_mode() == "eventlet":
    import warnings

    warnings.filterwarnings("ignore", message=r"\s*Eventlet is deprecated")
    import eventlet

    eventlet.monkey_patch()

from backend.cli import main  # noqa: E402

sys.exit(main())
