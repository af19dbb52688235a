import os

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
    "objective.probe_images=16",
    "objective.probe_pairs=3",
    "objective.interpolation_steps=4",
]


@pytest.fixture
def tiny_study(tmp_path):
    return load_study("smoke", TINY_OVERRIDES + [f'storage_path="{tmp_path / "results"}"'])


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for every test that needs it: starting Ray costs seconds."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "2"}})
    yield ray
    ray.shutdown()
