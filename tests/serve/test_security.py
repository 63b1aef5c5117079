"""Who may ask: loopback only without a key; with one, every request must bring it.

The subprocess tests start ``dojo serve`` itself on 0.0.0.0 (all interfaces), but
send traffic to 127.0.0.1 only.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from openai import OpenAI
from pydantic import SecretStr

from dojo.config import Settings
from dojo.serve.app import create_app
from dojo.serve.engine import Engine, load_engine
from dojo.serve.security import InsecureAddress, check_address
from dojo.workers.supervisor import child_environment

from .conftest import running

KEY = "sk-dojo-test-3f1c9a7e55b2"
WRONG = "sk-dojo-wrong-8d2e6b0c41aa"


def test_only_loopback_addresses_are_served_without_a_key() -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        check_address(host, None)
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "dojo.example.com"):
        with pytest.raises(InsecureAddress, match="DOJO_SERVE_API_KEY"):
            check_address(host, None)
        check_address(host, KEY)


def test_a_blank_key_is_refused() -> None:
    with pytest.raises(ValueError, match="blank"):
        Settings(serve_api_key=SecretStr("  "))


def test_with_a_key_every_request_must_bring_it(serve_settings: Settings, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(KEY + "\n")  # from a mounted secret, as DOJO_SERVE_API_KEY_FILE
    settings = serve_settings.replace(serve_api_key_file=key_file)
    assert settings.serve.api_key is not None
    with running(load_engine(settings, "tiny", "none"), settings) as url:
        for headers in (
            {},
            {"Authorization": f"Bearer {WRONG}"},
            {"Authorization": f"Basic {KEY}"},
        ):
            for answer in (
                httpx.get(f"{url}/v1/models", headers=headers),
                httpx.post(f"{url}/v1/completions", headers=headers, json={"model": "tiny"}),
                httpx.get(f"{url}/nowhere", headers=headers),
            ):
                assert answer.status_code == 401
                assert answer.json()["error"]["code"] == "invalid_api_key"
                assert KEY not in answer.text and WRONG not in answer.text
        client = OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0)
        assert client.models.list().data[0].id == "tiny"
        answer = client.completions.create(model="tiny", prompt="story", max_tokens=2)
        assert answer.usage is not None and answer.usage.completion_tokens >= 1
        with pytest.raises(openai.AuthenticationError):
            OpenAI(base_url=f"{url}/v1", api_key=WRONG, max_retries=0).models.list()


class ServeProcess:
    """``dojo serve`` as its own process, its output in a file."""

    def __init__(self, settings: Settings, log: Path, *args: str) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "dojo", "serve", *args],
                env=child_environment(settings),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 180.0) -> int:
        """The port from the startup line."""
        deadline = time.monotonic() + timeout
        while (found := re.search(r"API on http://[^ ]+:(\d+)/v1", self.output())) is None:
            assert self.process.poll() is None, f"dojo serve exited: {self.output()[-3000:]}"
            assert time.monotonic() < deadline, f"dojo serve not ready: {self.output()[-3000:]}"
            time.sleep(0.2)
        return int(found.group(1))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.mark.system
def test_dojo_serve_refuses_to_listen_beyond_loopback_without_a_key(
    serve_settings: Settings, tmp_path: Path
) -> None:
    settings = serve_settings.replace(serve_api_key=None)
    serve = ServeProcess(settings, tmp_path / "serve.log", "--host", "0.0.0.0", "--port", "0")
    try:
        assert serve.process.wait(120) == 2
    finally:
        serve.stop()
    output = " ".join(serve.output().split())
    assert "refusing to listen on 0.0.0.0" in output and "DOJO_SERVE_API_KEY" in output


@pytest.mark.system
def test_dojo_serve_with_a_key_on_all_interfaces_checks_it_and_never_logs_it(
    serve_settings: Settings, tmp_path: Path
) -> None:
    settings = serve_settings.replace(serve_api_key=SecretStr(KEY))
    serve = ServeProcess(settings, tmp_path / "serve.log", "--host", "0.0.0.0", "--port", "0")
    try:
        port = serve.wait_ready()
        url = f"http://127.0.0.1:{port}/v1"  # only ever loopback traffic
        assert "an API key is required" in serve.output()
        assert "tiny (base tiny-" in serve.output() and "following the newest" in serve.output()
        without = httpx.get(f"{url}/models")
        assert without.status_code == 401 and without.json()["error"]["code"] == "invalid_api_key"
        wrong = httpx.get(f"{url}/models", headers={"Authorization": f"Bearer {WRONG}"})
        assert wrong.status_code == 401
        client = OpenAI(base_url=url, api_key=KEY, max_retries=0)
        assert [m.id for m in client.models.list().data] == ["tiny", "tiny:base"]
        chat = client.chat.completions.create(
            model="tiny", messages=[{"role": "user", "content": KEY}], max_tokens=3
        )
        assert chat.choices[0].message.role == "assistant"
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model=KEY, messages=[{"role": "user", "content": "x"}])
    finally:
        serve.stop()
    output = serve.output()
    assert '"GET /v1/models HTTP/1.1" 401' in output and '"GET /v1/models HTTP/1.1" 200' in output
    assert KEY not in output and WRONG not in output


def test_no_request_leaves_the_machine_through_fastapis_telemetry(
    engine: Engine, serve_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FastAPI's native OpenTelemetry would export requests (failed ones with their
    # bodies) to an OTLP endpoint named in the environment
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    app = create_app(engine, serve_settings)
    assert not app._native_telemetry.enabled()
    assert app._telemetry["auto_configure"] is False and app._telemetry["logs"] is False
