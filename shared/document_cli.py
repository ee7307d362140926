"""`aftersales <service> <document> load|show --brand B [FILE]`: a service's data per brand.

Routing's rules, roster and SLA policy and compensation's remedy policy are versioned JSON
documents each service keeps per brand, loaded through its ops API (`PUT
/v1/ops/brands/{brand}/<path>`) with a token minted from the settings for that brand, as the
other admin commands do. Every decision records the version it used, so a new document
changes new decisions only.
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


def add_document_commands(
    sub: Any, service: str, help_text: str, documents: dict[str, tuple[str, str]]
) -> None:
    """`aftersales SERVICE NAME load --brand B FILE` and `... show --brand B` for each
    document NAME -> (the API's document path, what it is)."""
    parser = sub.add_parser(service, help=help_text)
    commands = parser.add_subparsers(dest=f"{service}_command", required=True)
    url = f"http://127.0.0.1:{DEFAULT_PORTS[service]}"
    for name, (path, what) in documents.items():
        document = commands.add_parser(name, help=f"a brand's {what}")
        actions = document.add_subparsers(dest="action", required=True)
        load = actions.add_parser("load", help=f"load a JSON document (PUT …/{path})")
        load.add_argument("file", type=Path)
        show = actions.add_parser("show", help="print the brand's document and its version")
        show.set_defaults(file=None)
        for command in (load, show):
            command.add_argument("--brand", required=True)
            command.add_argument("--url", default=url, help=f"{service}'s base URL")
            command.set_defaults(run=cmd_document, service=service, document_path=path)


def cmd_document(args: argparse.Namespace) -> int:
    settings = load_settings(check_secrets=False)
    url = f"{args.url.rstrip('/')}/v1/ops/brands/{args.brand}/{args.document_path}"
    headers = {"Authorization": f"Bearer {cli_token(settings, brands=(args.brand,))}"}
    try:
        if args.action == "load":
            try:
                document: Any = json.loads(Path(args.file).read_text(encoding="utf-8"))
            except (OSError, ValueError) as error:
                print(f"aftersales: cannot read {args.file}: {error}", file=sys.stderr)
                return 2
            response = httpx.put(url, headers=headers, json=document, timeout=10)
        else:
            response = httpx.get(url, headers=headers, timeout=10)
    except httpx.HTTPError as error:
        print(f"aftersales: cannot reach {args.service} at {args.url}: {error}", file=sys.stderr)
        return 1
    if response.status_code >= 400:
        print(f"aftersales: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), ensure_ascii=False, indent=2))
    return 0


def add_routing_parser(sub: Any) -> None:
    """`aftersales routing rules|roster|sla load --brand B FILE` and `... show --brand B`."""
    add_document_commands(
        sub,
        "routing",
        "routing's data per brand: rules, roster, sla",
        {
            "rules": ("routing-rules", "classification rules: categories, 五度, safety signals"),
            "roster": ("roster", "teams, handlers, skills, authority limits, escalation chain"),
            "sla": ("sla-policy", "SLA clauses per source: acknowledge, plan, regulator deadlines"),
        },
    )


def add_compensation_parser(sub: Any) -> None:
    """`aftersales compensation policy load --brand B FILE` and `... show --brand B`."""
    add_document_commands(
        sub,
        "compensation",
        "compensation's data per brand: policy",
        {"policy": ("remedy-policy", "remedy policy: 三包, statutory damages, goodwill, apology")},
    )
