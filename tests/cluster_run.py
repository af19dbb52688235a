"""Studies on a simulated two-node Ray cluster with fake GPUs, run by tests/test_cluster.py in a fresh process.

A fresh process (with its own RAY_TMPDIR, set by the test) keeps this cluster
apart from the Ray the other tests share and from any other Ray on the machine.
Usage: cluster_run.py OUT_DIR. Prints one JSON line: the outcome of each scenario.
"""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from tests.conftest import TINY_OVERRIDES  # noqa: E402
from vae_tune.analysis.results import best_trial, load_results  # noqa: E402
from vae_tune.config import load_study  # noqa: E402
from vae_tune.storage import fetch_checkpoint, mirror_experiment  # noqa: E402
from vae_tune.tuning.resources import ClusterError  # noqa: E402
from vae_tune.tuning.session import resume_study, run_study  # noqa: E402


class Concurrency(tune.Callback):
    """The most trials running at once, as Tune placed them."""

    def __init__(self):
        self.running = self.peak = 0

    def on_trial_start(self, iteration, trials, trial, **info):
        self.running += 1
        self.peak = max(self.peak, self.running)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.running -= 1

    on_trial_error = on_trial_complete


def scenario(out: Path, gpus: str, samples: int, storage: str) -> dict:
    study = load_study("smoke", TINY_OVERRIDES + [
        f"resources.gpus_per_trial={gpus}", "resources.cpus_per_trial=1", "training.epochs=1",
        f"search.num_samples={samples}", f'storage_path="{storage}"',
    ])
    concurrency = Concurrency()
    started = time.monotonic()
    try:
        outcome = run_study(study, address=cluster.address, callbacks=[concurrency])
    except ClusterError as error:
        return {"error": str(error), "seconds": time.monotonic() - started}
    trials = [{key: result.metrics.get(key) for key in ("device/node_id", "device/gpu_ids", "device/summary", "epoch")}
              | {"error": str(result.error) if result.error else None} for result in outcome.results]
    return {"trials": trials, "peak": concurrency.peak, "experiment": outcome.experiment}


out = Path(sys.argv[1])
# Like a real cluster: a head that takes no trials, and GPU workers.
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "num_gpus": 0})
try:
    for _ in range(2):
        cluster.add_node(num_cpus=2, num_gpus=2)
    cluster.wait_for_nodes()
    report = {
        "whole": scenario(out, "2", 2, f"file://{out}/results"),  # a URI, as s3:// or gs:// would be
        "shared": scenario(out, "0.5", 4, str(out / "results")),
        "too_big": scenario(out, "4", 2, str(out / "results")),
    }
    resumed = resume_study(report["whole"]["experiment"], address=cluster.address)  # from the URI
    report["resumed"] = {"trials": len(resumed.results), "interrupted": resumed.interrupted}
    # What a report on the bucket reads: the table files, then the best trial's weights to draw it.
    local = mirror_experiment(report["whole"]["experiment"], cache_root=out / "fetched")
    fetch_checkpoint(Path(best_trial(load_results(local))["best_checkpoint"]))
    report["fetched"] = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    print(json.dumps(report))
finally:
    ray.shutdown()
    cluster.shutdown()
