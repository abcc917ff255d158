#!/usr/bin/env python3
"""Renders and lints charts/booking-rush and validates, offline, every rendered object, the CRD
and the sample FlashSales. Run by `make chart-check` inside the project's .venv (helm-python-sdk,
kubernetes-validate); exits non-zero on the first kind of problem found, after reporting all."""

import copy
import glob
import os
import sys

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "booking-rush")
KUBERNETES = "1.33.0"
RELEASE, NAMESPACE = "booking-rush", "booking-rush"

# Value sets rendered and validated: the defaults and the switches that change what is rendered.
SCENARIOS = {
    "defaults": {},
    "kind (values-kind.yaml)": yaml.safe_load(open(os.path.join(CHART, "values-kind.yaml"))),
    "node port and ingress host": {
        "gateway": {"service": {"type": "NodePort", "nodePort": 30080},
                    "ingress": {"enabled": True, "className": "nginx", "host": "tickets.example"}},
    },
    "one namespace, fixed replicas": {
        "database": {"url": "postgres://booking@db.example:5432/booking_rush"},
        "operator": {"watchNamespace": "sales", "psp": {"url": "https://psp.example",
                     "webhookSecret": {"name": "psp", "key": "secret", "create": False}}},
        "gateway": {"autoscaling": {"enabled": False, "minReplicas": 2, "maxReplicas": 10,
                                    "targetCPUUtilizationPercentage": 70}},
        "ticket": {"enabled": False, "replicas": 1},
        "imagePullSecrets": [{"name": "registry"}],
    },
}

# Values the schema must refuse.
BAD_VALUES = {
    "an unknown key": {"gatway": {}},
    "two operator replicas": {"operator": {"replicas": 2}},
    "a non-Redis URL": {"redis": {"url": "http://redis:6379"}},
    "an unknown pull policy": {"imagePullPolicy": "Sometimes"},
}

failures = []


def fail(message):
    failures.append(message)
    print(f"FAIL {message}")


def documents(text, source):
    try:
        return [d for d in yaml.safe_load_all(text) if d]
    except yaml.YAMLError as err:
        fail(f"{source}: not YAML: {err}")
        return []


def validate_object(obj, source):
    name = f"{source}: {obj.get('kind')}/{obj.get('metadata', {}).get('name')}"
    try:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
        return True
    except kubernetes_validate.ValidationError as err:
        path = ".".join(str(p) for p in err.path)
        fail(f"{name}: {path}: {err.message}")
    except kubernetes_validate.SchemaNotFoundError as err:
        fail(f"{name}: no schema: {err.message}")
    return False


def lint():
    report = helm.lint(CHART, strict=True, kube_version=f"v{KUBERNETES}")
    for message in report.get("messages", []):
        if message["severity"] >= 2:
            fail(f"helm lint: {message['path']}: {message['error']}")
    for error in report.get("errors") or []:
        fail(f"helm lint: {error}")
    print(f"ok   helm lint --strict ({report.get('total_charts_linted', 0)} chart)")


def render_all(chart):
    checked = 0
    for scenario, values in SCENARIOS.items():
        try:
            chart.validate_schema(values)
            manifests = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmError as err:
            fail(f"{scenario}: {err}")
            continue
        kinds = set()
        for template, text in sorted(manifests.items()):
            if not template.endswith((".yaml", ".yml")):
                continue
            for obj in documents(text, template):
                kinds.add(obj.get("kind"))
                checked += validate_object(obj, f"{scenario}: {template}")
        print(f"ok   {scenario}: {', '.join(sorted(k for k in kinds if k))}")
    for what, values in BAD_VALUES.items():
        try:
            chart.validate_schema(values)
            fail(f"values.schema.json accepts {what}")
        except helm.HelmValuesError:
            print(f"ok   values.schema.json refuses {what}")
    return checked


def nullable_aware(schema):
    """The CRD's OpenAPI schema as JSON Schema: `nullable` allows null, and objects accept no
    field the schema does not name (what the API server would prune, we refuse)."""
    schema = copy.deepcopy(schema)

    def walk(node):
        if isinstance(node, dict):
            if node.pop("nullable", False) and "type" in node:
                node["type"] = [node["type"], "null"]
            if ("properties" in node and "additionalProperties" not in node
                    and not node.get("x-kubernetes-preserve-unknown-fields")):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


def crd_and_samples(chart):
    committed = open(os.path.join(ROOT, "crds", "flashsale.yaml")).read()
    crds = chart.crds
    if [c["data"] for c in crds] != [committed]:
        fail("charts/booking-rush/crds/ differs from crds/flashsale.yaml: run `make crd`")
    checked = 0
    crd = None
    for entry in crds:
        for obj in documents(entry["data"], entry["filename"]):
            checked += validate_object(obj, entry["filename"])
            crd = obj
    if crd is None:
        fail("the chart ships no CRD")
        return checked
    version = crd["spec"]["versions"][0]
    schema = nullable_aware(version["schema"]["openAPIV3Schema"])
    schema["properties"]["apiVersion"] = {"type": "string"}
    schema["properties"]["kind"] = {"type": "string"}
    schema["properties"]["metadata"] = {"type": "object", "required": ["name"]}
    schema["required"] = ["apiVersion", "kind", "metadata", "spec"]
    api_version = f"{crd['spec']['group']}/{version['name']}"
    samples = sorted(glob.glob(os.path.join(CHART, "examples", "*.yaml"))
                     + glob.glob(os.path.join(ROOT, "operator", "examples", "*.yaml")))
    for path in samples:
        source = os.path.relpath(path, ROOT)
        for obj in documents(open(path).read(), source):
            if obj.get("apiVersion") != api_version or obj.get("kind") != crd["spec"]["names"]["kind"]:
                fail(f"{source}: not a {api_version} FlashSale")
                continue
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str)
            for err in errors:
                fail(f"{source}: {'.'.join(str(p) for p in err.path)}: {err.message}")
            checked += not errors
    # The schema must refuse what the API server refuses.
    bad = documents(open(samples[0]).read(), "sample")[0]
    bad["spec"]["zones"][0]["currency"] = "euro"
    bad["spec"]["unknownField"] = True
    if not list(jsonschema.Draft7Validator(schema).iter_errors(bad)):
        fail("the CRD schema accepts a bad currency and an unknown field")
    print(f"ok   CRD and {len(samples)} sample FlashSales")
    return checked


def main():
    helm.disable_logging()
    with helm.Chart.load(CHART) as chart:
        lint()
        checked = render_all(chart)
        checked += crd_and_samples(chart)
    if failures:
        print(f"chart-check: {len(failures)} problem(s)")
        return 1
    print(f"chart-check: {checked} objects valid against Kubernetes {KUBERNETES} (strict)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
