"""The documentation of running the bot cannot drift from the code: README's settings
table, .env.example, the Dockerfile, compose.yaml and the Grafana dashboard are checked
against the settings class, the metrics registry and each other."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from bot import metrics
from bot.config import HINTS, Settings, load_settings
from bot.config_docs import README, replace_table, secret_settings, shown_default

REPO = Path(__file__).resolve().parents[1]
ENV_EXAMPLE = REPO / ".env.example"
ASSIGNMENT = re.compile(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$")


def env_example_lines() -> dict[str, tuple[bool, str]]:
    """name → (commented out, value) for every ``NAME=value`` line of .env.example."""
    found: dict[str, tuple[bool, str]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = ASSIGNMENT.match(line.strip())
        if match:
            found[match.group(2)] = (match.group(1) is not None, match.group(3).strip())
    return found


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for raw in (REPO / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in joined]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction, args in dockerfile_instructions():
        if instruction == "ENV":
            for item in shlex.split(args):
                name, _, value = item.partition("=")
                env[name] = value
    return env


def compose() -> dict:
    return yaml.safe_load((REPO / "compose.yaml").read_text(encoding="utf-8"))


# ---------------------------------------------------------------------- settings docs


def test_readme_table_is_the_generated_one() -> None:
    text = README.read_text(encoding="utf-8")
    assert replace_table(text) == text, "run: python -m bot.config_docs --write"
    for name in Settings.model_fields:
        assert f"| `{name}` |" in text


def test_every_setting_has_doc_text_and_a_hint() -> None:
    for name, info in Settings.model_fields.items():
        extra = info.json_schema_extra
        assert isinstance(extra, dict) and extra.get("doc"), f"{name} has no doc text"
        assert name in HINTS, f"{name} has no hint for a malformed value"


def test_env_example_lists_every_setting_with_its_default() -> None:
    lines = env_example_lines()
    assert set(lines) == set(Settings.model_fields)
    secrets = set(secret_settings())
    for name, (commented, value) in lines.items():
        if name in secrets:
            assert value == "", f"{name} must be empty in .env.example"
            continue
        assert commented, f"{name} is set in .env.example: leave defaults commented out"
        default = shown_default(Settings.model_fields[name])
        if default.startswith("`") and default.endswith("`"):
            assert value == default.strip("`"), f"{name}: {value!r} is not the default"


def test_env_example_as_shipped_loads_and_has_no_relative_database_url(tmp_path: Path,
                                                                       monkeypatch) -> None:
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    lines = env_example_lines()
    assert "DATABASE_URL" in lines and lines["DATABASE_URL"][0], "DATABASE_URL stays commented"
    assert lines["DATABASE_URL"][1].startswith("sqlite:////"), "its example is absolute"
    env = tmp_path / ".env"
    env.write_text(ENV_EXAMPLE.read_text(encoding="utf-8").replace(
        "DISCORD_TOKEN=\n", "DISCORD_TOKEN=filled-in-token\n"), encoding="utf-8")
    settings = load_settings(env)
    assert settings.DATABASE_URL is None and settings.uses_local_provider
    assert settings.database_path == Path("data/bot.db")
    # The container's environment (the image's ENV) with the same file.
    for name, value in dockerfile_env().items():
        monkeypatch.setenv(name, value)
    in_image = load_settings(env)
    assert in_image.database_path == Path("/data/bot.db")
    assert in_image.METRICS_HOST == "0.0.0.0" and in_image.METRICS_PORT is not None


# ---------------------------------------------------------------------- Docker


def test_dockerfile_installs_locked_dependencies_before_the_code() -> None:
    steps = dockerfile_instructions()
    kinds = [kind for kind, _ in steps]
    frm = steps[0]
    assert frm[0] == "FROM" and re.fullmatch(r"python:3\.\d+\.\d+-slim-\w+", frm[1]), \
        "the base image is pinned to one release"
    lock_copy = kinds.index("COPY")
    assert steps[lock_copy][1].split()[0] == "requirements.lock"
    install = next(i for i, (k, a) in enumerate(steps) if k == "RUN" and "pip install" in a)
    assert "--require-hashes" in steps[install][1] and "-r requirements.lock" in steps[install][1]
    code_copies = [i for i, (k, a) in enumerate(steps) if k == "COPY" and a.split()[0] in
                   ("bot", "cogs", ".")]
    assert code_copies and lock_copy < install < min(code_copies)
    user = [a for k, a in steps if k == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert ("VOLUME", '["/data"]') in steps
    env = dockerfile_env()
    assert env["DATA_DIR"] == "/data" and env["METRICS_HOST"] == "0.0.0.0"
    assert env["METRICS_PORT"].isdigit()
    assert "DATABASE_URL" not in env, "the database follows DATA_DIR"
    health = [a for k, a in steps if k == "HEALTHCHECK"]
    assert health and 'CMD ["python", "-m", "bot", "healthcheck"]' in health[0]
    assert steps[-1] == ("CMD", '["python", "-m", "bot"]')
    lock = (REPO / "requirements.lock").read_text(encoding="utf-8")
    for package in ("discord-py==", "aiosqlite==", "prometheus-client==", "python-json-logger=="):
        assert package in lock
    assert lock.count("--hash=sha256:") > 50


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_the_lock_file_pins_every_dependency_of_pyproject() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_normalized(re.split(r"[^A-Za-z0-9_.\-]", dep, maxsplit=1)[0])
              for dep in project["dependencies"]}
    lock = (REPO / "requirements.lock").read_text(encoding="utf-8")
    pinned = {_normalized(m.group(1)) for m in re.finditer(r"^([A-Za-z0-9_.\-]+)==", lock, re.M)}
    assert wanted <= pinned, f"regenerate requirements.lock (README, Docker): {wanted - pinned}"


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".env", ".git", ".venv", "data/"):
        assert entry in ignored


def test_compose_matches_the_dockerfile_and_readme() -> None:
    service = compose()["services"]["bot"]
    env = dockerfile_env()
    assert service["restart"] == "unless-stopped"
    assert service["env_file"] == ".env" or service["env_file"] == [".env"]
    volume, mount = service["volumes"][0].split(":")
    assert mount == "/data" and volume in compose()["volumes"]
    assert service["healthcheck"]["test"] == ["CMD", "python", "-m", "bot", "healthcheck"]
    assert any(p.endswith(f":{env['METRICS_PORT']}") for p in service["ports"])
    grace = float(str(service["stop_grace_period"]).rstrip("s"))
    assert grace > Settings.model_fields["SHUTDOWN_GRACE_SECONDS"].default
    readme = README.read_text(encoding="utf-8")
    assert "docker compose up -d" in readme
    run = re.search(r"docker run (?:[^\n]*\\\n)*[^\n]*", readme)
    assert run is not None
    command = run.group(0).replace("\\\n", " ")
    assert "--env-file .env" in command and f"-v {volume}:/data" in command
    assert f":{env['METRICS_PORT']}" in command
    assert "--stop-timeout" in command
    timeout = float(command.split("--stop-timeout", 1)[1].split()[0])
    assert timeout > Settings.model_fields["SHUTDOWN_GRACE_SECONDS"].default
    assert "python -m bot backup" in readme and "Litestream" in readme


def test_compose_needs_no_variable_the_documented_env_lacks() -> None:
    # Compose substitutes variables in every service before it leaves out the services of
    # other profiles: a required one (${NAME:?...}) would stop `docker compose up -d` with
    # the .env made from .env.example, which sets no PostgreSQL password.
    text = (REPO / "compose.yaml").read_text(encoding="utf-8")
    assert not re.search(r"\$\{[A-Z_]+:?\?", text)
    names = set(re.findall(r"\$\{([A-Z_]+)", text))
    assert names <= set(env_example_lines()) | {"POSTGRES_PASSWORD"}


# ---------------------------------------------------------------------- monitoring docs


def test_grafana_dashboard_uses_only_real_metrics() -> None:
    dashboard = json.loads((REPO / "docs" / "grafana-dashboard.json").read_text("utf-8"))
    titles = " ".join(p["title"].lower() for p in dashboard["panels"])
    for wanted in ("jobs by status", "delivery delay p95", "acknowledgement p99",
                   "provider errors", "quota refusals"):
        assert wanted in titles
    exposed = {m.name for m in metrics.REGISTRY.collect()}
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"ideogram_[a-z_]+", target["expr"]):
                base = re.sub(r"_(total|bucket|sum|count)$", "", name)
                assert base in exposed, f"{name} in {panel['title']!r} is no metric"


@pytest.mark.parametrize("name", [
    "ideogram_jobs_total", "ideogram_jobs_in_flight", "ideogram_provider_requests_total",
    "ideogram_interaction_ack_seconds", "ideogram_delivery_delay_seconds",
    "ideogram_quota_refusals_total", "ideogram_discord_rate_limited_total"])
def test_readme_documents_each_metric(name: str) -> None:
    assert f"`{name}`" in README.read_text(encoding="utf-8")
