"""`POST /webhook/azure-devops`: Azure DevOps build.complete service hooks (seed 002 §10).

    curl -X POST http://HOST:8770/webhook/azure-devops -H 'x-webhook-secret: <secret>' \
         -H 'Content-Type: application/json' -d @payload.json

Guarded by `x-webhook-secret`, compared in constant time with each accepted secret of
`[webhook]` (several, for rotation). Not under the API's bearer token.

Answers (Azure DevOps retries only 408, 502, 503 and 504; any other error puts the
subscription on probation, so we answer 2xx whenever the secret is right and we stored
something, and never 410):
  200  stored and queued for the target thread, ignored (another result or event type), or
       a duplicate of a delivery already stored;
  202  the body could not be understood: it was kept in quarantine;
  401  no or wrong secret;   403  no secret configured;   413  body over the cap;
  503  we could not store it (disk, database): retry later (Retry-After).
"""

from __future__ import annotations

from aiohttp import web

from clawtui.engine.api.ingress import WEBHOOK_SECRET_HEADER
from clawtui.service.ingress_common import answer, body_reader, header, ingress

routes = web.RouteTableDef()
SECRET_HEADER = WEBHOOK_SECRET_HEADER


@routes.post("/webhook/azure-devops")
async def azure_devops(request: web.Request) -> web.Response:
    secret = header(request, SECRET_HEADER)
    return answer(await ingress(request).receive_webhook(secret, body_reader(request)))
