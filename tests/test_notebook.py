"""analysis/trial_results.ipynb runs top to bottom against a real study."""

import base64
import io
import os
from pathlib import Path

import pytest
from PIL import Image

nbclient = pytest.importorskip("nbclient")
nbformat = pytest.importorskip("nbformat")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "analysis" / "trial_results.ipynb"


def test_notebook_is_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


def test_notebook_runs_against_a_study(analysed_study, monkeypatch):
    # The kernel is a fresh process: point it at this checkout and at the study.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("VAE_TUNE_EXPERIMENT", str(analysed_study["experiment_dir"]))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "analysis")}}).execute()

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(output.output_type != "error" for cell in code for output in cell.outputs)

    def shown(fragment: str, mime: str):
        """What the first cell whose code contains `fragment` displayed as `mime`."""
        cell = next(cell for cell in code if fragment in cell.source)
        return next(output["data"][mime] for output in cell.outputs if mime in output.get("data", {}))

    def picture(fragment: str) -> Image.Image:
        return Image.open(io.BytesIO(base64.b64decode(shown(fragment, "image/png"))))

    study = analysed_study["study"]
    table_html = shown("table = load_results", "text/html")
    assert table_html.split("<tbody>")[1].count("<tr") == study.search.num_samples  # one row per trial
    assert picture("pareto_plot(").width > 400
    side, steps = study.data.image_size, study.probe.interpolation_steps
    assert picture("interpolation_grid(").size == ((steps + 3) * (side + 2) + 2, study.probe.pairs * (side + 2) + 2)
    assert picture("hybrid_grid(").size == (3 * (side + 2) + 2, study.probe.pairs * (side + 2) + 2)
    assert picture("prior_sample_grid(").size == (8 * (side + 2) + 2, 4 * (side + 2) + 2)
