"""The same study run on local disk and on S3, in a process of its own (tests/test_remote_storage.py runs it).

A process of its own because Ray's trial processes must start with the S3
endpoint and credentials in their environment, as a cluster's nodes would; the
test suite's shared Ray started without them. Usage: python storage_run.py OUT
S3_STORAGE, with AWS_ENDPOINT_URL and the credentials set. Writes OUT/tables.json:
each storage's results table, and the files of the S3 experiment.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pyarrow.fs as pafs  # noqa: E402
from conftest import TINY_OVERRIDES  # noqa: E402

import vae_tune.storage  # noqa: E402
from vae_tune.analysis import load_results  # noqa: E402
from vae_tune.config import load_study  # noqa: E402
from vae_tune.tuning.session import run_study, start_local_ray  # noqa: E402
from vae_tune.tuning.trainable import record_start, train_vae, trial_location, with_trial_timeout  # noqa: E402

HANGS = 0.5  # the kl_weight whose trial hangs after it started, until its trial timeout stops it


def hang(config, study, dataset, experiment_dir):
    record_start(trial_location(experiment_dir), {}, setup_seconds=0.0)  # it started, then hung
    time.sleep(10_000)  # a deadlock, a stuck data source, a wedged GPU


# The hung trial's own limit, 5 s: a study-wide one would have to outlast every trial that trains,
# which took over 60 s with TensorFlow's start on 2 cores shared with other work.
hang_briefly = with_trial_timeout(hang, 5.0)


def hangs_at_one_kl_weight(config, study, dataset, experiment_dir):
    if config["kl_weight"] == HANGS:
        hang_briefly(config, study=study, dataset=dataset, experiment_dir=experiment_dir)
    else:
        train_vae(config, study, dataset, experiment_dir)


def run(storage: str) -> tuple[str, list[dict]]:
    study = load_study("smoke", TINY_OVERRIDES + [
        f'storage_path="{storage}"', "search.baseline=true", "training.epochs=2", "search.num_samples=1",
        f"search.space.kl_weight={{distribution='grid', values=[0.05, {HANGS}]}}",
        "execution.max_failures=1",  # the hung trial's retry finds its marker and ends the trial
    ])
    outcome = run_study(study, trainable=hangs_at_one_kl_weight)
    assert not outcome.interrupted
    return outcome.experiment, json.loads(load_results(outcome.experiment).to_json(orient="records"))


def main(out: Path, s3_storage: str) -> None:
    vae_tune.storage.CACHE_ROOT = out / "cache"  # the S3 experiment's mirror, not the user's cache
    start_local_ray(num_cpus=2)
    tables = {}
    for name, storage in (("local", str(out / "results")), ("s3", s3_storage)):
        started = time.monotonic()
        experiment, tables[name] = run(storage)
        tables[f"{name}_seconds"] = time.monotonic() - started
        tables[f"{name}_experiment"] = experiment
    filesystem, root = pafs.FileSystem.from_uri(tables["s3_experiment"])
    tables["s3_files"] = sorted(info.path.removeprefix(root + "/")
                                for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True))
                                if info.type == pafs.FileType.File)
    (out / "tables.json").write_text(json.dumps(tables, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])
