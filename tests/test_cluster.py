"""Studies on Ray clusters: resources checked against the nodes, GPUs per trial, addresses, storage URIs."""

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from vae_tune.config import ConfigError, load_study
from vae_tune.tuning.resources import ClusterError, Node, await_trial_request, trial_request, trials_at_once

ROOT = Path(__file__).resolve().parent.parent
FALLBACK = "but TensorFlow sees no GPU"


def private_ray_env():
    """A RAY_TMPDIR of its own: no other Ray on the machine is found, joined or disturbed.

    Short, under /tmp: Ray's socket paths inside it must stay under 107 characters.
    """
    return {**os.environ, "RAY_TMPDIR": tempfile.mkdtemp(prefix="vt", dir="/tmp")}


@pytest.fixture(scope="module")
def fake_gpu_cluster(tmp_path_factory):
    """Run cluster_run.py once: a head without resources and two nodes of 2 CPUs and 2 fake GPUs."""
    out = tmp_path_factory.mktemp("cluster")
    env = private_ray_env()
    try:
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "cluster_run.py"), str(out)],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    finally:
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert done.returncode == 0, done.stderr[-3000:]
    *console, report = done.stdout.strip().splitlines()
    return json.loads(report), console


def test_two_gpu_trials_each_take_a_whole_node(fake_gpu_cluster):
    report, console = fake_gpu_cluster
    whole = report["whole"]
    assert whole["peak"] == 2  # both at once
    assert len({trial["device/node_id"] for trial in whole["trials"]}) == 2  # one per node
    assert [trial["device/gpu_ids"] for trial in whole["trials"]] == ["0,1", "0,1"]
    for trial in whole["trials"]:
        assert trial["error"] is None and trial["epoch"] == 1  # trained on CPU instead of crashing
        assert trial["device/summary"] == (f"Ray assigned GPU 0,1 {FALLBACK} (CPU-only TensorFlow, no CUDA driver, or fake GPUs): "
                                           "training on CPU")
    # The console says so, once per trial.
    assert sum(f"trains on Ray assigned GPU 0,1 {FALLBACK}" in line for line in console) >= 2


def test_half_gpu_trials_share_gpus(fake_gpu_cluster):
    shared = fake_gpu_cluster[0]["shared"]
    assert shared["peak"] == 4  # four trials at once on two nodes
    assert all(trial["error"] is None and trial["device/gpu_ids"] in ("0", "1") for trial in shared["trials"])
    per_gpu = Counter((trial["device/node_id"], trial["device/gpu_ids"]) for trial in shared["trials"])
    assert max(per_gpu.values()) == 2, per_gpu  # two trials on one GPU


def test_a_trial_bigger_than_every_node_stops_the_study(fake_gpu_cluster):
    too_big = fake_gpu_cluster[0]["too_big"]
    assert "trials" not in too_big
    assert too_big["error"].startswith("resources: a trial needs 1 CPU and 4 GPU on one node, but the largest node is ")
    assert "(2 CPU, 2 GPU); Ray would leave every trial pending" in too_big["error"]


def test_results_on_a_storage_uri_come_back_for_the_report(fake_gpu_cluster):
    report = fake_gpu_cluster[0]
    assert report["whole"]["experiment"].startswith("file://")
    fetched = report["fetched"]
    assert "study.json" in fetched
    assert sum(name.endswith("/result.json") for name in fetched) == 2
    assert sum(name.endswith("/trial.json") for name in fetched) == 2
    assert sum(name.endswith("vae.weights.h5") for name in fetched) == 1  # the best trial's only
    assert report["resumed"] == {"trials": 2, "interrupted": False}  # resume reads the study from the URI too


NODES = [Node("10.0.0.1", 8, 0), Node("10.0.0.2", 4, 2), Node("10.0.0.3", 8, 4)]


def study_with(*overrides):
    return load_study("smoke", list(overrides))


def test_node_means_every_gpu_of_the_largest_node():
    assert trial_request(study_with('resources.gpus_per_trial="node"'), NODES) == {"cpu": 1.0, "gpu": 4.0}
    with pytest.raises(ClusterError, match=r'gpus_per_trial = "node": no node has a GPU; the largest node is 10.0.0.1 \(8 CPU, 0 GPU\)'):
        trial_request(study_with('resources.gpus_per_trial="node"'), NODES[:1])


def test_requests_are_checked_against_single_nodes():
    assert trial_request(study_with("resources.gpus_per_trial=0.5", "resources.cpus_per_trial=2"), NODES) == {"cpu": 2.0, "gpu": 0.5}
    # 6 CPUs and 2 GPUs exist, but not on one node.
    with pytest.raises(ClusterError, match=r"needs 6 CPU and 2 GPU on one node, but the largest node is 10.0.0.2 \(4 CPU, 2 GPU\)"):
        trial_request(study_with("resources.gpus_per_trial=2", "resources.cpus_per_trial=6"), NODES[:2])
    # A mirrored trial needs a global batch that splits evenly across its GPUs, searched ones included.
    with pytest.raises(ConfigError, match=r"training.batch_size: 30 does not split evenly across 4 replicas"):
        trial_request(study_with("resources.gpus_per_trial=4", "training.batch_size=30"), NODES)
    with pytest.raises(ConfigError, match=r"batch_size: 6 does not split evenly across 4 replicas"):
        trial_request(study_with("resources.gpus_per_trial=4",
                                 'search.space.batch_size={distribution="choice", values=[8, 6]}'), NODES)


def test_trials_at_once_counts_what_fits_on_each_node():
    assert trials_at_once({"cpu": 1, "gpu": 0.5}, NODES) == 0 + 4 + 8
    assert trials_at_once({"cpu": 2, "gpu": 2}, NODES) == 0 + 1 + 2
    assert trials_at_once({"cpu": 0.1, "gpu": 0}, [Node("a", 1, 0)]) == 10


def test_the_check_waits_for_nodes_that_are_still_joining(caplog):
    arrivals = iter([[NODES[0]], [NODES[0]], NODES])
    study = study_with("resources.gpus_per_trial=2", "resources.node_wait_seconds=60")
    with caplog.at_level(logging.INFO, logger="vae_tune"):
        request, nodes = await_trial_request(study, lambda: next(arrivals), poll_seconds=0.01)
    assert request["gpu"] == 2 and len(nodes) == 3
    assert sum(record.getMessage().startswith("waiting up to 60s for nodes") for record in caplog.records) == 1
    with pytest.raises(ClusterError, match="largest node is 10.0.0.1"):
        await_trial_request(study_with("resources.gpus_per_trial=2"), lambda: [NODES[0]], poll_seconds=0.01)


@pytest.mark.slow  # a subprocess
def test_an_unreachable_cluster_is_an_error_not_a_local_run():
    # (Not "auto": it joins any Ray that runs on this machine, which on a shared machine may be anyone's.)
    env = private_ray_env()
    try:
        done = subprocess.run([sys.executable, "-m", "vae_tune.cli", "run", "smoke", "--address", "127.0.0.1:1"],
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    finally:
        shutil.rmtree(env["RAY_TMPDIR"], ignore_errors=True)
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("vae-tune:")]
    message = "vae-tune: error: Ray cluster at '127.0.0.1:1': nothing answers there (Connection refused)"
    assert errors == [f"{message}; is its head running (ray status)?"], done.stderr[-2000:]
    assert "Started a local Ray instance" not in done.stdout + done.stderr
    assert "running 2 trials" not in done.stdout
