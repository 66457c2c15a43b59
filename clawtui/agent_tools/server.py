"""`build_server(engine, guard)`: the MCP tools and resources, each a thin call of the interface.

Every tool takes typed arguments and answers a pydantic model (its JSON schema is the tool's
output schema); the guard (guard.py) checks the caller's scope, records the call and turns an
engine error into a tool error with the engine's message. Resources: the knowledge base's three
files (`kb://context.md`, ...) and the latest brief (`brief://latest`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError

from clawtui import __version__
from clawtui.agent_tools.guard import Guard
from clawtui.agent_tools.outputs import (
    BriefView,
    ContainerRow,
    DevboxList,
    EscalationList,
    FleetStatus,
    IncidentList,
    PoolList,
    Queued,
    RelaySent,
    ThreadList,
    TmuxStarted,
)
from clawtui.engine.api.devboxes import devboxes_in
from clawtui.engine.api.escalations import (
    Decision,
    Escalation,
    NewEscalation,
    Status,
    briefs_of,
    escalations_of,
    incidents_of,
)
from clawtui.engine.api.ingress import ingress_of
from clawtui.engine.api.kb import KB_FILES
from clawtui.engine.api.memory import ApplyResult, MemoryPlan, memory_of
from clawtui.engine.api.models import ContainerInfo
from clawtui.engine.api.pools import ClaimInfo, SyncResult, pools_of
from clawtui.engine.api.protocols import EngineAPI
from clawtui.engine.api.threads import IncomingMessage, ThreadDetail, threads_of
from clawtui.engine.api.tmux import tmux_of
from clawtui.engine.api.tokens import (
    Principal,
    relay_aliases,
    require_admin,
    require_agent,
    require_escalate,
    require_pools,
    require_read,
    require_send,
)

C = TypeVar("C")
INSTRUCTIONS = (
    "clawtui runs fleets of AI-agent containers. Read with fleet_status, threads_list, "
    "escalations_list, pool_status; when stuck, call escalate (doing / tried / need / "
    "proposed fix) instead of guessing. What a token may do depends on its scopes."
)


def _need(found: C | None, what: str) -> C:
    if found is None:
        raise ToolError(f"this engine has no {what}")
    return found


def _row(c: ContainerInfo) -> ContainerRow:
    stats = c.stats
    return ContainerRow(
        key=c.key, host=c.host, name=c.name, image=c.image, state=c.state, status=c.status,
        role=c.role, memory_limit=c.memory_limit,
        cpu_percent=stats.cpu_percent if stats else None,
        memory_usage=stats.mem_used if stats else None,
    )  # fmt: skip


def build_server(engine: EngineAPI, guard: Guard) -> MCPServer:
    server: MCPServer = MCPServer("clawtui", version=__version__, instructions=INSTRUCTIONS)
    read: Callable[[Principal], None] = require_read

    def thread_names() -> dict[int, str]:
        threads = threads_of(engine)
        return {} if threads is None else {s.thread.id: s.thread.name for s in threads.statuses()}

    async def aliases(thread_id: int | None) -> list[str]:
        """The relay agents of a thread: names an agent scope may give it."""
        ingress = ingress_of(engine)
        relay = await ingress.relay_routes() if ingress is not None else None
        return relay_aliases(relay, thread_id)

    # -- fleet ---------------------------------------------------------------------------------
    @server.tool(description="Hosts and their containers (state, role, memory, CPU).")
    async def fleet_status(host: str | None = None, role: str | None = None) -> FleetStatus:
        async def call() -> FleetStatus:
            rows = [_row(c) for c in engine.containers(host=host, role=role)]
            return FleetStatus(hosts=engine.hosts(), containers=rows)

        return await guard.run("fleet_status", host or "", read, call)

    @server.tool(description="One container by its key HOST/ID (from fleet_status).")
    async def container_status(key: str) -> ContainerInfo:
        async def call() -> ContainerInfo:
            found = engine.container(key)
            if found is None:
                raise ToolError(f"no container {key[:120]!r} (keys are HOST/ID, see fleet_status)")
            return found

        return await guard.run("container_status", key, read, call)

    # -- threads -------------------------------------------------------------------------------
    @server.tool(description="Every agent thread: liveness, heartbeat tiers, repo state.")
    async def threads_list() -> ThreadList:
        async def call() -> ThreadList:
            return ThreadList(threads=_need(threads_of(engine), "threads").statuses())

        return await guard.run("threads_list", "", read, call)

    @server.tool(description="One thread: status, HEARTBEAT.md, recent replies, git log.")
    async def thread_status(thread_id: int) -> ThreadDetail:
        async def call() -> ThreadDetail:
            return await _need(threads_of(engine), "threads").detail(thread_id)

        return await guard.run("thread_status", f"thread {thread_id}", read, call)

    @server.tool(description="Queue a message to a thread (agents: where relay routes allow).")
    async def thread_send(thread_id: int, text: str, sender: str = "mcp") -> IncomingMessage:
        async def check(p: Principal) -> None:
            if p.admin:
                return
            ingress = ingress_of(engine)
            relay = await ingress.relay_routes() if ingress is not None else None
            threads = thread_names().items()
            require_send(p, "thread_send", thread_id=thread_id, threads=threads, relay=relay)

        async def call() -> IncomingMessage:
            return await _need(threads_of(engine), "threads").send(thread_id, text, sender=sender)

        return await guard.run("thread_send", f"thread {thread_id}", check, call)

    @server.tool(description="Run a heartbeat of a thread now (agents: their own thread).")
    async def heartbeat_run(thread_id: int) -> Queued:
        async def check(p: Principal) -> None:
            if p.admin:
                return
            name, also = thread_names().get(thread_id), await aliases(thread_id)
            require_agent(p, "heartbeat_run", thread_id=thread_id, thread_name=name, aliases=also)

        async def call() -> Queued:
            await _need(threads_of(engine), "threads").beat_now(thread_id)
            return Queued(thread_id=thread_id)

        return await guard.run("heartbeat_run", f"thread {thread_id}", check, call)

    # -- escalations, incidents, brief -----------------------------------------------------------
    @server.tool(
        description="Ask a human: what you were doing, what you tried, what you need, and the "
        "fix you propose. Agents escalate as themselves (their agent name or thread)."
    )
    async def escalate(
        agent: str,
        doing: str,
        need: str,
        tried: list[str] | None = None,
        proposed_fix: str | None = None,
        thread_id: int | None = None,
        severity: Literal["low", "medium", "high", "critical"] = "medium",
        detail: str | None = None,
    ) -> Escalation:
        fields = {
            "agent": agent, "doing": doing, "need": need, "tried": tried or [],
            "proposed_fix": proposed_fix, "thread_id": thread_id, "severity": severity,
            "detail": detail,
        }  # fmt: skip
        holder: list[NewEscalation] = []

        async def check(p: Principal) -> None:
            new = NewEscalation.model_validate(fields)
            holder.append(new)
            if p.admin:
                return
            name = thread_names().get(thread_id) if thread_id is not None else None
            require_escalate(
                p, "escalate", agent=new.agent, thread_id=thread_id, thread_name=name,
                aliases=await aliases(thread_id),
            )  # fmt: skip

        async def call() -> Escalation:
            new = holder[0] if holder else NewEscalation.model_validate(fields)
            return await _need(escalations_of(engine), "escalations").raise_(new)

        return await guard.run("escalate", agent, check, call)

    @server.tool(description="Escalations, pending first, oldest first.")
    async def escalations_list(
        status: Literal["pending", "approved", "skipped", "modified", "resolved"] | None = None,
    ) -> EscalationList:
        async def call() -> EscalationList:
            found = _need(escalations_of(engine), "escalations")
            rows = await found.find(status=Status(status) if status else None)
            return EscalationList(escalations=rows)

        return await guard.run("escalations_list", status or "", read, call)

    @server.tool(description="Decide a pending escalation: approve, skip or modify (admin).")
    async def escalation_decide(
        escalation_id: int,
        action: Literal["approve", "skip", "modify"],
        text: str | None = None,
        by: str = "mcp",
    ) -> Escalation:
        async def call() -> Escalation:
            decision = Decision.model_validate({"action": action, "text": text, "by": by})
            found = _need(escalations_of(engine), "escalations")
            return await found.decide(escalation_id, decision)

        check = require_admin
        return await guard.run("escalation_decide", f"#{escalation_id}", check, call)

    @server.tool(description="Build the morning brief now from current state (not sent).")
    async def brief_preview(day: str | None = None) -> BriefView:
        async def call() -> BriefView:
            brief = await _need(briefs_of(engine), "briefs").build(day)
            return BriefView(day=brief.day, text=brief.text(), needs_human=brief.needs_human)

        return await guard.run("brief_preview", day or "", read, call)

    @server.tool(description="Health incidents, open first.")
    async def incidents_list(open_only: bool = False) -> IncidentList:
        async def call() -> IncidentList:
            rows = await _need(incidents_of(engine), "incidents").find(open_only=open_only)
            return IncidentList(incidents=rows)

        return await guard.run("incidents_list", "", read, call)

    # -- pools -----------------------------------------------------------------------------------
    def pool_read(p: Principal) -> None:
        require_pools(p, "pool_status", read=True)

    @server.tool(description="Warm pools (counts, latency) and the tenants' claims.")
    async def pool_status() -> PoolList:
        async def call() -> PoolList:
            pools = _need(pools_of(engine), "pools")
            return PoolList(pools=await pools.status(), tenants=await pools.tenants())

        return await guard.run("pool_status", "", pool_read, call)

    @server.tool(description="Claim a container of a pool for a tenant (scope pools).")
    async def pool_claim(tenant: str, pool: str) -> ClaimInfo:
        async def call() -> ClaimInfo:
            return await _need(pools_of(engine), "pools").claim(tenant, pool)

        return await guard.run("pool_claim", f"{pool}/{tenant}", require_pools, call)

    @server.tool(description="Release a tenant's claim (sync first unless sync=false).")
    async def pool_release(tenant: str, sync: bool = True, force: bool = False) -> ClaimInfo:
        async def call() -> ClaimInfo:
            return await _need(pools_of(engine), "pools").release(tenant, sync=sync, force=force)

        return await guard.run("pool_release", tenant, require_pools, call)

    @server.tool(description="Sync a tenant's state (upload or download).")
    async def pool_sync(
        tenant: str, direction: Literal["upload", "download"] = "upload"
    ) -> SyncResult:
        async def call() -> SyncResult:
            return await _need(pools_of(engine), "pools").sync(tenant, direction)

        return await guard.run("pool_sync", tenant, require_pools, call)

    # -- memory ----------------------------------------------------------------------------------
    @server.tool(
        description="Validate new memory limits ({container key: bytes}) with the engine's "
        "rules; nothing changes. `ok` false: `errors` and refused checks say why."
    )
    async def memory_plan(changes: dict[str, int], confirm_below_usage: bool = False) -> MemoryPlan:
        async def call() -> MemoryPlan:
            memory = _need(memory_of(engine), "memory rebalancing")
            return await memory.plan(changes, who="mcp", confirm_below_usage=confirm_below_usage)

        return await guard.run("memory_plan", ",".join(changes), read, call)

    @server.tool(description="Apply new memory limits, all or none, after the same checks (admin).")
    async def memory_apply(
        changes: dict[str, int], confirm_below_usage: bool = False
    ) -> ApplyResult:
        async def call() -> ApplyResult:
            memory = _need(memory_of(engine), "memory rebalancing")
            result = await memory.apply(changes, who="mcp", confirm_below_usage=confirm_below_usage)
            if not result.ok:
                raise ToolError(f"memory change not applied: {result.summary()}")
            return result

        return await guard.run("memory_apply", ",".join(changes), require_admin, call)

    # -- dev boxes and tmux ------------------------------------------------------------------------
    @server.tool(description="Dev boxes (containers labelled clawtui.role=devbox).")
    async def devbox_list() -> DevboxList:
        async def call() -> DevboxList:
            return DevboxList(devboxes=devboxes_in(engine.containers()))

        return await guard.run("devbox_list", "", read, call)

    @server.tool(description="Start a command in a new tmux window of a dev box (admin).")
    async def tmux_run(
        container: str,
        command: list[str],
        session: str | None = None,
        window: str | None = None,
        cwd: str | None = None,
    ) -> TmuxStarted:
        async def call() -> TmuxStarted:
            tmux = _need(tmux_of(engine), "tmux")
            used = await tmux.run(container, command, session=session, window=window, cwd=cwd)
            return TmuxStarted(container=container, session=used)

        return await guard.run("tmux_run", container, require_admin, call)

    @server.tool(description="Type text (or, with keys=true, tmux key names) into a session.")
    async def tmux_send(
        container: str,
        text: str,
        session: str | None = None,
        keys: bool = False,
        window: str | None = None,
    ) -> TmuxStarted:
        async def call() -> TmuxStarted:
            tmux = _need(tmux_of(engine), "tmux")
            used = await tmux.send(container, text, session=session, keys=keys, window=window)
            return TmuxStarted(container=container, session=used)

        return await guard.run("tmux_send", container, require_admin, call)

    # -- relay ------------------------------------------------------------------------------------
    @server.tool(
        description="Send a message from one relay agent to another, as the relay would: only "
        "along a route of the relay whitelist (agents: from themselves)."
    )
    async def relay_send(sender: str, to: str, text: str) -> RelaySent:
        target: list[int] = []

        async def check(p: Principal) -> None:
            ingress = _need(ingress_of(engine), "relay")
            relay = await ingress.relay_routes()
            agents = {a.name: a.thread_id for a in relay.agents}
            if sender not in agents or to not in agents:
                unknown = sender if sender not in agents else to
                raise ToolError(f"no relay agent {unknown!r} (known: {', '.join(agents)})")
            if not any(r.sender == sender and r.to == to for r in relay.routes):
                raise ToolError(f"the relay whitelist has no route from {sender} to {to}")
            names = thread_names()
            sid = agents[sender]
            require_agent(p, "relay_send", thread_id=sid, thread_name=names.get(sid), agent=sender)
            target.append(agents[to])

        async def call() -> RelaySent:
            if not target:  # remote: the service checks the scope; find the target here
                await check(Principal(name="remote", scopes=("admin",)))
            msg = await _need(threads_of(engine), "threads").send(target[0], text, sender=sender)
            return RelaySent(sender=sender, to=to, thread_id=target[0], message_id=msg.messageId)

        return await guard.run("relay_send", f"{sender}->{to}", check, call)

    # -- resources --------------------------------------------------------------------------------
    def kb_resource(name: str) -> None:
        @server.resource(f"kb://{name}", name=name, mime_type="text/markdown",
                         description=f"The knowledge base's {name}")  # fmt: skip
        async def read_kb() -> str:
            try:
                return await guard.run(
                    f"kb:{name}", name, read, lambda: _need(threads_of(engine), "kb").kb_file(name)
                )
            except ToolError as exc:
                raise ResourceError(str(exc)) from None

    for kb_name in KB_FILES:
        kb_resource(kb_name)

    @server.resource("brief://latest", name="brief", mime_type="text/plain",
                     description="The latest kept morning brief")  # fmt: skip
    async def latest_brief() -> str:
        async def call() -> str:
            brief = await _need(briefs_of(engine), "briefs").latest()
            return brief.text() if brief is not None else "(no brief kept yet)"

        try:
            return await guard.run("brief:latest", "latest", read, call)
        except ToolError as exc:
            raise ResourceError(str(exc)) from None

    return server
