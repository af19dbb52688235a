import contextlib
import logging
import os
import re

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vae_tune.config import load_study  # noqa: E402

# A study small enough to train in a second or two: 16px images, a handful of batches.
TINY_OVERRIDES = [
    "data.image_size=16",
    "data.samples=96",
    "data.validation_fraction=0.25",
    "model.latent_dim=8",
    "training.batch_size=16",
    "probe.images=16",
    "probe.pairs=3",
    "probe.interpolation_steps=4",
    # A 16-px model trained 1-3 epochs never beats the mean image (PSNR ~7.5 dB against 13.4):
    # these studies check the machinery, so its epochs are scored as measured. Tests of the
    # guard itself turn it on.
    "objective.collapse_guard=false",
    # Tests count trials: the baseline trial is on only where a test asks for it (test_baseline.py).
    "search.baseline=false",
]


# Fixtures that start Ray, a study or a subprocess: a test using one is `slow`, left out of the
# developer loop `python -m pytest -m "not slow"`. Slow tests without such a fixture carry the mark.
SLOW_FIXTURES = {"ray_session", "analysed_study", "baseline_study", "stop_signal", "fake_gpu_cluster", "replica_runs"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def warned(caplog):
    """`with warned(pattern) as records:` fails unless the block logs a vae_tune warning matching `pattern`."""

    @contextlib.contextmanager
    def expect(pattern: str = ""):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="vae_tune"):
            yield caplog.records
        messages = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
        assert any(re.search(pattern, message) for message in messages), f"no warning matching {pattern!r}: {messages}"

    return expect


@pytest.fixture
def tiny_study(tmp_path):
    return load_study("smoke", TINY_OVERRIDES + [f'storage_path="{tmp_path / "results"}"'])


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for every test that needs it: starting Ray costs seconds."""
    import ray

    from vae_tune.tuning.session import start_local_ray

    start_local_ray(num_cpus=2)
    yield ray
    ray.shutdown()


# A latent size TensorFlow cannot even describe: the trial raises while building its model,
# the way a trial that runs out of memory fails, and Ray records it as errored.
UNBUILDABLE_LATENT_DIM = 2**63 - 1
DIVERGING_LEARNING_RATE = 1e4  # the loss is NaN within the first epoch


@pytest.fixture(scope="session")
def analysed_study(tmp_path_factory, ray_session):
    """A finished tiny study with finished, diverged and failed trials, shared by the analysis tests.

    While it runs, a thread loads its results table every few tenths of a second,
    as a person watching a running study would; `snapshots` holds what it saw.
    """
    import threading
    import traceback

    from vae_tune.analysis import load_results
    from vae_tune.tuning.session import run_study

    storage = tmp_path_factory.mktemp("analysed") / "results"
    study = load_study("smoke", TINY_OVERRIDES + [
        f'storage_path="{storage}"',
        "search.num_samples=6",
        "execution.max_failures=0",  # a failing trial fails for good at once, no retries
        "search.space.kl_weight={distribution='loguniform', low=0.01, high=1.0}",
        f"search.space.learning_rate={{distribution='choice', values=[1e-3, 3e-3, {DIVERGING_LEARNING_RATE}]}}",
        f"search.space.latent_dim={{distribution='choice', values=[4, 8, {UNBUILDABLE_LATENT_DIM}]}}",
    ])
    snapshots, errors, stop = [], [], threading.Event()

    def watch():
        while not stop.wait(0.3):
            experiments = list(storage.glob("*/study.json"))
            if experiments:
                try:
                    snapshots.append(load_results(experiments[0].parent))
                except Exception:  # noqa: BLE001 -- the test asserts there were none
                    errors.append(traceback.format_exc())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        outcome = run_study(study)
    finally:
        stop.set()
        watcher.join()
    return {"study": study, "experiment_dir": outcome.experiment_dir, "snapshots": snapshots, "errors": errors}
