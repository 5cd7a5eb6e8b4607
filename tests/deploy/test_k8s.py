"""deploy/k8s: valid by the Kubernetes schemas, and consistent with the app and each other."""

from __future__ import annotations

import copy

import kubernetes_validate
import pytest

from rtc.peers.ice import parse_port_range
from tests.deploy.files import (
    DEPLOY_DOC,
    K8S,
    K8S_VERSIONS,
    KUSTOMIZATION,
    SETTINGS,
    config_data,
    container,
    k8s_manifests,
    k8s_of_kind,
    load_yaml,
    pod_spec,
)

# The gauge /metrics serves (the interviews running on the node) and the HPA scales on.
INTERVIEWS_LIVE_METRIC = "monumento_interviews_live"
UID = 10001  # the Dockerfile's user


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_every_manifest_is_valid_by_the_kubernetes_schemas(version: str) -> None:
    manifests = k8s_manifests()
    assert {doc["kind"] for doc in manifests.values()} >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
    }
    for name, document in manifests.items():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name} against {version}: {error.path}: {error.message}")


def test_an_invalid_manifest_is_refused() -> None:
    deployment = copy.deepcopy(k8s_of_kind("Deployment"))
    spec = deployment["spec"]["template"]["spec"]
    spec["terminationGracePeriod"] = 3960  # a misspelt field: the strict schema refuses it
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    hpa = copy.deepcopy(k8s_of_kind("HorizontalPodAutoscaler"))
    del hpa["spec"]["scaleTargetRef"]
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(hpa, K8S_VERSIONS[-1], strict=True)


def test_the_kustomization_ties_every_manifest_and_the_image_together() -> None:
    kustomization = load_yaml(KUSTOMIZATION)
    assert sorted(kustomization["resources"]) == sorted(k8s_manifests())
    assert all((K8S / resource).is_file() for resource in kustomization["resources"])
    (image,) = kustomization["images"]
    assert image["name"] == container()["image"]


def test_the_grace_period_outlasts_the_drain_and_the_pre_stop_pause() -> None:
    drain = int(config_data()["DRAIN_TIMEOUT_SECONDS"])
    command = container()["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pause = int(command[1])
    grace = pod_spec()["terminationGracePeriodSeconds"]
    assert grace > drain + pause, f"{grace} s does not cover a {drain} s drain after {pause} s"


def test_probes_ask_readyz_for_traffic_and_healthz_for_life() -> None:
    probes = container()
    assert probes["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert probes["startupProbe"]["httpGet"]["path"] == "/healthz"
    port_names = {port["name"]: port["containerPort"] for port in probes["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert port_names[probes[probe]["httpGet"]["port"]] == 8080


def test_every_variable_the_pod_gets_is_a_setting() -> None:
    secret = k8s_of_kind("Secret")["stringData"]
    names = set(config_data()) | set(secret) | {env["name"] for env in container()["env"]}
    assert not names - SETTINGS, f"not settings: {names - SETTINGS}"
    sources = container()["envFrom"]
    assert {"configMapRef": {"name": k8s_of_kind("ConfigMap")["metadata"]["name"]}} in sources
    assert {"secretRef": {"name": k8s_of_kind("Secret")["metadata"]["name"]}} in sources


def test_every_secret_value_is_a_marked_placeholder_and_documented() -> None:
    secret = k8s_of_kind("Secret")["stringData"]
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    for name, value in secret.items():
        assert "REPLACE-ME" in value, f"{name} looks like a real value"
        assert f"`{name}`" in doc, f"docs/deploy.md does not say what to put in {name}"


def test_the_hpa_scales_the_deployment_on_live_interviews_per_pod() -> None:
    hpa = k8s_of_kind("HorizontalPodAutoscaler")["spec"]
    deployment = k8s_of_kind("Deployment")
    assert hpa["scaleTargetRef"] == {
        "apiVersion": deployment["apiVersion"],
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    pods = [metric["pods"] for metric in hpa["metrics"] if metric["type"] == "Pods"]
    assert [metric["metric"]["name"] for metric in pods] == [INTERVIEWS_LIVE_METRIC]
    assert pods[0]["target"]["type"] == "AverageValue"
    assert hpa["minReplicas"] >= 2
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    doc = DEPLOY_DOC.read_text(encoding="utf-8")
    assert INTERVIEWS_LIVE_METRIC in doc and "Prometheus Adapter" in doc


def test_service_and_budget_select_the_pods() -> None:
    labels = k8s_of_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    service = k8s_of_kind("Service")["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["sessionAffinity"] == "None"
    assert k8s_of_kind("Service")["spec"]["ports"][0]["targetPort"] == "http"
    budget = k8s_of_kind("PodDisruptionBudget")["spec"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    assert k8s_of_kind("Deployment")["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_the_pod_runs_as_the_images_non_root_user() -> None:
    pod = pod_spec()["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == UID
    own = container()["securityContext"]
    assert own["allowPrivilegeEscalation"] is False
    assert own["readOnlyRootFilesystem"] is True
    assert own["capabilities"]["drop"] == ["ALL"]
    assert {mount["mountPath"] for mount in container()["volumeMounts"]} >= {"/data", "/tmp"}
    assert set(container()["resources"]["requests"]) == {"cpu", "memory"}


def test_udp_reaches_one_pod_per_node_on_the_nodes_address() -> None:
    spec = pod_spec()
    assert spec["hostNetwork"] is True
    assert spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    (rule,) = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    labels = k8s_of_kind("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert rule["labelSelector"]["matchLabels"].items() <= labels.items()
    env = {entry["name"]: entry for entry in container()["env"]}
    assert env["RTC_HOST_ADDRESSES"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert parse_port_range(config_data()["RTC_UDP_PORTS"]) is not None
    assert "TURN_URLS" in config_data() and "TURN_SECRET" in k8s_of_kind("Secret")["stringData"]
