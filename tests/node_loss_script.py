"""Run by test_fault_tolerance in a fresh process: a study on a simulated two-node Ray
cluster loses the node its trial runs on. Prints one JSON line with what happened."""

import json
import sys
import threading
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from vae_tune.config import load_study
from vae_tune.experiment import reported_results
from vae_tune.tuning.session import run_study


def parent_pid(pid: int) -> int:
    # Field 4 of /proc/PID/stat; the process name (field 2) may contain spaces, so split after it.
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def main(storage: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # trials land on workers only
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    ray.init(address=cluster.address, log_to_driver=False)
    study = load_study("smoke", [
        f'storage_path="{storage}"', "data.image_size=64", "data.samples=1200", "training.batch_size=16",
        "training.epochs=5", "search.num_samples=1", "search.baseline=false",
    ])
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(result=run_study(study)))
    thread.start()
    deadline = time.monotonic() + 240
    # Tune copies result.json over from its staging folder, so a read can catch it half-copied:
    # the project's reader skips lines that do not parse, and we wait for two that do.
    trial_dirs, early = [], []
    while time.monotonic() < deadline and len(early) < 2:
        trial_dirs = [p.parent for p in Path(storage).glob("smoke_*/trial_*/result.json")]
        early = reported_results(trial_dirs[0]) if trial_dirs else []
        time.sleep(0.05)
    first = early[1]
    raylet = parent_pid(first["pid"])  # Ray workers are children of their node's raylet
    lost = next(node for node in workers if any(
        info.process.pid == raylet for info in node.all_processes.get("raylet", [])))
    cluster.remove_node(lost, allow_graceful=False)  # the node vanishes, as a preempted VM does
    thread.join(timeout=300)
    rows = reported_results(trial_dirs[0])
    # To a file: the shutting-down cluster's raylets may still print to stdout after any line of ours.
    (Path(storage) / "report.json").write_text(json.dumps({
        "epochs": [row["epoch"] for row in rows],
        "resumed_from_epoch": [row.get("resumed_from_epoch") for row in rows],
        "pids": [row["pid"] for row in rows],
        "lost_node_raylet": raylet,
        "interrupted": outcome["result"].interrupted if "result" in outcome else None,
    }))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
