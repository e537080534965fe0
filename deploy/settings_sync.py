"""Keep the deployment files in step with the services' Settings classes.

    .venv/bin/python deploy/settings_sync.py           # report what is out of date (exit 1 if any)
    .venv/bin/python deploy/settings_sync.py --write   # rewrite the generated parts

Generated from each field's name, default and description, between markers:

* docs/configuration.md: the configuration table (``<!-- BEGIN configuration -->`` … ``END``);
* docker-compose.yml: each service's ``environment`` (``# BEGIN settings EMBEDDINGS_`` … ``END``),
  every setting passed through from ``.env`` with the service's own default;
* .env.example: one documented line per setting (same markers).

``tests/test_deploy_files.py`` fails when any of them is stale, so a new Settings field cannot be
forgotten in the deployment.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from service.catalog import SERVICES  # noqa: E402 (from this checkout)

#: The services' environment prefixes, in catalog order: ``("EMBEDDINGS_", "ATTENTION_")``.
PREFIXES = tuple(spec.env_prefix for spec in SERVICES.values())

#: Settings the container sets itself (not taken from .env): variable suffix -> compose value.
FIXED = {
    "HOST": "0.0.0.0",  # noqa: S104 (inside the container; the host publishes on 127.0.0.1)
    "DATA_DIR": "/data",
    "EMBEDDINGS_URL": "http://embeddings:${EMBEDDINGS_PORT:-8001}",
}
#: The configuration table's "in the container" column.
CONTAINER = {
    "HOST": "`0.0.0.0`",
    "DATA_DIR": "`/data` (the volume)",
    "API_TOKEN": "required (`.env`)",
    "THREADS": "the CPU limit",
    "EMBEDDINGS_URL": "`http://embeddings:8001`",
}

#: Variables docker-compose.yml reads besides the services' settings (hand-written in .env.example).
COMPOSE_VARS = [
    ("BIND_ADDRESS", "127.0.0.1", "Host interface the ports are published on."),
    ("EMBEDDINGS_HOST_PORT", "8001", "Host port of the embeddings service."),
    ("ATTENTION_HOST_PORT", "8002", "Host port of the attention service."),
    ("EMBEDDINGS_CPUS", "2", "CPU limit of the embeddings container (threads follow it)."),
    ("EMBEDDINGS_MEMORY", "2g", "Memory limit of the embeddings container (and of each replica)."),
    ("ATTENTION_CPUS", "2", "CPU limit of the attention container (threads follow it)."),
    ("ATTENTION_MEMORY", "3g", "Memory limit of the attention container."),
    ("EMBATTN_IMAGE", "embattn:latest", "Tag of the service image."),
    (
        "TORCH_INDEX_URL",
        "https://download.pytorch.org/whl/cpu",
        "Build: where the CPU torch wheel comes from.",
    ),
    ("TORCH_WHEEL_DIR", "", "Build: a directory of wheels in the build context instead (e.g. `wheels`)."),
    ("EMBEDDINGS_REPLICAS", "2", "Profile `scaled`: number of embeddings query replicas."),
    ("EMBEDDINGS_REPLICA_CPUS", "1", "Profile `scaled`: CPU limit of each replica."),
    ("PROXY_HOST_PORT", "8000", "Profile `scaled`: host port of the nginx proxy."),
    ("PROXY_CPUS", "1", "Profile `scaled`: CPU limit of the proxy."),
    ("PROXY_MEMORY", "256m", "Profile `scaled`: memory limit of the proxy."),
    ("EMBATTN_PROXY_IMAGE", "embattn-proxy:latest", "Profile `scaled`: tag of the proxy image."),
    ("PROXY_BASE_IMAGE", "python:3.11-slim", "Profile `scaled`: base of the proxy image (needs python3)."),
]


def services() -> dict[str, Any]:
    """``{"EMBEDDINGS_": Settings, "ATTENTION_": Settings}``: each catalog service's settings class."""
    return {spec.env_prefix: spec.settings_class() for spec in SERVICES.values()}


def fmt(value: Any) -> str:
    """A default as it is written in an environment variable."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def settings_defaults() -> dict[str, tuple[str, str]]:
    """``{"EMBEDDINGS_PORT": ("8001", "TCP port."), …}`` for every field of every service."""
    out = {}
    for prefix, cls in services().items():
        for name, field in cls.model_fields.items():
            out[prefix + name.upper()] = (fmt(field.default), field.description or "")
    return out


def _fields(prefix: str) -> list[tuple[str, str, str, str]]:
    """(variable, suffix, default, description) of one service."""
    return [
        (var, var[len(prefix) :], default, description)
        for var, (default, description) in settings_defaults().items()
        if var.startswith(prefix)
    ]


# ------------------------------------------------------------------------------------------ renderers


def _either(words: list[str]) -> str:
    """``a``, ``a or b``, ``a, b or c``."""
    return " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 2 else words)


def readme_table() -> str:
    prefixes = _either([f"`{p}`" for p in PREFIXES])
    rows = [
        "## Every setting",
        "",
        f"Each service reads its settings from the environment (prefix {prefixes}); "
        "`python -m service` options override them. Generated from the Settings classes by "
        "`deploy/settings_sync.py`.",
        "",
        "| variable | default | in the container | meaning |",
        "|---|---|---|---|",
    ]
    for prefix in PREFIXES:
        for var, suffix, default, description in _fields(prefix):
            shown = f"`{default}`" if default else "(unset)"
            rows.append(f"| `{var}` | {shown} | {CONTAINER.get(suffix, '')} | {description} |")
    rows += [
        "",
        "`docker-compose.yml` also reads these (see `.env.example`):",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
    ]
    for var, default, description in COMPOSE_VARS:
        shown = f"`{default}`" if default else "(unset)"
        rows.append(f"| `{var}` | {shown} | {description} |")
    return "\n".join(rows)


def compose_env(prefix: str) -> str:
    lines = []
    for var, suffix, default, _ in _fields(prefix):
        if suffix in FIXED:
            value = FIXED[suffix]
        elif suffix == "API_TOKEN":
            value = f"${{{var}:?set {var} in .env (see .env.example)}}"
        elif suffix == "THREADS":
            value = f"${{{var}:-}}"  # empty: the entrypoint matches the CPU limit
        else:
            value = f"${{{var}:-{default}}}"
        lines.append(f"{var}: {value}")
    return "\n".join(lines)


def env_example(prefix: str) -> str:
    lines = []
    for var, suffix, default, description in _fields(prefix):
        if suffix in FIXED:
            continue
        if suffix == "API_TOKEN":
            description += " REQUIRED by docker-compose.yml: long and random."
            default = f"change-me-{prefix.lower().rstrip('_')}-token"
        elif suffix == "THREADS":
            description += " Empty: the container's CPU limit."
            default = ""
        lines += [f"# {description}", f"{var}={default}"]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ sections

Section = tuple[str, str, str, Callable[[], str]]  # file, begin marker, end marker, renderer


def sections() -> list[Section]:
    out: list[Section] = [
        ("docs/configuration.md", "<!-- BEGIN configuration -->", "<!-- END configuration -->", readme_table)
    ]
    for prefix in PREFIXES:
        out.append(
            (
                "docker-compose.yml",
                f"# BEGIN settings {prefix}",
                f"# END settings {prefix}",
                lambda p=prefix: compose_env(p),
            )
        )
        out.append(
            (
                ".env.example",
                f"# BEGIN settings {prefix}",
                f"# END settings {prefix}",
                lambda p=prefix: env_example(p),
            )
        )
    return out


def render(text: str, begin: str, end: str, body: str) -> str:
    """``text`` with the lines between the ``begin`` and ``end`` marker lines replaced by ``body``
    (indented like the begin marker)."""
    pattern = re.compile(
        rf"^([ \t]*){re.escape(begin)}[^\n]*\n.*?^[ \t]*{re.escape(end)}[^\n]*$", re.S | re.M
    )
    match = pattern.search(text)
    if not match:
        raise ValueError(f"no {begin!r} … {end!r} section")
    indent = match.group(1)
    first = match.group(0).split("\n", 1)[0]
    last = match.group(0).rsplit("\n", 1)[1]
    inner = "\n".join(indent + line if line else line for line in body.split("\n"))
    return text[: match.start()] + f"{first}\n{inner}\n{last}" + text[match.end() :]


def stale() -> list[str]:
    """The generated sections that differ from what the Settings say."""
    out = []
    for file, begin, end, renderer in sections():
        text = (ROOT / file).read_text()
        if render(text, begin, end, renderer()) != text:
            out.append(f"{file}: {begin}")
    return out


def write() -> None:
    for file, begin, end, renderer in sections():
        path = ROOT / file
        text = path.read_text()
        new = render(text, begin, end, renderer())
        if new != text:
            path.write_text(new)


def main(argv: list[str]) -> int:
    if "--write" in argv:
        write()
    todo = stale()
    for item in todo:
        print(f"stale: {item} (run .venv/bin/python deploy/settings_sync.py --write)")
    return 1 if todo else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
