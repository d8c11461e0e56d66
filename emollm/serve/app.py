"""The demo's HTTP side: one plain page (static/index.html) and a small JSON/SSE API on Starlette.

    GET  /                      the page
    POST /api/upload            multipart: video, audio, sensor files and text -> the analysis (JSON)
    POST /api/analyze           {"id", "use": {"video": false, ...}} -> the analysis without the inputs switched off
    GET  /api/rationale?id=&use= the generated answer as server-sent events (pieces, then the parsed rationale)
    GET  /api/result/ID         the last analysis as a JSON download
Bad uploads and unusable media give {"error": "..."} with status 400 (413 when too large), never a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from emollm.serve.analysis import Analyzer, UploadError

log = logging.getLogger("emollm.serve")
PAGE = Path(__file__).resolve().parent / "static" / "index.html"
USER_ERRORS = (UploadError, ValueError, FileNotFoundError, KeyError)


def _safely(handler: Callable) -> Callable:
    """Turn a user error into a 400 JSON message and anything else into a 500 one; log the traceback only."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except USER_ERRORS as exc:
            message = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
            return JSONResponse({"error": str(message)}, status_code=400)
        except Exception as exc:  # noqa: BLE001 - the page gets a message, the log the traceback
            log.exception("request %s failed", request.url.path)
            return JSONResponse({"error": f"internal error ({type(exc).__name__}); see the server log"}, 500)

    return wrapped


def _use(raw: str | None) -> dict[str, bool]:
    use = json.loads(raw) if raw else {}
    if not isinstance(use, dict) or not all(isinstance(v, bool) for v in use.values()):
        raise ValueError("'use' must map inputs to true/false")
    return use


def build_app(analyzer: Analyzer, max_bytes: int) -> Starlette:
    """The Starlette app around one Analyzer."""

    async def page(request: Request) -> Response:
        return FileResponse(PAGE, media_type="text/html")

    async def upload(request: Request) -> Response:
        size = int(request.headers.get("content-length") or 0)
        if size > max_bytes * 3 + (1 << 20):
            return JSONResponse(
                {"error": f"upload of {size / 1e6:.0f} MB is over the limit"}, status_code=413
            )
        form = await request.form(max_part_size=max_bytes + 1)
        files = {}
        for modality in ("video", "audio", "sensor"):
            item = form.get(modality)
            if item is not None and hasattr(item, "read") and item.filename:
                files[modality] = (item.filename, await item.read())
        session = analyzer.new_session(files, str(form.get("text") or ""))
        return JSONResponse(analyzer.analyze(session.id, _use(str(form.get("use") or "") or None)))

    async def analyze(request: Request) -> Response:
        body = await request.json()
        return JSONResponse(
            analyzer.analyze(str(body.get("id", "")), _use(json.dumps(body.get("use") or {})))
        )

    async def rationale(request: Request) -> Response:
        sid, use = request.query_params.get("id", ""), _use(request.query_params.get("use"))
        analyzer._session(sid)  # an unknown session is a 400 before the stream opens

        def events() -> Iterator[str]:
            try:
                for piece in analyzer.stream_rationale(sid, use):
                    if piece.startswith("\0"):
                        yield f"event: done\ndata: {piece[1:]}\n\n"
                    else:
                        yield f"data: {json.dumps(piece)}\n\n"
            except USER_ERRORS as exc:
                yield f"event: failed\ndata: {json.dumps(str(exc))}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def result(request: Request) -> Response:
        session = analyzer._session(request.path_params["sid"])
        body: dict[str, Any] = session.last
        headers = {"Content-Disposition": f'attachment; filename="emollm-{session.id}.json"'}
        return Response(json.dumps(body, indent=2), media_type="application/json", headers=headers)

    routes = [
        Route("/", page),
        Route("/api/upload", _safely(upload), methods=["POST"]),
        Route("/api/analyze", _safely(analyze), methods=["POST"]),
        Route("/api/rationale", _safely(rationale)),
        Route("/api/result/{sid}", _safely(result)),
    ]
    return Starlette(routes=routes)
