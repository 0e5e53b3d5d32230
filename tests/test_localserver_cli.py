"""``python -m bot.localserver``: its options, its documented faults, faults set at start."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import httpx
import pytest

from bot.localserver.__main__ import build_parser, parse_fault, parse_timing, prepare_server
from bot.localserver.config import LocalServerConfig
from bot.localserver.faults import FAULT_NAMES

README = Path(__file__).resolve().parent.parent / "README.md"
EVERY_FAULT = (*FAULT_NAMES, "fail_jobs")
TOKEN = "cli-token"


def local_server_section() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("## Trying it without a RunComfy account")
    return text[start:text.index("\n## ", start + 1)]


@pytest.mark.parametrize("fault", EVERY_FAULT)
def test_every_fault_is_documented_in_help_and_readme(fault: str) -> None:
    assert f"\n  {fault} " in build_parser().format_help()
    assert f"| `{fault}` |" in local_server_section()


def test_every_option_is_in_the_readme() -> None:
    section = local_server_section()
    options = [opt for action in build_parser()._actions for opt in action.option_strings
               if opt.startswith("--") and opt not in ("--help", "--log-level")]
    assert options, "the parser has options"
    assert [opt for opt in options if f"`{opt}" not in section] == []


def test_timings() -> None:
    assert parse_timing("2") == 2.0
    assert parse_timing("0-20") == (0.0, 20.0)
    for bad in ("-1", "5-2", "soon"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_timing(bad)


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "expected JSON"),
    ('{"fault": "explode"}', "unknown fault 'explode'"),
    ('{"fault": "slow", "count": 0}', "count must be a positive integer, not 0"),
    ('{"fault": "insufficient_balance", "kind": "status"}', "submit or generate"),
])
def test_a_bad_fault_is_refused_with_a_short_reason(
    text: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        parse_fault(text)
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["--fault", text])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error


async def test_faults_given_at_start_apply_to_the_first_requests() -> None:
    spec = {"fault": "rate_limit", "count": 2, "kind": "status", "retry_after": 3}
    args = build_parser().parse_args(
        ["--fault", json.dumps(spec), "--fault", '[{"fault": "fail_jobs"}]']
    )
    config = LocalServerConfig(token=TOKEN, queue_seconds=0, run_seconds=0)
    async with prepare_server(config, "127.0.0.1", 0, args.fault) as server:
        assert server.state.faults.fail_next_submits == 1
        async with httpx.AsyncClient(base_url=server.base_url, timeout=5,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            submitted = await http.post("/v1/models/ideogram/ideogram-v2/generate",
                                        json={"prompt": "x"})
            status_url = f"/v1/requests/{submitted.json()['request_id']}/status"
            answers = [await http.get(status_url) for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 200]
    assert answers[0].headers["Retry-After"] == "3"
    assert answers[2].json()["status"] == "failed"
