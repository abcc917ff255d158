#!/usr/bin/env python3
"""Installs or upgrades the booking-rush release with helm-python-sdk (no helm binary needed):
`chart-deploy.py NAMESPACE VALUES_FILE`, against the current kubeconfig context. Waits until
every object is ready."""

import os
import sys

import helm_python as helm
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "charts", "booking-rush")
RELEASE = "booking-rush"


def main(namespace, values_file):
    with open(values_file) as f:
        values = yaml.safe_load(f) or {}
    with helm.Chart.load(CHART) as chart, helm.Config(namespace=namespace) as config:
        chart.validate_schema(values)
        existing = config.list(all_states=True, name_filter=f"^{RELEASE}$")
        if any(r.get("name") == RELEASE for r in existing or []):
            release = config.upgrade(chart, RELEASE, values, namespace=namespace,
                                     wait="watcher", timeout=600)
        else:
            release = config.install(chart, RELEASE, values, namespace=namespace,
                                     create_namespace=True, wait="watcher", timeout=600)
    print(f"release {RELEASE} in {namespace}: revision {release.get('version')}, {release.get('info', {}).get('status')}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: chart-deploy.py NAMESPACE VALUES_FILE")
    try:
        sys.exit(main(sys.argv[1], sys.argv[2]))
    except helm.HelmError as err:
        sys.exit(f"deploying {RELEASE} failed: {err}")
