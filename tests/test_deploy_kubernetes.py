"""deploy/kubernetes, checked without a cluster: kustomization.yaml is built the way
`kubectl apply -k` builds it (for the fields it uses), every object passes the Kubernetes
API schema (kubernetes-validate, strict: unknown fields are errors), and what matters to
Signalbox holds — probes on our endpoints, non-root and read-only, routes.yaml mounted as
a directory so a ConfigMap edit hot-reloads, every variable it reads set, the PDB and the
Service selecting the Deployment's pods, a grace period longer than the shutdown."""

from __future__ import annotations

import base64
import math
import re
import shutil
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from app.routing.config import ConfigInvalid, load_config
from app.settings import Settings
from service import serve, wait_until
from test_deploy import PINNED, REFERENCE

REPO = Path(__file__).resolve().parents[1]
KUBERNETES = REPO / "deploy" / "kubernetes"
# The oldest Kubernetes the manifests are for (matchLabelKeys in topology spread is beta,
# on by default, from 1.27; unhealthyPodEvictionPolicy from 1.27) and the newest schema
# kubernetes-validate ships.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
# What the build below understands; a kustomization using anything else fails the test
# rather than being built wrong.
KUSTOMIZE_FIELDS = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "images",
    "configMapGenerator",
    "secretGenerator",
}
CLUSTER_SCOPED = {"Namespace"}
# Not in `resources`: applied by hand where the Prometheus Operator's CRD exists.
OPTIONAL = {"servicemonitor.yaml"}
# uvicorn reads it from the environment (trusted proxies); not a Signalbox setting.
UVICORN_SETTINGS = {"FORWARDED_ALLOW_IPS"}


def kustomization() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text("utf-8"))
    return doc


def env_file(path: Path) -> dict[str, str]:
    """KEY=value lines as kustomize's `envs` reads them (comments and blanks skipped)."""
    pairs = {}
    for line in path.read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value
    return pairs


def generator_source(name: str) -> Path:
    """secret.env is the operator's copy of secret.env.example, absent from the clone."""
    path = KUBERNETES / name
    return path if path.name != "secret.env" else KUBERNETES / "secret.env.example"


def generated(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, str] = {}
    for name in spec.get("files", []):
        data[PurePosixPath(name).name] = generator_source(name).read_text("utf-8")
    for name in spec.get("envs", []):
        data.update(env_file(generator_source(name)))
    doc: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": {"name": spec["name"]}}
    if kind == "Secret":
        doc["type"] = "Opaque"
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        doc["data"] = data
    return doc


def build() -> list[dict[str, Any]]:
    """The objects `kubectl apply -k deploy/kubernetes` creates, generated names unhashed."""
    spec = kustomization()
    assert set(spec) <= KUSTOMIZE_FIELDS, set(spec) - KUSTOMIZE_FIELDS
    docs = [
        doc
        for name in spec["resources"]
        for doc in yaml.safe_load_all((KUBERNETES / name).read_text("utf-8"))
    ]
    docs += [generated("ConfigMap", g) for g in spec.get("configMapGenerator", [])]
    docs += [generated("Secret", g) for g in spec.get("secretGenerator", [])]
    images = {image["name"]: image for image in spec.get("images", [])}
    for doc in docs:
        if doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = spec["namespace"]
        for container in pod_spec(doc).get("containers", []):
            if container["image"] in images:
                image = images[container["image"]]
                container["image"] = f"{image['newName']}:{image['newTag']}"
    return docs


def pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = doc.get("spec", {}).get("template", {}).get("spec", {})
    return spec


def one(kind: str, name: str | None = None) -> dict[str, Any]:
    (doc,) = [d for d in build() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


def container() -> dict[str, Any]:
    (found,) = pod_spec(one("Deployment"))["containers"]
    result: dict[str, Any] = found
    return result


def settings_env() -> dict[str, str]:
    return env_file(KUBERNETES / "settings.env")


def secret_env() -> dict[str, str]:
    return env_file(KUBERNETES / "secret.env.example")


def test_every_object_passes_the_kubernetes_schema() -> None:
    """Namespace, Deployment, Service, PodDisruptionBudget, both ConfigMaps and the Secret
    validate strictly against the API schemas of Kubernetes 1.30 and the newest one."""
    docs = build()
    kinds = sorted(d["kind"] for d in docs)
    expected = ["Namespace", "Deployment", "Service", "PodDisruptionBudget", "Secret"]
    assert kinds == sorted([*expected, "ConfigMap", "ConfigMap"])
    for version in VERSIONS:
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_refuses_a_misspelt_field() -> None:
    """The validator used above is strict: a typo in a probe is an error, not ignored."""
    deployment = one("Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSecond"] = 5
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def test_kustomization_names_every_manifest_and_file() -> None:
    """Every file in deploy/kubernetes is a resource, a generator's input, the example
    Secret, or the optional ServiceMonitor; everything kustomization.yaml names exists."""
    spec = kustomization()
    named = {"kustomization.yaml", "secret.env.example", *spec["resources"], *OPTIONAL}
    for generator in spec["configMapGenerator"] + spec["secretGenerator"]:
        named |= {*generator.get("files", []), *generator.get("envs", [])}
    present = {p.name for p in KUBERNETES.iterdir()}
    assert present - {"secret.env"} == named - {"secret.env"}
    assert "deploy/kubernetes/secret.env" in (REPO / ".gitignore").read_text("utf-8").split()


def test_probes_ask_our_health_endpoints_on_the_container_port(tmp_path: Path) -> None:
    """Liveness and start-up ask /healthz, readiness /readyz, on the named container port
    that SIGNALBOX_PORT opens; the real service answers both with 200."""
    c = container()
    (port,) = c["ports"]
    assert port["containerPort"] == int(settings_env()["SIGNALBOX_PORT"])
    probes = {kind: c[kind]["httpGet"] for kind in ("startupProbe", "livenessProbe")}
    probes["readinessProbe"] = c["readinessProbe"]["httpGet"]
    assert {k: p["path"] for k, p in probes.items()} == {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    assert {p["port"] for p in probes.values()} == {port["name"]}
    # /readyz answers within SIGNALBOX_DB_BUSY_TIMEOUT when the store stalls: wait longer.
    assert c["readinessProbe"]["timeoutSeconds"] > Settings().db_busy_timeout
    with serve(tmp_path) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200


def test_pods_run_non_root_read_only_and_without_privileges() -> None:
    """The pod runs as the image's uid 10001, non-root, seccomp RuntimeDefault; the container
    cannot escalate, has no capability, a read-only root and an emptyDir for /tmp; the
    namespace enforces the restricted Pod Security Standard."""
    spec = pod_spec(one("Deployment"))
    dockerfile = (REPO / "Dockerfile").read_text("utf-8")
    (uid,) = re.findall(r"^USER (\d+)$", dockerfile, re.M)
    assert spec["securityContext"] | {"fsGroup": None} == {
        "runAsNonRoot": True,
        "runAsUser": int(uid),
        "runAsGroup": int(uid),
        "fsGroup": None,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container()["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    mounts = {m["mountPath"]: m["name"] for m in container()["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert spec["automountServiceAccountToken"] is False
    labels = one("Namespace")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_routes_configmap_is_mounted_as_a_directory_that_updates_in_place() -> None:
    """The ConfigMap holding routes.yaml is mounted as the directory SIGNALBOX_CONFIG lives
    in, without subPath (a subPath file never changes), under a name that stays the same
    when routes.yaml changes (so an apply updates it in place rather than rolling pods)."""
    config = PurePosixPath(settings_env()["SIGNALBOX_CONFIG"])
    (routes_mount,) = [m for m in container()["volumeMounts"] if m["name"] == "routes"]
    assert routes_mount == {"name": "routes", "mountPath": str(config.parent), "readOnly": True}
    volumes = {v["name"]: v for v in pod_spec(one("Deployment"))["volumes"]}
    assert "items" not in volumes["routes"]["configMap"]
    routes = one("ConfigMap", volumes["routes"]["configMap"]["name"])
    assert set(routes["data"]) == {config.name}
    (generator,) = [
        g for g in kustomization()["configMapGenerator"] if g["name"] == routes["metadata"]["name"]
    ]
    assert generator["options"] == {"disableNameSuffixHash": True}
    assert not any("subPath" in m or "subPathExpr" in m for m in container()["volumeMounts"])


def test_routes_yaml_loads_with_the_secret_and_refuses_to_start_without_it() -> None:
    """The ConfigMap's routes.yaml loads with the example Secret's values; without a
    source's secret it is refused, so no replica takes unauthenticated webhooks."""
    path = KUBERNETES / "routes.yaml"
    config = load_config(path, secret_env())
    assert {"github", "gitlab", "jenkins", "alertmanager"} <= set(config.sources)
    without = {k: v for k, v in secret_env().items() if k != "GITHUB_WEBHOOK_SECRET"}
    with pytest.raises(ConfigInvalid, match="GITHUB_WEBHOOK_SECRET"):
        load_config(path, without)


def test_every_variable_the_pods_read_is_defined() -> None:
    """Every ${VAR} routes.yaml reads, and every key the Deployment names, is in the Secret
    or the settings ConfigMap; every SIGNALBOX_* there is a real setting (a typo would be
    ignored silently); envFrom names the generated ConfigMap and Secret."""
    secret, settings = secret_env(), settings_env()
    assert not set(secret) & set(settings)
    text = (KUBERNETES / "routes.yaml").read_text("utf-8")
    read = set(REFERENCE.findall(re.sub(r"#.*", "", text)))
    assert read and read <= set(secret), read - set(secret)
    c = container()
    sources = {
        next(iter(ref.values()))["name"]: next(iter(ref))
        for ref in ({k: v for k, v in s.items() if k.endswith("Ref")} for s in c["envFrom"])
    }
    generators = kustomization()
    assert sources == {
        generators["configMapGenerator"][1]["name"]: "configMapRef",
        generators["secretGenerator"][0]["name"]: "secretRef",
    }
    for variable in c["env"]:
        ref = variable["valueFrom"]["secretKeyRef"]
        assert ref["name"] in sources and ref["key"] in secret
        assert ref.get("optional", False) is False
    assert "SIGNALBOX_DATABASE_URL" in {v["name"] for v in c["env"]}
    known = {f"SIGNALBOX_{name.upper()}" for name in Settings.model_fields}
    known |= {"SIGNALBOX_DATABASE_URL"}  # the PostgreSQL store's setting
    for name in (*settings, *secret):
        if name.startswith("SIGNALBOX_"):
            assert name in known, name
        else:
            assert name in read | UVICORN_SETTINGS, name


def test_service_links_are_off_because_they_would_break_the_port_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Service named signalbox makes Kubernetes set SIGNALBOX_PORT=tcp://…:80 in every
    pod of the namespace, which Signalbox cannot start with; the pods turn service links
    off."""
    assert one("Service")["metadata"]["name"] == "signalbox"
    monkeypatch.setenv("SIGNALBOX_PORT", "tcp://10.96.0.12:80")
    with pytest.raises(ValidationError, match="port"):
        Settings()
    assert pod_spec(one("Deployment"))["enableServiceLinks"] is False


def test_pdb_and_service_select_the_deployments_pods() -> None:
    """The PDB and the Service select exactly the pods the Deployment makes (and nothing it
    does not), and the PDB lets a drain evict one of the replicas at a time."""
    deployment, pdb, service = one("Deployment"), one("PodDisruptionBudget"), one("Service")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == container()["ports"][0]["name"]
    replicas = deployment["spec"]["replicas"]
    assert replicas >= 2
    assert 1 <= pdb["spec"]["minAvailable"] < replicas


def test_replicas_spread_over_nodes_and_roll_without_losing_intake() -> None:
    """Topology spread puts replicas on different nodes (hard, cordoned nodes aside) and
    zones (soft), each selecting the Deployment's pods; a rollout starts a new pod before
    stopping one."""
    deployment = one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    spread = {c["topologyKey"]: c for c in pod_spec(deployment)["topologySpreadConstraints"]}
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    # A cordoned node (drained) is no domain to balance against, or the evicted pod's
    # replacement could not be placed on the other node of a two-node cluster.
    assert spread["kubernetes.io/hostname"]["nodeTaintsPolicy"] == "Honor"
    assert "topology.kubernetes.io/zone" in spread
    for constraint in spread.values():
        assert constraint["labelSelector"]["matchLabels"].items() <= labels.items()
        assert constraint["maxSkew"] == 1
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


def test_grace_period_covers_prestop_requests_and_shutdown_grace() -> None:
    """terminationGracePeriodSeconds outlasts the preStop sleep, uvicorn's wait for open
    requests (at most 5 s) and SIGNALBOX_SHUTDOWN_GRACE, so the kubelet never SIGKILLs a
    graceful stop."""
    grace = float(settings_env()["SIGNALBOX_SHUTDOWN_GRACE"])
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop = float(command[1])
    requests = min(math.ceil(grace), 5)  # app/cli.py: timeout_graceful_shutdown
    total = pod_spec(one("Deployment"))["terminationGracePeriodSeconds"]
    assert total > pre_stop + requests + grace


def test_resources_image_and_scrape_annotations() -> None:
    """Requests and limits are set for CPU and memory; the image is pinned to a version by
    kustomization.yaml; Prometheus annotations and the ServiceMonitor name our /metrics on
    the container port."""
    c = container()
    for bound in ("requests", "limits"):
        assert set(c["resources"][bound]) == {"cpu", "memory"}
    assert PINNED.match(c["image"]) and "latest" not in c["image"], c["image"]
    annotations = one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(c["ports"][0]["containerPort"]),
        "prometheus.io/path": "/metrics",
    }
    monitor = yaml.safe_load((KUBERNETES / "servicemonitor.yaml").read_text("utf-8"))
    service = one("Service")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        service["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


class ConfigMapVolume:
    """A directory laid out as the kubelet lays out a ConfigMap volume: each key a symlink
    to `..data/<key>`, `..data` a symlink to a timestamped directory; an update writes a
    new timestamped directory and renames a new `..data_tmp` symlink over `..data`
    (kubernetes/pkg/volume/util/atomic_writer.go)."""

    def __init__(self, root: Path, files: dict[str, str]) -> None:
        self.root = root
        self.update(files)
        for key in files:
            (root / key).symlink_to(Path("..data") / key)

    def update(self, files: dict[str, str]) -> None:
        old = (self.root / "..data").readlink() if (self.root / "..data").exists() else None
        stamp = datetime.now(UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
        (self.root / stamp).mkdir()
        for key, text in files.items():
            (self.root / stamp / key).write_text(text, "utf-8")
        (self.root / "..data_tmp").symlink_to(stamp)
        (self.root / "..data_tmp").rename(self.root / "..data")
        if old is not None:
            shutil.rmtree(self.root / old)


@pytest.fixture
def secret_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Secret's variables in the environment, as envFrom puts them in the pod's."""
    for name, value in secret_env().items():
        if not name.startswith("SIGNALBOX_"):
            monkeypatch.setenv(name, value)


@pytest.mark.usefixtures("secret_in_environment")
def test_a_configmap_update_reloads_and_a_bad_one_keeps_the_rules(tmp_path: Path) -> None:
    """Served from a ConfigMap-style volume holding deploy/kubernetes/routes.yaml, the
    service loads an update the kubelet swaps in through `..data`, and after an invalid
    update keeps the rules in force and reports the error with file and line."""
    routes = (KUBERNETES / "routes.yaml").read_text("utf-8")
    volume = ConfigMapVolume(tmp_path, {"routes.yaml": routes})
    with serve(tmp_path, watch_config=True) as client:
        first = client.get("/api/config").json()
        assert first["routes"] == 3
        volume.update({"routes.yaml": routes.replace("group_wait: 30s", "group_wait: 10s")})
        wait_until(lambda: client.get("/api/config").json()["hash"] != first["hash"], 10)
        second = client.get("/api/config").json()
        volume.update({"routes.yaml": routes.replace("to: [ops-slack, oncall-mail]", "to: [x]")})
        wait_until(lambda: client.get("/api/config").json()["last_error"], 10)
        third = client.get("/api/config").json()
    assert third["hash"] == second["hash"]
    assert re.search(r"routes\.yaml:\d+: .*channel", third["last_error"]), third["last_error"]
