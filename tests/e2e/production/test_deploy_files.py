"""deploy/ validated offline: the Kubernetes manifests against the Kubernetes schemas (kubernetes-validate,
strict: unknown fields are errors), the compose file against the Compose Specification schema (vendored in
deploy/schemas), and what the issue asks of each."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
K8S_VERSION = "1.37.0"


def manifests() -> list[dict[str, Any]]:
    docs = []
    for path in sorted((DEPLOY / "k8s").glob("*.yaml")):
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


@pytest.mark.parametrize("doc", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_kubernetes_manifest_is_valid(doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kubernetes_manifests_cover_the_deployment() -> None:
    kinds = {doc["kind"]: doc for doc in manifests()}
    assert {"Deployment", "Service", "Job", "PodDisruptionBudget", "HorizontalPodAutoscaler", "ConfigMap",
            "Secret"} <= set(kinds)
    pod = kinds["Deployment"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    secrets = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}
    assert {"mandat-signing-keys", "mandat-server-secret"} <= secrets
    assert kinds["Job"]["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    # The pod outlives the graceful shutdown it is given.
    grace = int(kinds["ConfigMap"]["data"]["MANDAT_SHUTDOWN_GRACE_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > grace + container["lifecycle"]["preStop"]["sleep"]["seconds"]


def test_compose_file_is_valid_and_has_the_topology() -> None:
    schema = json.loads((DEPLOY / "schemas" / "compose-spec.json").read_text())
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    jsonschema.Draft7Validator(schema).validate(compose)  # the schema's own draft
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "idp1", "idp2", "nginx"} <= set(services)
    for name in ("idp1", "idp2"):
        idp = services[name]
        assert idp["read_only"] is True and idp["environment"]["MANDAT_REDIS_URL"].startswith("redis://")
        assert idp["environment"]["MANDAT_DATABASE_URL"].startswith("postgresql+asyncpg://")
        assert any(v.endswith(":/etc/mandat/keys") for v in idp["volumes"])  # keys mounted, not baked
        assert idp["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"]
    nginx = services["nginx"]
    assert "idp1:8000" in nginx["environment"]["MANDAT_UPSTREAM_SERVERS"]
    assert "idp2:8000" in nginx["environment"]["MANDAT_UPSTREAM_SERVERS"]
    template = (DEPLOY / "nginx" / "templates" / "mandat.conf.template").read_text()
    used = set(re.findall(r"\$\{(MANDAT_[A-Z_]+)\}", template))
    assert used <= set(nginx["environment"]), used - set(nginx["environment"])
    assert "ssl_verify_client optional_no_ca" in template  # the card path


def test_the_image_is_multi_stage_non_root_with_a_healthcheck_and_no_keys() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    assert len(re.findall(r"(?m)^FROM ", dockerfile)) >= 2
    assert re.search(r"(?m)^USER 10001", dockerfile)
    assert re.search(r"(?m)^HEALTHCHECK ", dockerfile)
    copied = re.findall(r"(?m)^COPY (.+)$", dockerfile)
    assert not any("keys" in line for line in copied)
    rules = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*" and not any("keys" in rule for rule in rules)  # nothing enters the context unless named
