"""``drgpay serve`` on the command line: its options, its one-line errors (exit status 2), and a real start on
127.0.0.1 that answers and stops on SIGINT."""

from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from drgpay.cli import main

pytest.importorskip("fastapi", reason="drgpay[serve] is not installed")

from drgpay.serve import Limits

REPO = Path(__file__).resolve().parents[1]


def test_help_lists_the_limits_with_their_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["serve", "--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--grouper", "--policy", "--catalog", "--host", "--port", "--max-body-mb", "--max-rows"):
        assert option in text
    assert "--timeout" in text and "--max-codes" in text and "--threads" in text
    assert f"(default {Limits().max_rows})" in text and f"(default {Limits().max_codes})" in text
    assert "default 127.0.0.1" in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--grouper", "no-such-grouper", "--port", "0"], "no-such-grouper"),
        (["serve", "--grouper", "dip-2.0", "--port", "0"], "--catalog"),
        (
            ["serve", "--catalog", str(REPO / "tests/golden/dip/catalog.csv"), "--port", "0"],
            "--catalog is for DIP",
        ),
        (["serve", "--policy", str(REPO / "no-such-policy"), "--port", "0"], "no-such-policy"),
    ],
)
def test_start_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("drgpay: error:") and message in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        ["serve", "--port", "70000"],
        ["serve", "--max-rows", "0"],
        ["serve", "--timeout", "-1"],
        ["serve", "--port", "x"],
    ],
)
def test_bad_option_values(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "drgpay serve: error:" in capsys.readouterr().err


def test_port_in_use_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    assert "drgpay: error:" in capsys.readouterr().err


def test_serve_starts_answers_and_stops_on_sigint() -> None:
    command = [
        sys.executable,
        "-m",
        "drgpay",
        "serve",
        "--port",
        "0",
        "--max-rows",
        "10",
        "--log-level",
        "warning",
    ]
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = re.search(r"chs-drg-2\.0 on http://127\.0\.0\.1:(\d+)/", line)
        assert found, line
        connection = http.client.HTTPConnection("127.0.0.1", int(found.group(1)), timeout=30)
        for attempt in range(100):  # the socket is bound before uvicorn starts accepting
            try:
                connection.request("GET", "/groupers")
                break
            except ConnectionError:
                connection.close()
                time.sleep(0.1 * attempt)
        info = json.loads(connection.getresponse().read())
        assert info["limits"]["max_rows"] == 10
        body = json.dumps([{"principal_dx": "K80.101", "secondary_dx": "I50.900", "procedures": "51.2300"}])
        connection.request("POST", "/group", body=body, headers={"Content-Type": "application/json"})
        assert json.loads(connection.getresponse().read())["results"][0]["drg"] == "HC23"
        connection.close()
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) in (0, 128 + signal.SIGINT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
