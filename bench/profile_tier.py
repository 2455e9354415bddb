"""A tier under pyinstrument, for the profile section of ``make bench``.

``python -m bench.profile_tier ecs --port P --output F``: the ECS handler served as the
stack serves it; the report is written when uvicorn stops on SIGTERM.

``python -m bench.profile_tier query_result --requests N --seconds S --output F``: the
Query Result Lambda's handler invoked with the API Gateway event of ``/query/user``, one
call after another, N times or for S seconds, whichever ends first (on a crowded machine
a call takes many times as long: the run stays as long as planned); it prints how many it
made. The local gateway runs the handler in worker threads, which a sampling profiler of
the main thread would not see.

Each report holds the functions by their own time, then the call tree.
"""

from __future__ import annotations

import argparse
import signal
import time
import uuid
from pathlib import Path

from pyinstrument import Profiler

USER_BODY = '{"user_id":"test_user_001","limit":10}'


def _write(profiler: Profiler, output: Path) -> None:
    flat = profiler.output_text(flat=True, flat_time="self", short_mode=False)
    tree = profiler.output_text(show_all=False)
    output.write_text("# own time per function\n" + flat + "\n# call tree\n" + tree)


def profile_ecs(port: int, output: Path) -> None:
    import uvicorn

    from query_service.ecs.app import app  # imported first: serving is what is measured

    # uvicorn stops on SIGTERM, then raises it again under the handler it found: make that
    # one harmless, so the report gets written.
    signal.signal(signal.SIGTERM, lambda *_: None)
    profiler = Profiler(interval=0.0005, async_mode="disabled")
    profiler.start()
    try:
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            loop="uvloop",
            http="httptools",
            access_log=False,
            log_level="warning",
        )
    finally:
        profiler.stop()
        _write(profiler, output)


def profile_query_result(requests: int, seconds: float, output: Path) -> int:
    from query_service.lambdas.query_result import lambda_handler
    from query_service.local.lambda_runtime import LambdaContext

    def event() -> dict[str, object]:
        request_id = str(uuid.uuid4())
        return {
            "resource": "/query/{kind}",
            "path": "/query/user",
            "httpMethod": "POST",
            "headers": {"content-type": "application/json", "x-request-id": request_id},
            "multiValueHeaders": {"content-type": ["application/json"]},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": {"kind": "user"},
            "stageVariables": None,
            "requestContext": {"requestId": request_id, "stage": "v1", "resourcePath": "/"},
            "body": USER_BODY,
            "isBase64Encoded": False,
        }

    def invoke() -> None:
        context = LambdaContext("query-service-query-result", "bench", 1e12)
        result = lambda_handler(event(), context)  # type: ignore[arg-type]
        if result["statusCode"] != 200:
            raise RuntimeError(f"the Lambda answered {result}")

    for _ in range(20):  # warm: the client, its connection, the codec
        invoke()
    profiler = Profiler(interval=0.0002, async_mode="disabled")
    made = 0
    stop_at = time.monotonic() + seconds
    profiler.start()
    while made < requests and time.monotonic() < stop_at:
        invoke()
        made += 1
    profiler.stop()
    _write(profiler, output)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tier", choices=("ecs", "query_result"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    if args.tier == "ecs":
        profile_ecs(args.port, args.output)
    else:
        print(profile_query_result(args.requests, args.seconds, args.output))


if __name__ == "__main__":
    main()
