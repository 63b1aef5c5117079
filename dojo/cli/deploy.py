"""Using a trained model: chat with it, serve it, export it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dojo.cli.common import ModelOption, err, fail, load_settings, out


def serve(
    model: ModelOption = None,
    adapter: Annotated[
        str,
        typer.Option(
            help="'latest' (the newest version published for this base, followed between "
            "requests; the base model until one is published), a version (v000012, "
            "v000012-averaged), an adapter folder, or 'none' (the base model)."
        ),
    ] = "latest",
    host: Annotated[
        str | None,
        typer.Option(
            help="Address to listen on; any but a loopback one needs an API key "
            "(env: DOJO_SERVE_HOST; default 127.0.0.1)"
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="0: a free one (env: DOJO_SERVE_PORT; default 8000)"),
    ] = None,
) -> None:
    """Serve a base model and adapter as an OpenAI-compatible API (/v1/chat/completions,
    /v1/completions, /v1/models), plain and streamed, with log-probs and token ids.

    Free text, not Dojo's move grammar. Requests are generated one at a time on one
    worker; prompts never leave the machine. The API key comes from DOJO_SERVE_API_KEY or
    a file named by DOJO_SERVE_API_KEY_FILE, never from the command line (where other
    users of the machine could read it). Runs until Ctrl-C.
    """
    from dojo.serve.security import InsecureAddress, check_address

    settings = load_settings(serve_host=host, serve_port=port)
    key = settings.serve.api_key
    try:  # before the model stack is imported: a refusal is immediate
        check_address(settings.serve.host, None if key is None else key.get_secret_value())
    except InsecureAddress as exc:
        raise fail(str(exc), 2) from None
    from dojo.policy import ModelUnavailableError
    from dojo.policy.registry import AdapterNotFound
    from dojo.serve.app import run

    def ready(url: str, engine: Any) -> None:
        keyed = "an API key is required" if settings.serve.api_key else "no API key"
        print(
            f"dojo serve: {engine.describe()}; OpenAI-compatible API on {url}/v1 ({keyed})",
            file=sys.stderr,
            flush=True,
        )

    try:
        run(settings, model=model, adapter=adapter, on_ready=ready)
    except InsecureAddress as exc:
        raise fail(str(exc), 2) from None
    except (AdapterNotFound, ModelUnavailableError, ValueError) as exc:
        raise fail(str(exc), 2) from None


def chat(
    brief: Annotated[
        Path,
        typer.Option(
            help="The Markdown brief to write. The session's state is kept beside it, in "
            "<brief>.session.json, after every move (what --resume reads)."
        ),
    ],
    model: ModelOption = None,
    adapter: Annotated[
        str,
        typer.Option(
            help="'latest' (the newest version published for this base; the base model until "
            "one is), a version (v000012, v000012-averaged), an adapter folder, or 'none'."
        ),
    ] = "latest",
    docs: Annotated[
        Path | None,
        typer.Option(help="A folder of documents and code that research moves search (BM25)."),
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="The task, in a few sentences (default: asked at the start).")
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue the session kept beside --brief where it stopped."),
    ] = False,
    store: Annotated[
        Path | None,
        typer.Option(
            "--store",
            help="DuckDB store to record the session into (default: DOJO_STORE_PATH, unless "
            "DOJO_KAFKA_BOOTSTRAP names a broker: then the events go onto Kafka only and its "
            "sink stores them)",
        ),
    ] = None,
    rate: Annotated[
        bool, typer.Option(help="Ask for a rating of the session and of single moves at the end.")
    ] = True,
) -> None:
    """Work with a model on a real task at the terminal: it asks, researches --docs and
    plans through the moves it was trained on, you answer in free text, and the session
    ends with a brief (scope, assumptions, open questions, research notes with sources,
    the ordered plan with risks and dependencies).

    Answer '/next' to end a phase, '/done' to write the brief now; Ctrl-C leaves and
    still writes what there is (--resume continues). The session is recorded as episodes
    tagged as human (source dojo-chat), your rating as reward version human-1. Your text
    stays on this machine unless the configured judge is a remote API (DOJO_JUDGE=anthropic).
    """
    from dojo.chat.app import ChatError, ChatOptions, run_chat
    from dojo.eval.harness import EvalError
    from dojo.policy import ModelUnavailableError

    settings = load_settings()
    options = ChatOptions(
        brief=brief, model=model, adapter=adapter, docs=docs, resume=resume, store=store,
        task=task, rate=rate,
    )  # fmt: skip
    try:
        result = run_chat(settings, options, out)
    except (ChatError, EvalError, ModelUnavailableError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    except (KeyboardInterrupt, EOFError):  # before the session started: nothing to keep
        raise fail("stopped before the session started", 130) from None
    delivery = result.delivery
    for problem in delivery.problems:
        err.print(f"[yellow]warning:[/yellow] {problem}")
    where = [f"{delivery.stored} events stored"] if delivery.stored else []
    where += [f"{delivery.sent} sent to Kafka"] if delivery.sent else []
    print(
        f"session {result.notes.session_id}: {', '.join(where) or 'not recorded'}; brief {result.brief}"
    )
    if result.interrupted:
        print(f"stopped: continue with dojo chat --brief {result.brief} --resume")
        raise typer.Exit(130)


def export(
    out: Annotated[Path, typer.Option(help="Folder to write (refused if not empty, see --force).")],
    adapter: Annotated[
        str,
        typer.Option(help="'latest', a version (v000012, v000012-averaged) or an adapter folder."),
    ] = "latest",
    model: ModelOption = None,
    merged: Annotated[
        bool,
        typer.Option(
            "--merged",
            help="Write the base with the adapter merged in, plus the tokenizer: a plain "
            "transformers model (vLLM serves it as is).",
        ),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a folder that is not empty.")
    ] = False,
) -> None:
    """Export an adapter as a standalone PEFT folder with its model card (README.md), or
    with --merged as the base model with the adapter merged into its weights."""
    from dojo.policy import ModelUnavailableError
    from dojo.policy.registry import AdapterNotFound
    from dojo.serve.export import ExportError, export_adapter

    settings = load_settings()
    try:
        with err.status("exporting"):
            result = export_adapter(settings, adapter, out, model=model, merged=merged, force=force)
    except (ExportError, AdapterNotFound, ModelUnavailableError, ValueError) as exc:
        raise fail(str(exc), 2) from None
    what = "merged model" if result.merged else "adapter"
    print(f"exported {what} {result.version} to {result.out} (base: {result.base_model})")
