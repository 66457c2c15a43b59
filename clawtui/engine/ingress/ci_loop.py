"""The CI loop closes (seed 002 §9-§10, Ryan: "after Cody's fix: monitor pipeline → notify Jan
(loop resolved or restarting)").

A build that succeeds on a pipeline + branch with an open CI escalation (raised by the
failure streak, `dedupe_key = "ci:<pipeline key>"`, whatever its decision) resolves it and the
human is notified once (`ci.resolved`, "loop resolved"). Later green builds find nothing open
and stay silent; the streak was reset by the green build, so a new failing streak raises a
new escalation (the resolved one is never reused).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from clawtui.engine.api.escalations import Escalation, EscalationError, Source, Status
from clawtui.engine.notifier import Notification

if TYPE_CHECKING:
    from clawtui.engine.context import Context
    from clawtui.engine.escalations.manager import Escalations
    from clawtui.engine.ingress.azure_devops import BuildEvent
    from clawtui.engine.notifier import Notifier

log = logging.getLogger(__name__)


def ci_key(build: BuildEvent) -> str:
    """The dedupe key of a pipeline's CI escalation (as `IngressDelivery._escalate` sets it)."""
    return f"ci:{build.pipeline_key}"[:256]


async def close_ci_loop(
    ctx: Context, escalations: Escalations, notifier: Notifier | None, build: BuildEvent
) -> list[Escalation]:
    """Resolve the open CI escalations of `build`'s pipeline + branch; notify once if any."""
    key = ci_key(build)
    open_ = [
        e
        for e in await escalations.find(limit=10_000)
        if e.source is Source.CI and e.dedupe_key == key and e.status is not Status.RESOLVED
    ]
    label = build.build_number or build.build_id
    note = f"loop resolved: build {label} of {build.definition or key} succeeded"
    resolved: list[Escalation] = []
    for esc in open_:
        try:
            resolved.append(await escalations.resolve(esc.id, note=note))
        except EscalationError:  # resolved meanwhile (another green build): not ours to tell
            continue
    if not resolved:
        return resolved
    ids = ", ".join(f"#{e.id}" for e in resolved)
    text = (
        f"[ci] loop resolved: {build.definition or key} on {build.short_branch or '?'} is "
        f"green again (build {label}); escalation {ids} resolved."
    )
    if build.link:
        text += f"\n{build.link}"
    ctx.log_activity("info", text.replace("\n", " ")[:1000], subject="ingress/ci")
    if notifier is not None:
        notifier.notify(
            Notification(
                kind="ci.resolved",
                text=text,
                data={
                    "pipeline": build.pipeline_key,
                    "branch": build.branch,
                    "build": label,
                    "escalation_ids": [e.id for e in resolved],
                },
            )
        )
    return resolved
