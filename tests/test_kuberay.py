"""The KubeRay deployment (deploy/kuberay/), checked without a cluster (fast; part of `make test`).

* pvc.yaml (and the RayService's metadata) validate with ``kubernetes_validate`` (strict);
* rayservice.yaml validates against the ``ray.io/v1`` ``openAPIV3Schema`` of KubeRay v1.7.0's CRD
  (vendored in deploy/kuberay/schema/) in a strict mode like ``kubectl apply --validate=strict``:
  unknown fields are errors (an object listing ``properties`` accepts no other key unless it has
  ``additionalProperties`` or ``x-kubernetes-preserve-unknown-fields``), ``x-kubernetes-int-or-
  string``, ``nullable`` and the uniqueness of ``x-kubernetes-list-type`` map/set lists are
  checked; a field with CEL rules (``x-kubernetes-validations``) is refused, since they cannot be
  evaluated here. Mutated copies show the check can fail;
* ``serveConfigV2`` and deploy/serve/serve.yaml validate with Ray's own ``ServeDeploySchema``
  (and name no field that schema would silently ignore), agree on everything but ``data_dir``, and
  every ``import_path`` builds its Serve application, with the deployments the config names;
* the pods mount the PVC of pvc.yaml at /data, take the API tokens from the Secret, run as the
  image's user, expose the Serve port, and need no ``wget`` for their probes; ``rayVersion``
  matches the installed Ray (major.minor) and is recent enough for KubeRay's HTTP probes.

The Ray parts skip without the ``ray`` extra (``pip install -e '.[ray]'``).
"""

from __future__ import annotations

import copy
import gzip
import importlib.metadata
import re
import typing
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERAY = ROOT / "deploy" / "kuberay"
CRD = KUBERAY / "schema" / "ray.io_rayservices.v1.7.0.yaml.gz"
SERVE_YAML = ROOT / "deploy" / "serve" / "serve.yaml"
#: A Kubernetes version kubernetes_validate ships schemas of (it has 1.25 to 1.37).
K8S_VERSION = "1.33.0"
#: KubeRay 1.7 probes a Ray >= 2.53 node over HTTP; older ones with `bash -c "wget ..."`.
MIN_RAY_FOR_HTTP_PROBES = (2, 53)
DATA_MOUNT = "/data"
TOKEN_SECRET = "embattn-tokens"
TOKENS = ("EMBEDDINGS_API_TOKEN", "ATTENTION_API_TOKEN")

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_Loader)


RAYSERVICE = _load(KUBERAY / "rayservice.yaml")
PVC = _load(KUBERAY / "pvc.yaml")


def _crd_schema() -> dict:
    crd = yaml.load(gzip.decompress(CRD.read_bytes()), Loader=_Loader)
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert version["served"] and version["storage"]
    assert crd["spec"]["names"]["kind"] == "RayService" and crd["spec"]["group"] == "ray.io"
    return version["schema"]["openAPIV3Schema"]


# ------------------------------------------------------------------------- strict schema validation


def _strict(node, root: bool = True):
    """The structural schema with unknown fields forbidden (kubectl's --validate=strict): every
    object that lists no ``additionalProperties`` and does not preserve unknown fields gets
    ``additionalProperties: false``; ``nullable`` becomes a ``null`` type. The root ``metadata`` (an
    ObjectMeta the API server checks itself) is left open: see test_rayservice_metadata."""
    if isinstance(node, list):
        return [_strict(n, root=False) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {
                name: ({} if root and name == "metadata" else _strict(sub, root=False))
                for name, sub in value.items()
            }
        elif key in ("items", "additionalProperties", "anyOf", "allOf", "oneOf", "not"):
            out[key] = _strict(value, root=False)
        else:
            out[key] = value
    is_object = out.get("type") == "object" or "properties" in out
    if (
        is_object
        and "additionalProperties" not in out
        and not out.get("x-kubernetes-preserve-unknown-fields")
    ):
        out["additionalProperties"] = False
    if out.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def _int_or_string(validator, value, instance, schema):
    if value and (isinstance(instance, bool) or not isinstance(instance, int | str)):
        yield jsonschema.ValidationError(f"{instance!r} is neither an integer nor a string (int-or-string)")


def _list_type(validator, value, instance, schema):
    if not isinstance(instance, list):
        return
    if value == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen = [tuple(item.get(k) for k in keys) for item in instance if isinstance(item, dict)]
    elif value == "set":
        seen = [yaml.safe_dump(item, sort_keys=True) for item in instance]
    else:
        return
    duplicates = {s for s in seen if seen.count(s) > 1}
    if duplicates:
        yield jsonschema.ValidationError(
            f"duplicate entries {sorted(map(str, duplicates))} in a list-type {value}"
        )


def _cel(validator, value, instance, schema):
    rules = "; ".join(rule["rule"] for rule in value)
    yield jsonschema.ValidationError(f"field has CEL rules not checked offline ({rules}): leave it unset")


StrictValidator = jsonschema.validators.extend(
    jsonschema.Draft7Validator,
    {
        "x-kubernetes-int-or-string": _int_or_string,
        "x-kubernetes-list-type": _list_type,
        "x-kubernetes-validations": _cel,
    },
)


@pytest.fixture(scope="module")
def validator():
    schema = _strict(_crd_schema())
    StrictValidator.check_schema(schema)
    return StrictValidator(schema)


def _errors(validator, doc) -> list[str]:
    return sorted(
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)
    )


def _head(doc=RAYSERVICE) -> dict:
    return doc["spec"]["rayClusterConfig"]["headGroupSpec"]


def _groups(doc=RAYSERVICE) -> list[tuple[str, dict]]:
    """(name, group spec) of the head group and every worker group."""
    workers = doc["spec"]["rayClusterConfig"].get("workerGroupSpecs", [])
    return [("head", _head(doc))] + [(g["groupName"], g) for g in workers]


def _ray_container(group: dict) -> dict:
    return group["template"]["spec"]["containers"][0]  # KubeRay: the Ray container is the first


def test_rayservice_validates_against_the_crd_strictly(validator):
    assert RAYSERVICE["apiVersion"] == "ray.io/v1" and RAYSERVICE["kind"] == "RayService"
    assert RAYSERVICE["metadata"]["name"] == "embattn"
    assert _errors(validator, RAYSERVICE) == []


def _mutate(path: str, value=None, rename: str | None = None):
    def apply(doc):
        *parents, last = path.split(".")
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if rename:
            node[rename] = node.pop(last)
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
        return doc

    return apply


CONTAINER = "spec.rayClusterConfig.headGroupSpec.template.spec.containers.0"
WORKER = "spec.rayClusterConfig.workerGroupSpecs.0"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_mutate("spec.rayClusterConfig", rename="rayClusterConfg"), "rayClusterConfg"),
        (_mutate(f"{CONTAINER}.volumeMounts", rename="volumeMount"), "volumeMount"),
        (
            _mutate(f"{WORKER}.template.spec.volumes.0.persistentVolumeClaim.claimName", rename="claimname"),
            "claimname",
        ),
        (_mutate("spec.rayClusterConfig.headGroupSpec.template.metadata.label", {}), "label"),
        (_mutate(f"{WORKER}.replicas", "2"), "'2' is not of type 'integer'"),
        (_mutate("spec.rayClusterConfig.enableInTreeAutoscaling", "yes"), "'yes' is not of type 'boolean'"),
        (_mutate(f"{CONTAINER}.resources.limits.cpu", 2.5), "2.5 is neither"),
        (_mutate(f"{WORKER}.template.spec.containers.0.readinessProbe.httpGet.port", [8000]), "neither"),
        (_mutate(f"{CONTAINER}.env.1.name", TOKENS[0]), "duplicate"),
        (_mutate("spec.managedBy", "someone"), "CEL rules"),
        (_mutate("spec.serveConfigV2", {"applications": []}), "is not of type 'string'"),
    ],
    ids=[
        "misspelt-rayClusterConfig",
        "misspelt-volumeMounts",
        "misspelt-claimName",
        "unknown-in-pod-metadata",
        "replicas-as-string",
        "bool-as-string",
        "quantity-float",
        "int-or-string-list",
        "duplicate-env",
        "cel-field",
        "serveConfigV2-as-a-map",
    ],
)
def test_strict_validation_catches_mistakes(validator, mutate, expected):
    errors = _errors(validator, mutate(copy.deepcopy(RAYSERVICE)))
    assert any(expected in e for e in errors), errors


def test_rayservice_metadata_and_pvc_validate_as_kubernetes_objects():
    # the PVC, strictly, against the Kubernetes schemas kubernetes_validate ships
    kubernetes_validate.validate(PVC, K8S_VERSION, strict=True)
    # the RayService's metadata is an ObjectMeta: checked as that of a ConfigMap
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": RAYSERVICE["metadata"]},
        K8S_VERSION,
        strict=True,
    )
    # and kubernetes_validate does fail on what it should
    bad = copy.deepcopy(PVC)
    bad["spec"]["accessMode"] = bad["spec"].pop("accessModes")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)
    name = RAYSERVICE["metadata"]["name"]
    assert re.fullmatch(r"[a-z]([-a-z0-9]*[a-z0-9])?", name) and len(name) <= 47  # KubeRay's limits


def test_pvc_is_read_write_many_with_a_size():
    assert PVC["kind"] == "PersistentVolumeClaim" and PVC["metadata"]["name"] == "embattn-data"
    assert PVC["spec"]["accessModes"] == ["ReadWriteMany"]
    assert re.fullmatch(r"\d+[GT]i", PVC["spec"]["resources"]["requests"]["storage"])


def test_deprecated_fields_are_unset():
    # still in the v1.7.0 CRD, but unused since KubeRay 1.1 (ray-project/kuberay#1685)
    for field in ("serviceUnhealthySecondThreshold", "deploymentUnhealthySecondThreshold"):
        assert field not in RAYSERVICE["spec"]


# ------------------------------------------------------------------------------ pods and volumes


@pytest.mark.parametrize(("name", "group"), _groups(), ids=[n for n, _ in _groups()])
def test_every_pod_mounts_the_pvc_at_data(name, group):
    pod = group["template"]["spec"]
    claims = {
        v["name"]: v["persistentVolumeClaim"]["claimName"]
        for v in pod["volumes"]
        if "persistentVolumeClaim" in v
    }
    mounts = [m for m in _ray_container(group).get("volumeMounts", []) if m["mountPath"] == DATA_MOUNT]
    assert len(mounts) == 1, mounts
    assert claims.get(mounts[0]["name"]) == PVC["metadata"]["name"]
    assert not mounts[0].get("readOnly") and not mounts[0].get("subPath")
    security = pod["securityContext"]
    uid = int(re.search(r"^ARG UID=(\d+)$", (ROOT / "Dockerfile").read_text(), re.M).group(1))
    assert security["runAsUser"] == uid and security["runAsNonRoot"] is True
    assert security["fsGroup"] == security["runAsGroup"] == uid


@pytest.mark.parametrize(("name", "group"), _groups(), ids=[n for n, _ in _groups()])
def test_tokens_come_from_the_secret(name, group):
    for container in group["template"]["spec"]["containers"]:
        env = {e["name"]: e for e in container.get("env", [])}
        for token in TOKENS:
            assert "value" not in env[token]
            assert env[token]["valueFrom"]["secretKeyRef"] == {"name": TOKEN_SECRET, "key": token}
        literal = [n for n, e in env.items() if "value" in e and re.search("TOKEN|SECRET|PASSWORD|KEY", n)]
        assert literal == []


def test_no_token_in_any_serve_config():
    for config in (yaml.safe_load(RAYSERVICE["spec"]["serveConfigV2"]), _load(SERVE_YAML)):
        for app in config["applications"]:
            assert "api_token" not in app["args"].get("settings", {})
            env_vars = app.get("runtime_env", {}).get("env_vars", {})
            assert not [k for k in env_vars if k.endswith("API_TOKEN")]


def test_image_and_ports():
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    serve_port = yaml.safe_load(RAYSERVICE["spec"]["serveConfigV2"])["http_options"]["port"]
    for _, group in _groups():
        container = _ray_container(group)
        assert container["image"] == f"embattn:{version}-ray"
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        assert ports["serve"] == serve_port  # KubeRay builds the serve Services from the port named "serve"
    head_ports = {p["name"]: p["containerPort"] for p in _ray_container(_head())["ports"]}
    # KubeRay takes the head Service's ports from this list alone; it reaches the dashboard by name
    assert {"gcs-server": 6379, "dashboard": 8265, "client": 10001}.items() <= head_ports.items()


@pytest.mark.parametrize(("name", "group"), _groups()[1:], ids=[n for n, _ in _groups()[1:]])
def test_worker_readiness_probe_needs_no_wget(name, group):
    """KubeRay 1.7 keeps a probe the template sets; for a RayService worker it would otherwise inject
    `bash -c "wget ... | grep success"`, and python:3.11-slim has no wget."""
    container = _ray_container(group)
    probe = container["readinessProbe"]
    assert probe["httpGet"]["path"] == "/-/healthz"  # Ray Serve's proxy health route
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert probe["httpGet"]["port"] in ("serve", ports["serve"])
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert "wget" not in yaml.safe_dump(container.get(kind, {}))


def test_one_cluster_at_a_time_and_one_writer():
    # NewCluster upgrades would run two writers on one volume; see the comment in rayservice.yaml
    assert RAYSERVICE["spec"]["upgradeStrategy"]["type"] == "None"
    for config in (yaml.safe_load(RAYSERVICE["spec"]["serveConfigV2"]), _load(SERVE_YAML)):
        for app in config["applications"]:
            writer = [d for d in app["deployments"] if d["name"] == "writer"]
            assert [d.get("num_replicas") for d in writer] == [1]
            assert "autoscaling_config" not in writer[0]


# ------------------------------------------------------------------------------------- Ray Serve


def _ray_version() -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in importlib.metadata.version("ray").split(".")[:3])
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("ray is not installed (pip install -e '.[ray]')")


def test_ray_version_matches_the_installed_ray():
    """Same major.minor as the Ray the suite runs with (patch releases change nothing KubeRay
    keys on), and at least 2.53.0, where KubeRay's probes are plain HTTP GETs."""
    declared = tuple(int(p) for p in RAYSERVICE["spec"]["rayClusterConfig"]["rayVersion"].split("."))
    assert len(declared) == 3
    assert declared[:2] == _ray_version()[:2], (declared, _ray_version())
    assert declared[:2] >= MIN_RAY_FOR_HTTP_PROBES


def _configs() -> dict[str, dict]:
    return {
        "serveConfigV2": yaml.safe_load(RAYSERVICE["spec"]["serveConfigV2"]),
        "serve.yaml": _load(SERVE_YAML),
    }


def _unknown_keys(annotation, value, path: str = "") -> list[str]:
    """Keys of ``value`` that the pydantic model of ``annotation`` has no field for (Ray's Serve
    schemas ignore them silently: a misspelt ``num_replica`` would just be dropped)."""
    from pydantic import BaseModel

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (list, typing.List) and isinstance(value, list):  # noqa: UP006
        return [u for i, v in enumerate(value) for u in _unknown_keys(args[0], v, f"{path}[{i}]")]
    if origin is typing.Union or (origin is not None and type(annotation).__name__ == "UnionType"):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return _unknown_keys(models[0], value, path) if len(models) == 1 else []
    if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(value, dict):
        fields = annotation.model_fields
        names = {f.alias or n for n, f in fields.items()} | set(fields)
        out = [f"{path}.{k}".lstrip(".") for k in value if k not in names]
        for name, field in fields.items():
            if name in value:
                out += _unknown_keys(field.annotation, value[name], f"{path}.{name}")
        return out
    return []


@pytest.mark.parametrize("name", ["serveConfigV2", "serve.yaml"])
def test_serve_config_validates_with_rays_schema(name):
    schema = pytest.importorskip("ray.serve.schema")
    config = _configs()[name]
    validate = getattr(schema.ServeDeploySchema, "model_validate", None) or schema.ServeDeploySchema.parse_obj
    parsed = validate(config)
    assert [app.name for app in parsed.applications] == ["embeddings", "attention"]
    assert _unknown_keys(schema.ServeDeploySchema, config) == []
    # the strict check does catch a misspelt field
    bad = copy.deepcopy(config)
    bad["applications"][0]["deployments"][0]["num_replica"] = 2
    assert _unknown_keys(schema.ServeDeploySchema, bad) == ["applications[0].deployments[0].num_replica"]


def test_serve_configs_agree_but_on_the_data_dir():
    configs = _configs()
    kuberay, local = copy.deepcopy(configs["serveConfigV2"]), copy.deepcopy(configs["serve.yaml"])
    for app in kuberay["applications"]:
        assert app["args"]["settings"].pop("data_dir") == DATA_MOUNT  # the PVC's mount
    for app in local["applications"]:
        app["args"]["settings"].pop("data_dir")
    assert kuberay == local
    summary = [
        (
            a["name"],
            a["route_prefix"],
            a["import_path"],
            a["args"]["service"],
            [d["name"] for d in a["deployments"]],
        )
        for a in local["applications"]
    ]
    assert summary == [
        ("embeddings", "/embeddings", "service.kit.serve:app_builder", "embeddings", ["query", "writer"]),
        ("attention", "/attention", "service.kit.serve:app_builder", "attention", ["query", "writer"]),
    ]


@pytest.mark.parametrize("name", ["serveConfigV2", "serve.yaml"])
def test_import_paths_build_serve_applications(name):
    """What `serve deploy` does with each application: import the path, call the builder with the
    args, build the deployment graph (no cluster: binding starts nothing)."""
    pytest.importorskip("ray")
    from ray._common.utils import import_attr
    from ray.serve import Application
    from ray.serve._private.api import call_user_app_builder_with_args_if_necessary
    from ray.serve._private.build_app import build_app

    for app_config in _configs()[name]["applications"]:
        builder = import_attr(app_config["import_path"])
        app = call_user_app_builder_with_args_if_necessary(builder, app_config.get("args", {}))
        assert isinstance(app, Application)
        built = build_app(app, name=app_config["name"], route_prefix=app_config["route_prefix"])
        assert built.ingress_deployment_name == "query"
        # Serve refuses a config that overrides a deployment the application does not have
        assert {d["name"] for d in app_config["deployments"]} <= {d.name for d in built.deployments}
