"""The ECS handler under pyinstrument: ``python -m bench.profile_ecs --port P --output F``.

The same app and server settings as the stack's ECS tier; the profile (a call tree, then
the functions by their own time) is written when uvicorn stops on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
from pathlib import Path

import uvicorn
from pyinstrument import Profiler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    from query_service.ecs.app import app  # imported before profiling: serving is measured

    # uvicorn stops on SIGTERM, then raises it again under the handler it found: make that
    # one harmless, so the report below gets written.
    signal.signal(signal.SIGTERM, lambda *_: None)
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=args.port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
        )
    finally:
        profiler.stop()
        flat = profiler.output_text(flat=True, flat_time="self", short_mode=False)
        tree = profiler.output_text(show_all=False)
        args.output.write_text("# own time per function\n" + flat + "\n# call tree\n" + tree)


if __name__ == "__main__":
    main()
