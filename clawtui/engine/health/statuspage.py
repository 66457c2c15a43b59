"""Status pages (seed 002, Sam): which services a page reports DOWN or DEGRADED."""

from __future__ import annotations

import json
import re
from typing import Any


def parse_status_page(body: str) -> list[tuple[str, str]]:
    """(service, DOWN|DEGRADED) pairs found on a status page (JSON or text)."""
    found: list[tuple[str, str]] = []
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if data is not None:

        def walk(node: Any, name: str, depth: int) -> None:
            if depth > 20:
                return
            if isinstance(node, dict):
                label = str(node.get("name") or node.get("service") or node.get("id") or name)
                status = node.get("status")
                if isinstance(status, str) and status.strip().upper() in ("DOWN", "DEGRADED"):
                    found.append((label[:80], status.strip().upper()))
                for key, value in node.items():
                    if key != "status" or not isinstance(value, str):
                        walk(value, str(key), depth + 1)
            elif isinstance(node, list):
                for item in node[:1000]:
                    walk(item, name, depth + 1)
            elif isinstance(node, str) and node.strip().upper() in ("DOWN", "DEGRADED"):
                found.append((name[:80], node.strip().upper()))

        walk(data, "service", 0)
        return list(dict.fromkeys(found))
    for line in body.splitlines()[:5000]:
        match = re.search(r"\b(DOWN|DEGRADED)\b", line)
        if match:
            words = re.findall(r"[A-Za-z0-9._-]+", line[: match.start()])
            found.append(((words[0] if words else "service")[:80], match.group(1)))
    return list(dict.fromkeys(found))
