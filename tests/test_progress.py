"""The overall progress line: trials ended, running and pending, epochs done of the budget, time left."""

import time
from types import SimpleNamespace

from vae_tune.tuning.progress import ProgressPrinter, duration


def trial(status: str, epoch: int | None = None):
    """What the printer reads of Tune's Trial: its id, status and last result."""
    return SimpleNamespace(trial_id=f"{status}_{epoch}", status=status, last_result={} if epoch is None else {"epoch": epoch})


# 5 trials of up to 10 epochs: one ended (ASHA stopped it after 3), one failed in epoch 2 (1 reported),
# one at epoch 4, one waiting, and one the searcher has not made yet.
TRIALS = [trial("TERMINATED", 3), trial("ERROR", 1), trial("RUNNING", 4), trial("PENDING")]


def test_the_line_counts_trials_and_epochs_and_waits_for_a_few_epochs_before_estimating():
    printer = ProgressPrinter(total_trials=5, max_epochs=10)
    # Left: 6 of the running trial's, 10 of the waiting one's, 10 of the one not made yet.
    assert printer.overall(TRIALS) == "5 trials: 2 ended (1 failed), 1 running, 2 pending; 8 of 34 epochs"
    printer.trained = 2  # too few to measure the pace
    assert "left" not in printer.overall(TRIALS)


def test_the_time_left_is_the_epochs_left_at_this_run_s_pace_and_a_bound_when_asha_may_stop_trials():
    printer = ProgressPrinter(total_trials=5, max_epochs=10)
    printer.started = time.monotonic() - 130  # 13 epochs in 130 s: 0.1 epoch/s; 26 epochs left: 260 s
    printer.trained = 13
    assert printer.overall(TRIALS).endswith("; 8 of 34 epochs; about 4 min left")
    asha = ProgressPrinter(total_trials=5, max_epochs=10, stops_early=True)
    asha.started, asha.trained = printer.started, 13
    assert asha.overall(TRIALS).endswith("; 8 of at most 34 epochs; at most about 4 min left")
    done = [trial("TERMINATED", 10)] * 5
    assert printer.overall(done) == "5 trials: 5 ended, 0 running, 0 pending; 50 of 50 epochs"  # nothing left


def test_epochs_reported_again_from_a_checkpoint_do_not_count_towards_the_pace():
    printer = ProgressPrinter(total_trials=1, max_epochs=10)
    running = trial("RUNNING")
    result = {"epoch": 1, "objective": 1.0, "val/blur": 0.5, "val/roughness": 0.5, "time/train_seconds": 1.0}
    printer.on_trial_result(0, [running], running, result)
    printer.on_trial_result(0, [running], running, {**result, "epoch": 2, "reported_again": True})
    assert printer.trained == 1


def test_a_line_on_each_trial_end_and_every_30_seconds_otherwise(capsys):
    printer = ProgressPrinter(total_trials=5, max_epochs=10, every=30)
    printer.on_step_end(0, TRIALS)
    assert capsys.readouterr().out == ""  # nothing new, 30 s not up
    printer.on_trial_complete(0, TRIALS, TRIALS[0])
    printer.on_step_end(1, TRIALS)
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1].endswith("] 5 trials: 2 ended (1 failed), 1 running, 2 pending; 8 of 34 epochs")
    printer.on_step_end(2, TRIALS)
    assert capsys.readouterr().out == ""
    printer.overall_printed -= 30
    printer.on_step_end(3, TRIALS)
    assert capsys.readouterr().out.endswith("8 of 34 epochs\n")


def test_durations_read_as_precisely_as_an_estimate_deserves():
    assert [duration(s) for s in (40, 89, 90, 750, 5399, 5400, 9000)] == [
        "40 s", "89 s", "2 min", "12 min", "90 min", "1.5 h", "2.5 h"]
