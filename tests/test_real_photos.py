"""The real product photos beside the project, through the folder source and a smoke study."""

from pathlib import Path

import numpy as np
import pytest

from vae_tune.analysis import load_results
from vae_tune.config import DataConfig, load_study
from vae_tune.data.dataset import load_dataset
from vae_tune.tuning.session import run_study

PHOTOS = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "fashion-pairs"

pytestmark = pytest.mark.skipif(not (PHOTOS / "source").is_dir(), reason=f"no real photos at {PHOTOS}")


def test_real_photos_load_through_the_folder_source(tmp_path):
    dataset = load_dataset(DataConfig(source="folder", path=str(PHOTOS), image_size=32, cache_dir=str(tmp_path)))
    assert dataset.images.shape == (128, 32, 32, 3) and dataset.images.dtype == np.uint8
    assert dataset.label_names == ("source", "target")
    assert np.bincount(dataset.labels).tolist() == [64, 64]
    # Catalogue photos: white corners, a product in the middle.
    assert dataset.images[:, 0, 0].mean() > 230 and dataset.images[:, 12:20, 12:20].mean() < 200


def test_a_smoke_study_trains_on_the_real_photos(tmp_path, ray_session):
    study = load_study("smoke", [
        "data.source=\"folder\"", f'data.path="{PHOTOS}"', f'data.cache_dir="{tmp_path / "cache"}"',
        f'storage_path="{tmp_path / "results"}"', "search.num_samples=1", "search.baseline=false",
        "objective.collapse_guard=false",  # 2 epochs never beat the mean image; this checks the pipeline
    ])
    table = load_results(run_study(study).experiment_dir)
    assert table["status"].tolist() == ["finished"] and table["epochs"].tolist() == [2]
    assert table["best_val/blur"].between(0, 5).all() and table["best_val/roughness"].between(0, 5).all()
