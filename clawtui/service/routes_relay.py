"""`POST /relay`: one agent hands a message to another (seed 002 §2.4, §10.2, §12.4).

    curl -X POST http://HOST:8770/relay -H "X-Relay-Secret: $(cat relay-secret.txt)" \
         -H 'Content-Type: application/json' \
         -d '{"from": "ryan", "to": "cody", "message": "relay test"}'

The secret decides who the sender is (`from` must be that agent); the (from, to) pair must be
in `[relay] routes`; the message may be at most `[relay] max_message_bytes`; each sender has a
rate limit; `via` (the `relayVia` of the message being forwarded) counts hops so that
A → B → A loops die at `max_hops`. Accepted messages are stored, then written to the target
thread's queue marked as relayed from the sender (`relayedFrom`, `relayVia`, `relayHops`).

Answers: 202 `{"ok": true, "id": ...}` accepted (200 for a repeated `id`); 400 bad body;
401 no or wrong secret; 403 `from` is not the secret's agent, or the route is not allowed;
404 unknown target; 409 hop limit; 413 too large; 429 rate limit (Retry-After);
503 we could not store it. Every refusal is counted and shown in the TUI.
"""

from __future__ import annotations

from aiohttp import web

from clawtui.engine.api.ingress import RELAY_SECRET_HEADER
from clawtui.service.ingress_common import answer, body_reader, header, ingress

routes = web.RouteTableDef()
SECRET_HEADER = RELAY_SECRET_HEADER


@routes.post("/relay")
async def relay(request: web.Request) -> web.Response:
    secret = header(request, SECRET_HEADER)
    return answer(await ingress(request).receive_relay(secret, body_reader(request)))
