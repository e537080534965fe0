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
  matches the installed Ray (major.minor) and is recent enough for KubeRay's HTTP probes;
* the Ray cluster is closed: the RayService asks for Ray token authentication (``authOptions``
  mode ``token``, no container overriding KubeRay's ``RAY_AUTH_*``), and networkpolicy.yaml
  (validated strictly with ``kubernetes_validate``) admits, to the pods as KubeRay labels them, the
  head's ports from the cluster's own pods and the operator (dashboard) only, the workers' Serve
  port from the ingress controller, and any other port from the cluster's pods only. Broken
  variants (auth removed, a policy that admits everyone...) fail.

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
NETWORK_POLICIES = list(yaml.load_all((KUBERAY / "networkpolicy.yaml").read_text(), Loader=_Loader))


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


# ----------------------------------------------- a closed cluster: Ray token auth and NetworkPolicy

#: Ray's token authentication needs Ray >= 2.52 (KubeRay refuses ``authOptions`` below it).
MIN_RAY_FOR_TOKEN_AUTH = (2, 52)
#: Environment variables KubeRay sets for ``authOptions``; a container's own value would win.
RAY_AUTH_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
#: The peer "the cluster's own pods": KubeRay's label of a Ray pod and the templates' own label.
CLUSTER_PEER = {
    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "embattn", "ray.io/is-ray-node": "yes"}}
}
#: The operator's pods, as the kuberay-operator Helm chart labels them.
OPERATOR_LABELS = {"app.kubernetes.io/name": "kuberay-operator"}
#: The head's Ray ports (by the container's port names) and Serve's.
HEAD_PORTS = {"gcs-server": 6379, "dashboard": 8265, "client": 10001}
SERVE_PORT = 8000
#: Ports no one but the cluster's pods may reach: the dashboard agent, metrics, a worker's port...
OTHER_PORTS = (52365, 8080, 10002, 44217, 6379, 8265, 10001)


def _auth_problems(doc) -> list[str]:
    cluster = doc["spec"]["rayClusterConfig"]
    auth = cluster.get("authOptions") or {}
    problems = []
    if auth.get("mode") != "token":
        problems.append(f"authOptions.mode is {auth.get('mode')!r}, not 'token'")
    if auth.get("enableK8sTokenAuth"):
        problems.append("authOptions.enableK8sTokenAuth: KubeRay 1.7 refuses it for a RayService")
    if tuple(int(p) for p in cluster["rayVersion"].split(".")[:2]) < MIN_RAY_FOR_TOKEN_AUTH:
        problems.append(f"rayVersion {cluster['rayVersion']} has no token authentication")
    for name, group in _groups(doc):
        pod = group["template"]["spec"]
        for container in pod.get("initContainers", []) + pod["containers"]:
            for env in container.get("env", []):
                if env["name"] in RAY_AUTH_ENV:
                    problems.append(f"{name}/{container['name']} sets {env['name']}: KubeRay would keep it")
    return problems


def _pod_labels(doc, name: str, group: dict) -> dict[str, str]:
    """The labels KubeRay 1.7 gives a pod of ``group`` (common/pod.go, labelPod): its own, then the
    template's, which override all but ray.io/node-type, ray.io/group and ray.io/cluster."""
    head = name == "head"
    labels = {
        "ray.io/is-ray-node": "yes",
        "ray.io/cluster": f"{doc['metadata']['name']}-x7k2p",  # a RayService's RayCluster: <name>-<5 random>
        "ray.io/node-type": "head" if head else "worker",
        "ray.io/group": "headgroup" if head else name,
        "app.kubernetes.io/name": "kuberay",
        "app.kubernetes.io/created-by": "kuberay-operator",
    }
    for key, value in group["template"].get("metadata", {}).get("labels", {}).items():
        if key not in ("ray.io/node-type", "ray.io/group", "ray.io/cluster"):
            labels[key] = value
    return labels


def _selects(selector: dict, labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"only matchLabels is checked here: {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _role(peer: dict) -> str:
    """What a ``from`` entry admits: ``cluster``, ``operator``, ``ingress`` or ``other: ...``."""
    if peer == CLUSTER_PEER:
        return "cluster"
    namespace = peer.get("namespaceSelector", {}).get("matchLabels", {})
    names_one = set(peer) <= {"namespaceSelector", "podSelector"} and list(namespace) == [
        "kubernetes.io/metadata.name"
    ]  # one namespace, by its name
    pods = peer.get("podSelector")
    if names_one and pods == {"matchLabels": OPERATOR_LABELS}:
        return "operator"
    if (
        names_one
        and set(peer["namespaceSelector"]) == {"matchLabels"}
        and (pods is None or pods.get("matchLabels"))
    ):
        return "ingress"
    return f"other: {peer}"


def _port_in(rule_port: dict, port: int, ports: dict[str, int]) -> bool:
    """Whether a rule's port entry (a number or a container port's name, maybe a range) has ``port``."""
    if rule_port.get("protocol", "TCP") != "TCP":
        return False
    if "port" not in rule_port:  # every port
        return True
    first = ports.get(rule_port["port"]) if isinstance(rule_port["port"], str) else rule_port["port"]
    return first is not None and first <= port <= rule_port.get("endPort", first)


def _admitted(policies, labels: dict[str, str], ports: dict[str, int], port: int) -> set[str] | None:
    """The roles of the peers admitted to ``port`` of a pod with ``labels`` and container ``ports``
    (by name); None when no policy isolates the pod's ingress (then everyone is admitted)."""
    isolating = [
        p["spec"]
        for p in policies
        if "Ingress" in p["spec"].get("policyTypes", []) and _selects(p["spec"]["podSelector"], labels)
    ]
    if not isolating:
        return None
    roles = set()
    for spec in isolating:
        for rule in spec.get("ingress", []):
            if rule.get("ports") and not any(_port_in(p, port, ports) for p in rule["ports"]):
                continue
            sources = rule.get("from") or [None]  # no `from`: every source
            roles |= {"everyone" if peer is None else _role(peer) for peer in sources}
    return roles


def _policy_problems(doc, policies) -> list[str]:
    problems = []
    if not doc["spec"].get("excludeHeadPodFromServeSvc"):
        problems.append("the head is a Serve endpoint: the operator and the ingress would need its port 8000")
    for name, group in _groups(doc):
        labels = _pod_labels(doc, name, group)
        ports = {p["name"]: p["containerPort"] for p in _ray_container(group).get("ports", [])}
        expected = {port: {"cluster"} for port in OTHER_PORTS}
        if name == "head":
            expected |= {port: {"cluster"} for port in HEAD_PORTS.values()}
            expected[HEAD_PORTS["dashboard"]] = {"cluster", "operator"}
            expected[SERVE_PORT] = {"cluster"}
        else:
            expected[SERVE_PORT] = {"cluster", "ingress"}
        for port, roles in sorted(expected.items()):
            got = _admitted(policies, labels, ports, port)
            if got is None:
                problems.append(f"{name}: no NetworkPolicy isolates the pod: port {port} is open to everyone")
                break
            if got != roles:
                problems.append(f"{name}: port {port} admits {sorted(got)}, expected {sorted(roles)}")
    return problems


def test_the_cluster_wants_a_ray_token():
    """authOptions mode token: KubeRay generates the token and sets RAY_AUTH_MODE / RAY_AUTH_TOKEN
    in every Ray container (init containers included), unless a container sets them itself."""
    assert RAYSERVICE["spec"]["rayClusterConfig"]["authOptions"] == {"mode": "token"}
    assert _auth_problems(RAYSERVICE) == []
    # the dashboard listens on the pod's address (KubeRay reaches it through the head Service):
    # the token and the NetworkPolicy close it
    assert _head()["rayStartParams"]["dashboard-host"] == "0.0.0.0"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["spec"]["rayClusterConfig"].pop("authOptions"), "not 'token'"),
        (lambda d: d["spec"]["rayClusterConfig"].update(authOptions={"mode": "disabled"}), "not 'token'"),
        (lambda d: d["spec"]["rayClusterConfig"].update(rayVersion="2.51.0"), "no token authentication"),
        (
            lambda d: _ray_container(_head(d))["env"].append({"name": "RAY_AUTH_MODE", "value": "disabled"}),
            "sets RAY_AUTH_MODE",
        ),
        (
            lambda d: d["spec"]["rayClusterConfig"]["authOptions"].update(enableK8sTokenAuth=True),
            "enableK8sTokenAuth",
        ),
    ],
    ids=["auth-removed", "auth-disabled", "ray-too-old", "container-overrides-the-mode", "k8s-token-auth"],
)
def test_auth_check_catches_an_open_cluster(mutate, expected):
    doc = copy.deepcopy(RAYSERVICE)
    mutate(doc)
    problems = _auth_problems(doc)
    assert any(expected in p for p in problems), problems


def test_auth_options_validate_against_the_crd(validator):
    doc = copy.deepcopy(RAYSERVICE)
    doc["spec"]["rayClusterConfig"]["authOptions"]["mode"] = "Token"
    assert any("is not one of ['disabled', 'token']" in e for e in _errors(validator, doc))
    doc["spec"]["rayClusterConfig"]["authOptions"] = {"mode": "token", "secret": "x"}
    assert any("'secret' was unexpected" in e for e in _errors(validator, doc))


def test_network_policies_validate_as_kubernetes_objects():
    assert [p["kind"] for p in NETWORK_POLICIES] == ["NetworkPolicy", "NetworkPolicy"]
    for policy in NETWORK_POLICIES:
        kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
        assert "namespace" not in policy["metadata"]  # applied in the RayService's namespace
    bad = copy.deepcopy(NETWORK_POLICIES[0])
    bad["spec"]["ingress"][0]["form"] = bad["spec"]["ingress"][0].pop("from")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, K8S_VERSION, strict=True)


def test_network_policies_admit_only_the_cluster_the_operator_and_the_ingress():
    """Head: 6379/8265/10001 from the cluster's pods, 8265 also from the operator; workers: 8000
    from the ingress controller too; any other port of either, and the head's 8000, from the
    cluster's pods only; every Ray pod is isolated (selected by a policy, as KubeRay labels it)."""
    assert _policy_problems(RAYSERVICE, NETWORK_POLICIES) == []


def _rule(policy: int, rule: int):
    return lambda ps: ps[policy]["spec"]["ingress"][rule]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda ps: _rule(0, 1)(ps).pop("from"), "admits ['cluster', 'everyone']"),
        (
            lambda ps: _rule(0, 1)(ps)["from"].append({"namespaceSelector": {}}),
            "other: {'namespaceSelector': {}}",
        ),
        (lambda ps: _rule(0, 0)(ps)["from"].append({"podSelector": {}}), "other: {'podSelector': {}}"),
        (lambda ps: ps[0]["spec"]["ingress"].append({}), "'everyone'"),
        (lambda ps: _rule(0, 1)(ps).pop("ports"), "head: port 6379 admits ['cluster', 'operator']"),
        (lambda ps: _rule(1, 1)(ps).pop("ports"), "port 52365 admits ['cluster', 'ingress']"),
        (lambda ps: _rule(0, 1)(ps)["from"][0].pop("namespaceSelector"), "other:"),
        (
            lambda ps: ps[0]["spec"]["podSelector"]["matchLabels"].update({"ray.io/cluster": "embattn"}),
            "head: no",
        ),
        (lambda ps: ps[0]["spec"].update(policyTypes=["Egress"]), "head: no NetworkPolicy isolates"),
        (lambda ps: ps.pop(1), "cpu: no NetworkPolicy isolates"),
        (
            lambda ps: ps[1]["spec"]["ingress"][1]["ports"][0].update(port=8001),
            "port 8000 admits ['cluster']",
        ),
        (lambda ps: ps[0]["spec"]["ingress"].append(_rule(1, 1)(ps)), "head: port 8000 admits"),
    ],
    ids=[
        "operator-rule-from-anyone",
        "every-namespace",
        "every-pod-of-the-namespace",
        "empty-rule",
        "operator-on-every-port",
        "ingress-on-every-port",
        "operator-pods-in-any-namespace",
        "head-selector-by-ray-io-cluster",
        "head-not-isolated",
        "workers-without-policy",
        "serve-port-closed",
        "ingress-to-the-head",
    ],
)
def test_policy_check_catches_an_open_policy(mutate, expected):
    policies = copy.deepcopy(NETWORK_POLICIES)
    mutate(policies)
    problems = _policy_problems(RAYSERVICE, policies)
    assert any(expected in p for p in problems), problems


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
