"""``lsagent demo``: the whole workflow on this machine, on the bundled dataset (see ``ml_backend.cli.demo``)."""

from __future__ import annotations

from pathlib import Path

import click

DEFAULT_DATA_DIR = Path.home() / ".lsagent" / "demo"


@click.command("demo")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_DATA_DIR,
              show_default=True, help="Where Label Studio, the service and the logs keep their data.")
@click.option("--port-ls", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="Label Studio's port.")
@click.option("--port", type=click.IntRange(1, 65535), default=9090, show_default=True,
              help="The lsagent service's port.")
@click.option("--stop-after-views", is_flag=True,
              help="Stop everything once the review views exist, instead of running until Ctrl-C.")
@click.option("--base-url", help="An OpenAI-compatible endpoint to use instead of the simulator "
                                 "(default: $OPENAI_BASE_URL; the key comes from OPENAI_API_KEY).")
@click.option("--model", help="Model of the agent (default: sim-small on the simulator; with a real endpoint, "
                              "$LSAGENT_DEMO_MODEL or gpt-4o-mini).")
@click.option("--context-window", type=click.IntRange(1), help="The model's context window in tokens, for models "
                                                               "the built-in table does not know.")
@click.option("--task", type=click.Choice(["sentiment", "ner"]), default="sentiment", show_default=True,
              help="The bundled dataset: review sentiment (Choices), or people, organisations and places marked "
                   "as spans in short sentences (Labels).")
@click.option("--sim-latency-ms", type=click.FloatRange(0), default=150.0, show_default=True,
              help="Simulated latency of each LLM call (simulator only).")
def demo_command(data_dir: Path, port_ls: int, port: int, stop_after_views: bool, base_url: str | None,
                 model: str | None, context_window: int | None, sim_latency_ms: float, task: str) -> None:
    """The main job: Label Studio, the service and an LLM (the simulator unless OPENAI_BASE_URL is
    set), a bundled dataset (--task), an agent, a job, a low-confidence and an audit review view. Running
    it again reuses what exists."""
    from ml_backend.cli.demo.processes import DemoError
    from ml_backend.cli.demo.runner import DemoOptions, run_demo

    options = DemoOptions(data_dir=data_dir, port_ls=port_ls, port=port, stop_after_views=stop_after_views,
                          base_url=base_url, model=model, context_window=context_window,
                          sim_latency_ms=sim_latency_ms, task=task)
    try:
        run_demo(options)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [demo_command]
