"""Studies on S3, against a real S3-compatible server (moto) on loopback: every file the report reads is in the
bucket, and a study there reads the same as on local disk, through run, a killed driver, resume, report,
confirm and score."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.fs as pafs
import pytest
from conftest import TINY_OVERRIDES
from test_fault_tolerance import cli, wait_for

import vae_tune.storage as storage
from vae_tune.names import STARTS_FILE, STATE_FILE, STUDY_FILE, TIMEOUT_FILE, WEIGHTS_FILE

BUCKET = "vae-tune-test"
TESTS = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A moto S3 server on 127.0.0.1 with one empty bucket; the environment every process reads it with.

    What a user sets (docs/clusters.md): credentials, the region and, for any S3-compatible
    store that is not AWS, AWS_ENDPOINT_URL; pyarrow and Ray Tune both read them.
    """
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    environment = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                   "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in environment.items():
            patch.setenv(key, value)
        pafs.S3FileSystem(endpoint_override=environment["AWS_ENDPOINT_URL"], allow_bucket_creation=True).create_dir(BUCKET)
        yield environment
    server.stop()


def bucket_files(uri: str) -> list[str]:
    """Every object under `uri`, relative to it."""
    filesystem, root = pafs.FileSystem.from_uri(uri)
    return sorted(info.path.removeprefix(root + "/")
                  for info in filesystem.get_file_info(pafs.FileSelector(root, recursive=True, allow_not_found=True))
                  if info.type == pafs.FileType.File)


def test_trial_files_are_written_to_the_bucket_and_mirrored_back(s3, tmp_path):
    experiment = f"s3://{BUCKET}/files/smoke_20260101-000000"
    trial = f"{experiment}/trial_0001"
    storage.write_text(f"{experiment}/{STUDY_FILE}", "{}")
    assert not storage.exists(f"{trial}/{STARTS_FILE}")
    storage.append_line(f"{trial}/{STARTS_FILE}", '{"pid": 1}')
    storage.append_line(f"{trial}/{STARTS_FILE}", '{"pid": 2}')  # a retry, maybe on another node
    storage.write_text(f"{trial}/{TIMEOUT_FILE}", '{"trial_timeout": 20}')
    storage.write_text(f"{trial}/checkpoint_000000/{STATE_FILE}", '{"epoch": 1}')
    storage.write_text(f"{trial}/checkpoint_000000/{WEIGHTS_FILE}", "weights")
    assert storage.read_text(f"{trial}/{STARTS_FILE}") == '{"pid": 1}\n{"pid": 2}\n'
    assert storage.exists(f"{trial}/{TIMEOUT_FILE}")

    local = storage.mirror_experiment(experiment, cache_root=tmp_path)
    assert (local / "trial_0001" / STARTS_FILE).read_text().splitlines() == ['{"pid": 1}', '{"pid": 2}']
    assert (local / "trial_0001" / TIMEOUT_FILE).is_file()
    checkpoint = local / "trial_0001" / "checkpoint_000000"
    assert (checkpoint / STATE_FILE).is_file() and not (checkpoint / WEIGHTS_FILE).exists()  # weights on demand
    # A checkpoint's URI maps into its experiment's mirror.
    assert storage.mirror_location(f"{trial}/checkpoint_000000", cache_root=tmp_path) == checkpoint
    with pytest.raises(FileNotFoundError, match="no study.json in it or above it"):
        storage.mirror_location(f"s3://{BUCKET}/nothing/here", cache_root=tmp_path)


@pytest.mark.slow  # a subprocess running two studies
@pytest.mark.timeout(900)
def test_a_study_on_s3_reads_the_same_as_on_local_disk(s3, tmp_path):
    """Baseline, finished and timed-out trials: the results table from the bucket equals the local one."""
    done = subprocess.run([sys.executable, str(TESTS / "storage_run.py"), str(tmp_path), f"s3://{BUCKET}/same"],
                          capture_output=True, text=True, timeout=840, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    tables = json.loads((tmp_path / "tables.json").read_text())
    print(f"local {tables['local_seconds']:.0f} s, s3 {tables['s3_seconds']:.0f} s")

    def readable(rows):  # what must read the same; trial ids, scores (threads) and paths differ
        return sorted((row["kl_weight"], row["status"], row["starts"], row["epochs"], row["baseline"]) for row in rows)

    local, remote = readable(tables["local"]), readable(tables["s3"])
    assert remote == local
    # Written out, so that the two cannot agree on something wrong: the baseline trial (the tutorial's
    # kl_weight at 16 px and its 256 latents, 16 * 16 * 3 / (1000 * 256) = 0.003) and the grid point 0.05
    # finished their 2 epochs; the hung trial (0.5) started once, reported nothing, and timed out.
    assert remote == [(0.003, "finished", 1, 2, True), (0.05, "finished", 1, 2, False), (0.5, "timed out", 1, 0, False)]
    assert set(tables["s3"][0]) == set(tables["local"][0])  # the same columns

    files = tables["s3_files"]
    trials = sorted({name.split("/")[0] for name in files if name.startswith("trial_")})
    assert len(trials) == 3
    for trial in trials:  # every file the results table reads
        assert {f"{trial}/params.json", f"{trial}/result.json", f"{trial}/{STARTS_FILE}"} <= set(files), trial
    assert sum(name.endswith(TIMEOUT_FILE) for name in files) == 1
    assert sum(name.endswith(f"/{STATE_FILE}") for name in files) >= 4  # two finished trials' checkpoints
    assert {STUDY_FILE, "baseline.json"} <= set(files)
    assert any(name.startswith("experiment_state-") for name in files)


def epochs_in_bucket(experiment: str) -> dict[str, int]:
    """Each trial's last epoch in its result.json in the bucket."""
    filesystem, root = pafs.FileSystem.from_uri(experiment)
    last = {}
    for name in bucket_files(experiment):
        if name.endswith("/result.json"):
            with filesystem.open_input_stream(f"{root}/{name}") as stream:
                lines = [json.loads(line) for line in stream.read().decode().splitlines() if line.strip()]
            last[name.split("/")[0]] = max((row["epoch"] for row in lines), default=0)
    return last


@pytest.mark.slow  # the vae-tune command, five times
@pytest.mark.timeout(900)
def test_run_killed_resume_report_confirm_and_score_from_s3(s3, tmp_path):
    from test_score_command import write_pairs

    from vae_tune.analysis import load_results

    storage_uri = f"s3://{BUCKET}/cli"
    # HOME: the mirror of the bucket goes under the test's folder, not the user's cache.
    environment = {**os.environ, "HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
    overrides = TINY_OVERRIDES + [f'storage_path="{storage_uri}"', "training.epochs=2", "search.num_samples=3",
                                  "search.max_concurrent_trials=1"]
    driver = subprocess.Popen(cli("run", "smoke", *[item for o in overrides for item in ("--set", o)]),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
                              start_new_session=True)
    name = wait_for(lambda: next((n.split("/")[0] for n in bucket_files(storage_uri) if n.endswith(STUDY_FILE)), None),
                    180, "the experiment in the bucket")
    experiment = f"{storage_uri}/{name}"
    # Sequential trials, each a new process: after the first finishes the others take seconds to start.
    wait_for(lambda: 2 in epochs_in_bucket(experiment).values(), 300, "a finished trial in the bucket")
    time.sleep(2.5)  # the 2-second experiment snapshot catches up, as in a long study
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local Ray it started
    driver.communicate(timeout=60)
    before = epochs_in_bucket(experiment)
    finished_before = {trial for trial, epoch in before.items() if epoch == 2}
    assert len(finished_before) < 3, f"the study ended before the kill: {before}"

    started = time.monotonic()
    resumed = subprocess.run(cli("resume", experiment), capture_output=True, text=True, env=environment, timeout=400)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    print(f"resume {time.monotonic() - started:.0f} s")
    assert "best trial" in resumed.stdout and experiment in resumed.stdout

    table = load_results(experiment).set_index("trial_id")
    assert len(table) == 3 and set(table["status"]) == {"finished"}
    assert set(table["epochs"]) == {2}
    for trial in finished_before:  # finished trials never ran again
        assert table.loc[trial.removeprefix("trial_"), "starts"] == 1, trial
    assert table["starts"].sum() >= 3  # every start is read from the bucket

    report = subprocess.run(cli("report", experiment, "--out", str(tmp_path / "report")), capture_output=True,
                            text=True, env=environment, timeout=300)
    assert report.returncode == 0, report.stdout[-3000:] + report.stderr[-3000:]
    assert (tmp_path / "report" / "index.html").is_file()
    csv = (tmp_path / "report" / "results.csv").read_text().splitlines()
    assert len(csv) == 4 and "starts" in csv[0].split(",")

    confirm = subprocess.run(cli("confirm", experiment, "--top", "1", "--seeds", "1"), capture_output=True, text=True,
                             env=environment, timeout=400)
    assert confirm.returncode == 0, confirm.stdout[-3000:] + confirm.stderr[-3000:]
    assert f"per seed       {experiment}/confirm.csv" in confirm.stdout
    assert {"confirm.csv", "confirm_summary.csv"} <= set(bucket_files(experiment))

    pairs = write_pairs(tmp_path / "pairs")
    scored = subprocess.run(cli("score", experiment, "--pairs", str(pairs)), capture_output=True, text=True,
                            env=environment, timeout=300)
    assert scored.returncode == 0, scored.stdout[-3000:] + scored.stderr[-3000:]
    assert "pairs       3 scored from" in scored.stdout
    print("\n".join(bucket_files(experiment)))
