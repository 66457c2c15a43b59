"""REST routes of the threads capability.

GET  /api/v1/threads                 every thread: repo state, queue depths, tiers, liveness
GET  /api/v1/threads/progress        per thread: id, name, cwd, last_activity, liveness
GET  /api/v1/threads/{id}            one thread with HEARTBEAT.md, recent outgoing, git log
POST /api/v1/threads/{id}/messages   {"text": "...", "sender"?: "..."} -> the queued message
POST /api/v1/threads/{id}/beat       run a heartbeat of the thread now (202)
GET  /api/v1/kb/{name}               context.md | decisions.md | active-projects.md (text)
GET  /api/v1/kb                      {"files": [...], "log": [...]}
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from clawtui.engine.api import kb as kbmod
from clawtui.engine.api.threads import QueueError, ThreadError, ThreadsAPI, threads_of
from clawtui.service.bodies import no_body, parse_body
from clawtui.service.capabilities import capability
from clawtui.service.errors import fail

routes = web.RouteTableDef()
MAX_TEXT = 64 * 1024


class SendBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    sender: str = Field(default="api", min_length=1, max_length=64)


def _threads(request: web.Request) -> ThreadsAPI:
    return capability(request, threads_of, "this engine has no threads capability")


def _thread_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    try:
        value = int(raw)
    except ValueError:
        fail(400, f"thread id must be a whole number, got {raw[:40]!r}")
    if value < 0:
        fail(400, f"thread id must not be negative, got {value}")
    return value


@routes.get("/api/v1/threads")
async def list_threads(request: web.Request) -> web.Response:
    rows = [s.model_dump(mode="json") for s in _threads(request).statuses()]
    return web.json_response({"threads": rows})


@routes.get("/api/v1/threads/progress")
async def progress(request: web.Request) -> web.Response:
    rows = [p.model_dump(mode="json") for p in _threads(request).progress()]
    return web.json_response({"threads": rows})


@routes.get("/api/v1/threads/{id}")
async def thread_detail(request: web.Request) -> web.Response:
    tid = _thread_id(request)
    try:
        detail = await _threads(request).detail(tid)
    except ThreadError as exc:
        fail(404, str(exc))
    return web.json_response(detail.model_dump(mode="json"))


@routes.post("/api/v1/threads/{id}/messages")
async def send(request: web.Request) -> web.Response:
    body = await parse_body(request, SendBody)
    tid = _thread_id(request)
    try:
        msg = await _threads(request).send(tid, body.text, sender=body.sender)
    except ThreadError as exc:
        fail(404, str(exc))
    except QueueError as exc:
        fail(503, str(exc))
    return web.json_response(msg.model_dump(mode="json", exclude_none=True), status=201)


@routes.post("/api/v1/threads/{id}/beat")
async def beat(request: web.Request) -> web.Response:
    await no_body(request)
    tid = _thread_id(request)
    try:
        await _threads(request).beat_now(tid)
    except ThreadError as exc:
        fail(404, str(exc))
    return web.json_response({"queued": tid}, status=202)


@routes.get("/api/v1/kb")
async def kb_index(request: web.Request) -> web.Response:
    threads = _threads(request)
    return web.json_response({"files": list(kbmod.KB_FILES), "log": await threads.kb_log()})


@routes.get("/api/v1/kb/{name}")
async def kb_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in kbmod.KB_FILES:
        fail(400, f"{name[:60]!r} is not a knowledge base file: one of {', '.join(kbmod.KB_FILES)}")
    try:
        text = await _threads(request).kb_file(name)
    except kbmod.KBError as exc:
        fail(404, str(exc))
    return web.Response(text=text, content_type="text/markdown")
