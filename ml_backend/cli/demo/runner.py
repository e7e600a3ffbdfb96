"""The main job, end to end on embedded defaults: ``lsagent demo``.

Label Studio (SQLite, in its own virtualenv) + the lsagent service + the LLM simulator (unless
OPENAI_BASE_URL names a real endpoint); a bundled dataset imported as a project (``--task``: the
reviews' sentiment by default, or the sentences' named entities); an agent
registered and connected as the project's ML backend; a job with a progress bar; a low-confidence
review view and an audit view; then the URLs and the login, until Ctrl-C.

Every step looks for what a previous run left (project by title, the same agent id, the agent's
finished job, views by title) and reuses it, so running the demo again is quick and changes
nothing that is already right. The demo talks to the service only through ``Client`` (the REST
API), like any user would.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ml_backend.cli.demo import dataset
from ml_backend.cli.demo.label_studio import ensure_project, ensure_tasks, read_back
from ml_backend.cli.demo.processes import Account, Children, DemoError, ensure_free, label_studio_venv
from ml_backend.cli.jobs import follow
from ml_backend.cli.output import console
from ml_backend.client import Client, ServiceError
from sync.client import LabelStudioError, connect
from sync.projects import connect_ml_backend, project_url

ACCOUNT = Account("demo@example.com", "lsagent-demo", "lsagent-demo-token-5d1c9a7e3f2b4680")
SIMULATOR_KEY = "lsagent-demo-simulator-key"
SIMULATED_MODEL = "sim-small"
BACKEND_TITLE = "lsagent"
REVIEW_THRESHOLD = 0.7
AUDIT_SIZE = 30
AUDIT_SEED = 0
LOW_TITLE = f"lsagent demo: confidence below {REVIEW_THRESHOLD:g}"
AUDIT_TITLE = f"lsagent demo: audit {AUDIT_SIZE} tasks at or above {REVIEW_THRESHOLD:g}"


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    port_ls: int = 8080
    port: int = 9090
    stop_after_views: bool = False
    base_url: str | None = None
    model: str | None = None
    context_window: int | None = None
    sim_latency_ms: float = 150.0
    task: str = "sentiment"

    @property
    def demo(self) -> dataset.DemoTask:
        """The dataset, project and agent brief of ``--task``."""
        return dataset.DEMO_TASKS[self.task]

    @property
    def endpoint(self) -> str | None:
        """The real endpoint to call (--base-url, else OPENAI_BASE_URL); None: the simulator."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL") or None

    @property
    def agent_model(self) -> str:
        if self.model:
            return self.model
        return os.environ.get("LSAGENT_DEMO_MODEL", "gpt-4o-mini") if self.endpoint else SIMULATED_MODEL


def say(message: str) -> None:
    console.print(f"[bold cyan]==>[/bold cyan] {message}", highlight=False, soft_wrap=True)


def run_demo(options: DemoOptions) -> None:
    """Run the demo; returns after Ctrl-C/SIGTERM (or once the views exist with ``stop_after_views``)."""
    data_dir = options.data_dir.expanduser().resolve()
    venv = label_studio_venv()
    if options.port_ls == options.port:
        raise DemoError(f"Label Studio and the service cannot share port {options.port}: give --port-ls and --port "
                        "different values")
    ensure_free(options.port_ls, "Label Studio", "--port-ls")
    ensure_free(options.port, "the lsagent service", "--port")
    check_model(options)
    children = Children(data_dir / "logs")
    running: dict[str, str] = {}  # the job being followed, until it is done
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        urls = _start(children, venv, data_dir, options)
        state = _workflow(urls, options, running)
        (data_dir / "demo.json").write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
        _print_ready(state, data_dir, options.stop_after_views)
        if not options.stop_after_views:
            _wait(children)
    except (KeyboardInterrupt, SystemExit):  # SystemExit: Ctrl-C while ``follow`` shows the job (it exits 130)
        console.print()
        job = running.get("job")
        say(f"interrupted; job {job} did not finish: it resumes on the next run" if job else "interrupted")
    finally:
        # A second Ctrl-C must not cut the clean-up short and leave Label Studio running.
        previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
        children.stop(say)
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous)
    say("stopped; everything is kept in " + str(data_dir) + " for the next run")


def check_model(options: DemoOptions) -> None:
    """Refuse a model the demo cannot use before anything starts or is imported: its context
    window must be known (or given), and a real endpoint must offer it."""
    from ml_backend.engine import tokens
    from ml_backend.engine.llm import LLMCallError, LLMClient, MissingAPIKeyError
    from ml_backend.engine.modelconfig import ModelConfig

    model = options.agent_model
    try:
        tokens.context_window(model, options.context_window)
    except tokens.UnknownModelError:
        raise DemoError(f"the context window of model {model!r} is not known: pass --context-window N "
                        "(in tokens, from the model's card)") from None
    if options.endpoint is None:
        return
    try:
        client = LLMClient(ModelConfig(model=model, base_url=options.endpoint))
    except MissingAPIKeyError:
        raise DemoError("set OPENAI_API_KEY for the endpoint (any non-empty value for a local server "
                        "that needs no key)") from None
    try:
        offered = client.list_models()
    except LLMCallError as exc:
        raise DemoError(f"the endpoint {options.endpoint} did not list its models: {exc.detail}") from None
    finally:
        client.close()
    if model not in offered:
        raise DemoError(f"the endpoint {options.endpoint} does not offer model {model!r} "
                        f"(it offers: {', '.join(sorted(offered)[:10]) or 'none'}); pass --model")


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _start(children: Children, venv: Path, data_dir: Path, options: DemoOptions) -> dict[str, str]:
    ls_data = data_dir / "label-studio"
    first = not (ls_data / "label_studio.sqlite3").exists()
    say(f"starting Label Studio {venv.name.removeprefix('ls-')} on http://127.0.0.1:{options.port_ls} "
        f"(SQLite in {ls_data}; {'first start: about 10-40 s' if first else 'about 10 s'})")
    ls_url = children.label_studio(venv, options.port_ls, ls_data, ACCOUNT)
    environment = {
        "LSAGENT_DATA_DIR": str(data_dir / "service"),
        "LABEL_STUDIO_URL": ls_url,
        "LABEL_STUDIO_API_KEY": ACCOUNT.token,
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
    }
    llm = options.endpoint
    if llm:
        environment["OPENAI_BASE_URL"] = llm
        say(f"LLM: the endpoint {llm}, model {options.agent_model} (key from OPENAI_API_KEY)")
    else:
        sim_url = children.simulator(options.sim_latency_ms, SIMULATOR_KEY, _previous_simulator_port(data_dir))
        _remember_simulator(data_dir, sim_url)
        environment.update(OPENAI_BASE_URL=sim_url, OPENAI_API_KEY=SIMULATOR_KEY)
        say(f"LLM: the lsagent SIMULATOR at {sim_url}, not a real model: it reads the text with hand-written "
            "rules and answers with realistic log-probabilities. "
            "Set OPENAI_BASE_URL (and OPENAI_API_KEY) to use a real endpoint.")
    say(f"starting the lsagent service on http://127.0.0.1:{options.port} (store: SQLite in {data_dir / 'service'}; "
        "jobs run in the service process)")
    service_url = children.service(options.port, environment)
    return {"label_studio": ls_url, "service": service_url, "llm": llm or environment["OPENAI_BASE_URL"]}


def _previous_simulator_port(data_dir: Path) -> int:
    """The port the last run's simulator had (0: none). An agent keeps the endpoint it was
    registered with, so the simulator comes back there and a rerun reuses the same agent."""
    try:
        llm = json.loads((data_dir / "demo.json").read_text(encoding="utf-8")).get("llm") or ""
    except (OSError, ValueError, AttributeError):
        return 0
    parts = urlsplit(llm)
    return parts.port or 0 if parts.hostname == "127.0.0.1" else 0


def _remember_simulator(data_dir: Path, url: str) -> None:
    """Note the simulator's URL in demo.json at once, not only at the end: a run stopped midway
    must bring the simulator back on the same port too, or the next run would register another
    agent (the endpoint is part of an agent) and never pick up the unfinished job."""
    path = data_dir / "demo.json"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        state = {}
    state = state if isinstance(state, dict) else {}
    path.write_text(json.dumps({**state, "llm": url}, indent=2) + "\n", encoding="utf-8")


def _workflow(urls: dict[str, str], options: DemoOptions, running: dict[str, str]) -> dict[str, Any]:
    """The steps through the REST API and Label Studio; returns what a later run (or a script)
    reuses. ``running`` names the job while it is followed (so an interruption can say so)."""
    try:
        ls = connect(urls["label_studio"], ACCOUNT.token)
        demo = options.demo
        items = demo.load()
        project, created = ensure_project(ls, demo.title, demo.label_config(), demo)
        say(f"{'created' if created else 'reusing'} project {project} {demo.title!r}")
        imported, present = ensure_tasks(ls, project, items)
        say(f"tasks: imported {imported}, already there {present} (gold answers kept in each task's meta, "
            "out of the model's sight)")
        service = Client(urls["service"], timeout=300)
        agent = _agent(service, project, options)
        auth = _basic_auth()
        connect_ml_backend(ls, project, urls["service"], BACKEND_TITLE, *auth)
        say(f"the service is the project's ML backend ({urls['service']}, title {BACKEND_TITLE!r})")
        job = _job(service, agent, running)
        _repair(service, project)
        views = [_view(service, job["id"], "threshold", LOW_TITLE),
                 _view(service, job["id"], "audit", AUDIT_TITLE, audit=AUDIT_SIZE, seed=AUDIT_SEED)]
        _check(ls, project, agent["model_version"], demo.control, simulated=options.endpoint is None)
    except (LabelStudioError, ServiceError) as exc:
        raise DemoError(f"{type(exc).__name__}: {exc}") from None
    return {"label_studio_url": urls["label_studio"], "service_url": urls["service"], "llm": urls["llm"],
            "username": ACCOUNT.username, "password": ACCOUNT.password, "project": project,
            "project_url": project_url(urls["label_studio"], project), "agent": agent["id"],
            "model_version": agent["model_version"], "job": job["id"],
            "views": [_view_state(view) for view in views if view]}


def _repair(service: Client, project: int) -> None:
    """Views an earlier lsagent left that Label Studio's web app cannot load break every tab."""
    for view in service.repair_reviews(project)["views"]:
        say(f"view {view['view_id']} {view['title']!r} could not load in Label Studio's web app "
            f"({'; '.join(view['problems'])}): {view['action']}")


def _view_state(view: dict[str, Any]) -> dict[str, Any]:
    return {**{key: view.get(key) for key in ("view_id", "title", "url", "kind")}, "tasks": len(view["task_ids"])}


def _agent(service: Client, project: int, options: DemoOptions) -> dict[str, Any]:
    """Register the demo's agent; the same configuration is the same agent (same id) on a rerun."""
    simulated = options.endpoint is None
    model = options.agent_model
    known = {agent["id"] for agent in service.agents(project)}
    agent = service.create_agent(project, options.demo.agent_name, model, instructions=options.demo.instructions,
                                 temperature=0.0,
                                 max_concurrency=16 if simulated else None, context_window=options.context_window,
                                 activate=True)
    reused = " (the same agent as before)" if agent["id"] in known else ""
    say(f"agent {agent['model_version']} (model {model}) registered and active on project {project}{reused}")
    return agent


def _job(service: Client, agent: dict[str, Any], running: dict[str, str]) -> dict[str, Any]:
    """The agent's finished job on all tasks, or an unfinished or new one followed with a
    progress bar (named in ``running`` until it is done)."""
    mine = [job for job in service.jobs(agent["project"]) if job["agent_id"] == agent["id"] and job["subset"] == "all"]
    done = [job for job in mine if job["status"] == "done"]
    if done:
        say(f"reusing job {done[0]['id']} (done: {done[0]['counts']['done']}/{done[0]['total']} tasks)")
        return done[0]
    unfinished = [job for job in mine if job["status"] in ("queued", "running")]
    job = unfinished[0] if unfinished else service.run_job(agent["id"], "all")
    running["job"] = job["id"]
    say(f"{'following' if unfinished else 'started'} job {job['id']}: the agent labels every task")
    job = follow(service, job, progress=True)
    if job["status"] != "done":
        raise DemoError(f"job {job['id']} ended {job['status']}: {job.get('error') or 'see the service log'}")
    del running["job"]
    summary = job.get("summary") or {}
    say(f"job done: {job['counts']['labeled']} labelled, {job['total'] - job['counts']['labeled']} not, "
        f"mean confidence {summary.get('mean_confidence')}, {summary.get('predictions_written')} predictions "
        "written to Label Studio")
    if job.get("project_model_version_set"):
        say(f"the project's model_version is now {job['model_version']}: Label Studio's score column, "
            "filters and ordering show this agent's predictions")
    return job


def _view(service: Client, job: str, kind: str, title: str, **options: Any) -> dict[str, Any] | None:
    try:
        view = service.create_review(job, kind, threshold=REVIEW_THRESHOLD, title=title, **options)
    except ServiceError as exc:
        say(f"[yellow]no {kind} view:[/yellow] {exc}")
        return None
    say(f"{'created' if view.get('created') else 'updated'} view {view['title']!r}: {len(view['task_ids'])} task(s)")
    return view


def _check(ls: Any, project: int, model_version: str, control: str, *, simulated: bool) -> None:
    """Read Label Studio back: one prediction per task, and how the agent compares with the gold."""
    seen = read_back(ls, project, model_version, control, REVIEW_THRESHOLD)
    say(f"Label Studio holds {seen.predicted} prediction(s) of {model_version} on {seen.tasks} task(s)"
        + (f"; [red]{seen.duplicates} duplicate(s)[/red]" if seen.duplicates else " (one per task)"))
    if seen.predicted:
        kinds = ", ".join(f"{kind} {right}/{n}" for kind, (right, n) in sorted(seen.by_kind.items()))
        confident = f"{seen.agree_confident}/{seen.confident}" if seen.confident else "-"
        say(f"agreement with the dataset's gold answers: {seen.agree}/{seen.predicted} ({seen.agreement:.0%}); "
            f"at confidence >= {REVIEW_THRESHOLD:g}: {confident}; by kind: {kinds}"
            + (" (the simulator reads words, not meaning; a real model reads the whole text)" if simulated else ""))


def _basic_auth() -> tuple[str | None, str | None]:
    user, password = os.environ.get("BASIC_AUTH_USER"), os.environ.get("BASIC_AUTH_PASS")
    return (user, password) if user and password else (None, None)


def _print_ready(state: dict[str, Any], data_dir: Path, stop_after_views: bool) -> None:
    console.rule("[bold green]lsagent demo ready")
    env = f"LSAGENT_URL={state['service_url']} {_lsagent_command()}"
    lines = [
        f"Label Studio     {state['label_studio_url']}   login [bold]{state['username']}[/bold] / "
        f"[bold]{state['password']}[/bold]   API token [bold]{ACCOUNT.token}[/bold]",
        f"project          {state['project_url']}",
        *(f"review view      {view['url']}   {view['title']} ({view['tasks']} task(s))" for view in state["views"]),
        f"lsagent service  {state['service_url']}   (REST API: {state['service_url']}/api/openapi.json)",
        f"LLM              {state['llm']}",
        f"job report       {env} jobs report {state['job']} -o report.html",
        f"after reviewing  {env} verification sync --job {state['job']}",
        f"Python           Client({state['service_url']!r}).job({state['job']!r})",
        f"logs             {data_dir / 'logs'}",
    ]
    for line in lines:
        console.print("  " + line, highlight=False, soft_wrap=True)
    console.print("[bold]Ready.[/bold]" + (" Stopping (--stop-after-views)." if stop_after_views else
                                            " Press Ctrl-C to stop."), highlight=False)


def _lsagent_command() -> str:
    """How the user ran lsagent (e.g. ``.venv/bin/lsagent`` from ``make demo``), to print commands they can paste."""
    return sys.argv[0] if Path(sys.argv[0]).name == "lsagent" else "lsagent"


def _wait(children: Children) -> None:
    while True:
        time.sleep(1)
        dead = children.dead()
        if dead:
            raise DemoError(f"{dead} stopped unexpectedly; its log is in the logs directory")
