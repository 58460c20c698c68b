"""The deployment files agree with the code: Docker does not run here, so check what can be.

* every ``driftscope`` command the Dockerfiles, docker-compose.yml and render.yaml run is a
  registered command, answers ``--help`` with exit 0, and its arguments parse;
* every ``DRIFTSCOPE_*`` variable they set is a field of
  :class:`driftscope.core.config.environment.Settings`
  (or of the dashboard's settings);
* the compose file parses and has the api, dashboard and postgres services;
* the Hugging Face Space README has the docker SDK front-matter and its port matches.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

from driftscope.core.config.environment import DeploymentSettings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
HF_DIR = ROOT / "deploy" / "huggingface"
HF_DOCKERFILE = HF_DIR / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
RENDER = ROOT / "render.yaml"


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` pairs of a Dockerfile, continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        current = ""
    return instructions


def exec_form(arguments: str) -> list[str]:
    """The argv of a CMD/ENTRYPOINT (JSON exec form, or shell form split like a shell)."""
    if arguments.startswith("["):
        return [str(a) for a in json.loads(arguments)]
    return shlex.split(arguments)


def dockerfile_env(path: Path) -> dict[str, str]:
    """Every variable set by ENV instructions (``KEY=value`` pairs)."""
    env: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "ENV":
            for pair in shlex.split(rest):
                key, sep, value = pair.partition("=")
                assert sep, f"{path.name}: use ENV KEY=value, got {pair!r}"
                env[key] = value
    return env


def dockerfile_commands(path: Path) -> list[list[str]]:
    """The CMD and ENTRYPOINT argvs of a Dockerfile."""
    return [
        exec_form(rest)
        for keyword, rest in dockerfile_instructions(path)
        if keyword in ("CMD", "ENTRYPOINT")
    ]


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def render() -> dict[str, Any]:
    return yaml.safe_load(RENDER.read_text())


def all_commands() -> list[tuple[str, list[str]]]:
    """Every command the deployment files run, with where it comes from."""
    found: list[tuple[str, list[str]]] = []
    for path in (DOCKERFILE, HF_DOCKERFILE):
        for argv in dockerfile_commands(path):
            found.append((str(path.relative_to(ROOT)), argv))
    for name, service in compose()["services"].items():
        if "command" in service:
            command = service["command"]
            argv = command if isinstance(command, list) else shlex.split(command)
            found.append((f"docker-compose.yml services.{name}", [str(a) for a in argv]))
    for service in render()["services"]:
        if "dockerCommand" in service:
            found.append((f"render.yaml {service['name']}", shlex.split(service["dockerCommand"])))
    return found


def all_env() -> list[tuple[str, str]]:
    """Every environment variable the deployment files set, with where."""
    found: list[tuple[str, str]] = []
    for path in (DOCKERFILE, HF_DOCKERFILE):
        found += [(str(path.relative_to(ROOT)), key) for key in dockerfile_env(path)]
    for name, service in compose()["services"].items():
        env = service.get("environment") or {}
        keys = env.keys() if isinstance(env, dict) else [e.split("=", 1)[0] for e in env]
        found += [(f"docker-compose.yml services.{name}", key) for key in keys]
    for service in render()["services"]:
        found += [(f"render.yaml {service['name']}", v["key"]) for v in service["envVars"]]
    return found


def cli_commands() -> dict[str, Any]:
    """The click commands of the typer app, by name (typer may vendor its own click)."""
    from driftscope.apps.cli.main import app

    return dict(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_the_files_run_driftscope_commands():
    commands = all_commands()
    sources = {source for source, _ in commands}
    assert "Dockerfile" in sources
    assert "deploy/huggingface/Dockerfile" in sources
    assert any(s.startswith("docker-compose.yml") for s in sources)
    assert any(s.startswith("render.yaml") for s in sources)
    for source, argv in commands:
        assert argv[0] == "driftscope", f"{source}: runs {argv[0]!r}, not the driftscope CLI"


@pytest.mark.parametrize(
    "source,argv", all_commands(), ids=lambda v: v if isinstance(v, str) else " ".join(v)
)
def test_every_command_exists_and_its_arguments_parse(source, argv):
    commands = cli_commands()
    name, args = argv[1], argv[2:]
    assert name in commands, f"{source}: no command {name!r} in {sorted(commands)}"
    from driftscope.apps.cli.main import app

    result = CliRunner().invoke(app, [name, "--help"], terminal_width=200)
    assert result.exit_code == 0, f"{source}: driftscope {name} --help: {result.output}"
    try:
        commands[name].make_context(name, list(args))
    except Exception as exc:  # click's UsageError/BadParameter (typer may vendor click)
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"{source}: `{' '.join(argv)}` does not parse: {exc.format_message()}")


def test_every_driftscope_variable_is_a_known_setting():
    from driftscope.apps.dashboard.client import DashboardSettings

    known = {f"DRIFTSCOPE_{name.upper()}" for name in DeploymentSettings.model_fields}
    known |= {f"DRIFTSCOPE_{name.upper()}" for name in DashboardSettings.model_fields}
    found = all_env()
    assert any(key.startswith("DRIFTSCOPE_") for _, key in found)
    unknown = [
        f"{source}: {key}"
        for source, key in found
        if key.startswith("DRIFTSCOPE_") and key not in known
    ]
    assert not unknown, f"not fields of driftscope.core.config.environment.Settings: {unknown}"


def test_the_settings_the_files_set_are_valid_values():
    """Literal values (ports, hosts, levels) pass the settings' own validation."""
    for path in (DOCKERFILE, HF_DOCKERFILE):
        env = {k: v for k, v in dockerfile_env(path).items() if k.startswith("DRIFTSCOPE_")}
        DeploymentSettings(**{k.removeprefix("DRIFTSCOPE_").lower(): v for k, v in env.items()})
    for name, service in compose()["services"].items():
        env = {
            k: str(v)
            for k, v in (service.get("environment") or {}).items()
            if k.startswith("DRIFTSCOPE_") and "${" not in str(v)
        }
        try:
            DeploymentSettings(**{k.removeprefix("DRIFTSCOPE_").lower(): v for k, v in env.items()})
        except ValueError as exc:
            pytest.fail(f"docker-compose.yml services.{name}: {exc}")
    for service in render()["services"]:
        env = {
            v["key"]: v["value"]
            for v in service["envVars"]
            if v["key"].startswith("DRIFTSCOPE_") and "value" in v
        }
        DeploymentSettings(**{k.removeprefix("DRIFTSCOPE_").lower(): v for k, v in env.items()})


def test_the_configs_the_files_name_exist_in_the_image():
    """A DRIFTSCOPE_CONFIG under /app/ is a file the Dockerfile copies into the image."""
    values = [dockerfile_env(DOCKERFILE).get("DRIFTSCOPE_CONFIG")]
    values += [
        (s.get("environment") or {}).get("DRIFTSCOPE_CONFIG")
        for s in compose()["services"].values()
    ]
    values += [
        v.get("value")
        for s in render()["services"]
        for v in s["envVars"]
        if v["key"] == "DRIFTSCOPE_CONFIG"
    ]
    checked = 0
    for value in filter(None, values):
        assert value.startswith("/app/"), value
        assert (ROOT / value.removeprefix("/app/")).is_file(), value
        checked += 1
    assert checked >= 3


def test_compose_names_the_api_dashboard_and_postgres():
    services = compose()["services"]
    assert {"api", "dashboard", "postgres"} <= set(services)
    api_env = services["api"]["environment"]
    assert api_env["DRIFTSCOPE_STORE_URL"].startswith("postgresql://")
    assert "@postgres:" in api_env["DRIFTSCOPE_STORE_URL"]
    assert services["dashboard"]["environment"]["DRIFTSCOPE_API_URL"] == "http://api:8000"
    assert services["api"]["command"][:2] == ["driftscope", "serve"]
    assert services["dashboard"]["command"][:2] == ["driftscope", "dashboard"]


def test_dockerfile_is_slim_non_root_with_a_healthcheck_on_healthz():
    instructions = dockerfile_instructions(DOCKERFILE)
    keywords = [k for k, _ in instructions]
    base = next(rest for k, rest in instructions if k == "FROM")
    assert re.fullmatch(r"python:3\.1\d-slim", base), base
    users = [rest for k, rest in instructions if k == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert keywords.index("USER") < keywords.index("CMD")
    health = next(rest for k, rest in instructions if k == "HEALTHCHECK")
    assert "/healthz" in health and "curl" not in health and "urllib" in health
    assert dockerfile_commands(DOCKERFILE) == [["driftscope", "serve"]]


def test_huggingface_space_front_matter():
    text = (HF_DIR / "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "the Space README must start with YAML front-matter"
    front = yaml.safe_load(match.group(1))
    assert front["sdk"] == "docker"
    port = int(front["app_port"])
    (argv,) = dockerfile_commands(HF_DOCKERFILE)
    assert argv[:2] == ["driftscope", "dashboard"]
    assert argv[argv.index("--port") + 1] == str(port)
    assert argv[argv.index("--address") + 1] == "0.0.0.0"
    users = [rest for k, rest in dockerfile_instructions(HF_DOCKERFILE) if k == "USER"]
    assert users and users[-1] != "root"


def test_render_blueprint_runs_the_api_with_its_health_check():
    services = {s["name"]: s for s in render()["services"]}
    service = services["driftscope-api"]
    assert service["type"] == "web" and service["runtime"] == "docker"
    assert service["healthCheckPath"] == "/healthz"
    env = {v["key"]: v for v in service["envVars"]}
    # secrets are generated or asked for, never written in the file
    for key in ("DRIFTSCOPE_API_KEY", "DRIFTSCOPE_READ_KEYS"):
        assert env[key].get("generateValue") is True
        assert "value" not in env[key]
    assert "fromDatabase" in env["DRIFTSCOPE_STORE_URL"]
    argv = shlex.split(service["dockerCommand"])
    assert argv[argv.index("--port") + 1] == env["PORT"]["value"]
    database_names = {d["name"] for d in render()["databases"]}
    assert env["DRIFTSCOPE_STORE_URL"]["fromDatabase"]["name"] in database_names


def test_the_images_copy_everything_the_package_is_built_from():
    """The repository root is the package ``driftscope``: an image that copies only core/,
    plugins/ and apps/ builds a wheel without the public surface (``__init__.py``)."""
    needed = {"pyproject.toml", "constraints.txt", "__init__.py", "__main__.py", "py.typed"}
    needed |= {"core", "plugins", "apps"}
    for path in (DOCKERFILE, HF_DOCKERFILE):
        copied: set[str] = set()
        for keyword, rest in dockerfile_instructions(path):
            if keyword == "COPY":
                sources = [a for a in shlex.split(rest) if not a.startswith("--")][:-1]
                copied |= {s.rstrip("/") for s in sources}
        assert needed <= copied, f"{path.relative_to(ROOT)} does not copy {needed - copied}"
        installs = [rest for keyword, rest in dockerfile_instructions(path) if keyword == "RUN"]
        assert any("-c constraints.txt" in rest for rest in installs), path


def test_render_dashboard_requires_a_password_and_reads_with_the_read_key():
    services = {s["name"]: s for s in render()["services"]}
    dashboard = services["driftscope-dashboard"]
    argv = shlex.split(dashboard["dockerCommand"])
    assert argv[:2] == ["driftscope", "dashboard"]
    assert argv[argv.index("--address") + 1] == "0.0.0.0"
    assert dashboard["healthCheckPath"] == "/_stcore/health"
    env = {v["key"]: v for v in dashboard["envVars"]}
    assert argv[argv.index("--port") + 1] == env["PORT"]["value"]
    # asked for when the Blueprint is created: no default, never in the file
    assert env["DRIFTSCOPE_DASHBOARD_PASSWORD_HASH"] == {
        "key": "DRIFTSCOPE_DASHBOARD_PASSWORD_HASH",
        "sync": False,
    }
    source = env["DRIFTSCOPE_API_KEY"]["fromService"]
    assert source["name"] == "driftscope-api" and source["envVarKey"] == "DRIFTSCOPE_READ_KEYS"


def test_every_public_dashboard_template_requires_a_password():
    """The Space binds 0.0.0.0: its README makes the hash a required secret, and compose
    refuses to start without one (the dashboard itself shows no data without a sign-in)."""
    readme = (HF_DIR / "README.md").read_text()
    assert "`DRIFTSCOPE_DASHBOARD_PASSWORD_HASH`" in readme and "**required**" in readme
    assert "driftscope hash-password" in readme
    assert "DRIFTSCOPE_DASHBOARD_PASSWORD_HASH" in HF_DOCKERFILE.read_text()
    value = compose()["services"]["dashboard"]["environment"]["DRIFTSCOPE_DASHBOARD_PASSWORD_HASH"]
    assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", value), value  # ${VAR:?message}: required
    assert "hash-password" in cli_commands()
