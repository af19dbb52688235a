"""What restarts cost, read from hand-written starts.log and result.json files whose sums can be checked by eye."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vae_tune.analysis.restarts import describe_restarts, study_restarts
from vae_tune.names import EXPLOITED_TRIAL, RESULTS_FILE, SETUP_SECONDS, STARTS_FILE

ROOT = Path(__file__).resolve().parents[1]


def write_lines(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


@pytest.fixture
def experiment(tmp_path):
    """Two trials from t=100 s to the last result at t=300 s: two exploits (3 s and 5 s of setup, relaunched 7 s and
    5 s after the report before them), one other restart."""
    a, b = tmp_path / "trial_a", tmp_path / "trial_b"
    write_lines(a / STARTS_FILE, [
        {"pid": 1, "time": 102.0, SETUP_SECONDS: 2.0, EXPLOITED_TRIAL: None},  # entered at 100: the study's start
        {"pid": 2, "time": 150.0, SETUP_SECONDS: 3.0, EXPLOITED_TRIAL: "b"},
        {"pid": 3, "time": 200.0, SETUP_SECONDS: 1.0, EXPLOITED_TRIAL: None},  # paused for another trial, or resumed
    ])
    write_lines(a / RESULTS_FILE, [{"pid": 1, "timestamp": 140}, {"pid": 2, "timestamp": 160, EXPLOITED_TRIAL: "b"},
                                   {"pid": 3, "timestamp": 250}])
    # A starts.log from before it named the donor: the exploit is known by its process's first report.
    write_lines(b / STARTS_FILE, [{"pid": 4, "time": 103.0, SETUP_SECONDS: 1.5}, {"pid": 5, "time": 180.0, SETUP_SECONDS: 5.0}])
    write_lines(b / RESULTS_FILE, [{"pid": 4, "timestamp": 170}, {"pid": 5, "timestamp": 190, EXPLOITED_TRIAL: "a"},
                                   {"pid": 5, "timestamp": 300}])
    (b / RESULTS_FILE).write_text((b / RESULTS_FILE).read_text() + '{"pid": 5, "timest')  # still being written
    return tmp_path


def test_restarts_are_counted_by_cause_against_the_wall_time(experiment):
    restarts = study_restarts(experiment)
    assert restarts.first == [2.0, 1.5]
    assert restarts.exploits == [3.0, 5.0]
    assert restarts.others == [1.0]
    assert restarts.relaunches == [7.0, 5.0]
    assert restarts.wall_seconds == 200.0
    assert restarts.share(restarts.exploits) == pytest.approx(0.04)


def test_exploit_cost_prints_the_counts_sums_medians_and_share(experiment):
    done = subprocess.run([sys.executable, str(ROOT / "analysis" / "exploit_cost.py"), str(experiment)],
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)}, timeout=120, check=True)
    assert done.stdout.splitlines() == [
        str(experiment),
        "first starts: 2, setup 3.5 s in all, median 1.75 s",
        "exploits: 2, setup 8.0 s in all, median 4.00 s; relaunch 12.0 s in all, median 6.00 s",
        "other restarts (a trial paused for another, retries, resumes): 1, setup 1.0 s in all, median 1.00 s",
        "wall time 200.0 s; the exploits' setup is 4.0% of it, their relaunches 6.0%",
    ]


def test_a_study_without_starts_has_no_wall_time(tmp_path):
    restarts = study_restarts(tmp_path)
    assert restarts.wall_seconds == 0.0 and restarts.share(restarts.exploits) == 0.0
    assert describe_restarts(restarts)[1] == "exploits: 0, no setup; no relaunch"
