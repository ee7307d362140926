"""`aftersales routing {rules|roster|sla} load|show --brand B`: routing's data per brand.

Each is a versioned JSON document routing keeps per brand, loaded through routing's ops API
(`PUT /v1/ops/brands/{brand}/<document>`) with a token minted from the settings for that
brand, as the other admin commands do. Every decision records the version it used, so a new
document changes new decisions only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from shared.ops_tokens import cli_token
from shared.settings import DEFAULT_PORTS, load_settings

# command -> (the API's document path, what it is)
DOCUMENTS: dict[str, tuple[str, str]] = {
    "rules": ("routing-rules", "classification rules: categories, 五度 cues, safety signals"),
    "roster": ("roster", "teams, handlers, skills, authority limits, escalation chain"),
    "sla": ("sla-policy", "SLA clauses per source: acknowledge, plan, regulator deadlines"),
}


def cmd_document(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    path = DOCUMENTS[args.routing_command][0]
    url = f"{args.url.rstrip('/')}/v1/ops/brands/{args.brand}/{path}"
    headers = {"Authorization": f"Bearer {cli_token(settings, brands=(args.brand,))}"}
    if args.action == "load":
        try:
            document: Any = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            print(f"aftersales: cannot read {args.file}: {error}", file=sys.stderr)
            return 2
        response = httpx.put(url, headers=headers, json=document, timeout=10)
    else:
        response = httpx.get(url, headers=headers, timeout=10)
    if response.status_code >= 400:
        print(f"aftersales: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
    return 0


def add_routing_parser(sub: Any) -> None:
    """`aftersales routing rules|roster|sla load --brand B FILE` and `... show --brand B`."""
    routing = sub.add_parser("routing", help="routing's data per brand: rules, roster, sla")
    commands = routing.add_subparsers(dest="routing_command", required=True)
    url = f"http://127.0.0.1:{DEFAULT_PORTS['routing']}"
    for name, (path, what) in DOCUMENTS.items():
        document = commands.add_parser(name, help=f"a brand's {what}")
        actions = document.add_subparsers(dest="action", required=True)
        load = actions.add_parser("load", help=f"load a JSON document (PUT …/{path})")
        load.add_argument("file", type=Path)
        show = actions.add_parser("show", help="print the brand's document and its version")
        show.set_defaults(file=None)
        for command in (load, show):
            command.add_argument("--brand", required=True)
            command.add_argument("--url", default=url, help="routing's base URL")
            command.set_defaults(run=cmd_document)
