"""Every file in cluster/, validated offline: the launcher config against the schema Ray ships,
the Kubernetes manifests for what KubeRay needs, the image against the Ray we pin."""

import json
from pathlib import Path

import jsonschema
import pytest
import ray
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from vae_tune.config import available_studies

CLUSTER = Path(__file__).resolve().parent.parent / "cluster"
RAY_GPU_IMAGE = f"rayproject/ray:{ray.__version__}-py311-gpu"


def kind_of(path: Path) -> str:
    if path.name == "Dockerfile":
        return "image"
    documents = list(yaml.safe_load_all(path.read_text()))
    return "launcher" if "cluster_name" in documents[0] else "kubernetes"


FILES = sorted(CLUSTER.iterdir())


def test_the_folder_holds_a_launcher_config_a_kuberay_manifest_and_an_image():
    kinds = {kind_of(path) for path in FILES}
    assert kinds == {"launcher", "kubernetes", "image"}, FILES


@pytest.mark.parametrize("path", [p for p in FILES if kind_of(p) == "launcher"], ids=lambda p: p.name)
def test_launcher_config_is_valid_and_keeps_trials_on_gpu_workers(path):
    config = yaml.safe_load(path.read_text())
    schema = json.loads((Path(ray.autoscaler.__file__).parent / "ray-schema.json").read_text())
    jsonschema.validate(config, schema)
    validate_config(prepare_config(config))  # the schema again after Ray's defaults, and Ray's own checks
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}  # no trials on the head
    workers = [t for name, t in types.items() if name != config["head_node_type"]]
    assert workers and all(t["node_config"]["InstanceType"].startswith(("g", "p")) for t in workers)  # GPU instances
    assert all(t["min_workers"] >= 1 for t in workers)  # GPU nodes exist when a study is submitted
    assert any('vae-tune[gpu]' in command for command in config["setup_commands"])
    assert config["docker"]["image"] == RAY_GPU_IMAGE
    assert "/home/ray/vae-tune" in config["file_mounts"]


def containers(pod_template):
    return pod_template["spec"]["containers"]


@pytest.mark.parametrize("path", [p for p in FILES if kind_of(p) == "kubernetes"], ids=lambda p: p.name)
def test_kuberay_manifest_has_what_kuberay_needs(path):
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    for document in documents:
        assert {"apiVersion", "kind", "metadata"} <= set(document) and document["metadata"]["name"], document
    claims = {d["metadata"]["name"] for d in documents if d["kind"] == "PersistentVolumeClaim"}
    rays = [d for d in documents if d["apiVersion"] == "ray.io/v1"]
    assert rays and all(d["kind"] in ("RayCluster", "RayJob") for d in rays)
    for document in rays:
        spec = document["spec"]
        if document["kind"] == "RayJob":
            entrypoint = spec["entrypoint"].split()
            assert entrypoint[:3] == ["vae-tune", "run", "cluster"] and "cluster" in available_studies()
            spec = spec["rayClusterSpec"]
        assert spec["rayVersion"] == ray.__version__
        head = spec["headGroupSpec"]
        assert head["rayStartParams"]["num-cpus"] == "0"  # no trials on the head
        groups = spec["workerGroupSpecs"]
        assert groups
        for group in [head, *groups]:
            # KubeRay takes rayStartParams as a map of strings.
            assert all(isinstance(value, str) for value in group["rayStartParams"].values())
            pod = group["template"]
            volumes = {volume["name"]: volume for volume in pod["spec"].get("volumes", [])}
            for container in containers(pod):
                assert container["name"] and container["image"]
                for mount in container.get("volumeMounts", []):
                    assert mount["name"] in volumes, mount  # every mount has its volume
            for volume in volumes.values():
                if "persistentVolumeClaim" in volume:
                    assert volume["persistentVolumeClaim"]["claimName"] in claims
        for group in groups:
            assert group["groupName"] and group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
            limits = [c["resources"]["limits"] for c in containers(group["template"])]
            assert all(int(limit["nvidia.com/gpu"]) >= 1 for limit in limits)  # GPU workers


def test_the_image_is_rays_gpu_image_with_vae_tune():
    lines = (CLUSTER / "Dockerfile").read_text().splitlines()
    assert f"FROM {RAY_GPU_IMAGE}" in lines
    assert any(line.startswith("RUN pip install") and "vae-tune[gpu]" in line for line in lines)
