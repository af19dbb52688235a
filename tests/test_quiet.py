"""TensorFlow's harmless start-up lines are dropped from stderr; every other line, a fatal one above all, is kept."""

import importlib
import io
import subprocess
import sys

import pytest

from vae_tune.training.quiet import filter_trial_stderr, forward, harmless_lines, has_gpu_device
from vae_tune.tuning.session import trial_environment

# What `import tensorflow` and the first device listing printed on a 2-core machine without a GPU
# (TensorFlow 2.21, 2026-12-04), the second library's copies left out.
STARTUP = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    b"I0000 00:00:1796359491.349199    9203 port.cc:153] oneDNN custom operations are on. You may see slightly "
    b"different numerical results due to floating-point round-off errors from different computation orders. To turn "
    b"them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n",
    b"I0000 00:00:1796359491.349507    9203 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will "
    b"not be used.\n",
    b"I0000 00:00:1796359491.688722    9203 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    b"available CPU instructions in performance-critical operations.\n",
    b"To enable the following instructions: AVX2 AVX512F AVX512_VNNI AVX512_BF16 FMA, in other operations, rebuild "
    b"TensorFlow with the appropriate compiler flags.\n",
    b"E0000 00:00:1796359599.718300   10657 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: Failed "
    b"call to cuInit: UNKNOWN ERROR (303)\n",
]
CUDA_LINES = [STARTUP[2], STARTUP[5]]
REAL_ERRORS = [
    b"E0000 00:00:1796359599.718300   10657 op_kernel.cc:1857] OP_REQUIRES failed at conv_ops.cc:1068 : "
    b"RESOURCE_EXHAUSTED: OOM when allocating tensor\n",
    b"F0000 00:00:1796359599.7 10657 cpu_feature_guard.cc:110] The TensorFlow library was compiled to use AVX "
    b"instructions, but these aren't available on your machine.\n",
    b"Traceback (most recent call last):\n",
    b"ImportError: libcudnn.so.9: cannot open shared object file\n",
]


def filtered(lines, gpu: bool) -> list[bytes]:
    out = io.BytesIO()
    forward(lines, out, harmless_lines(gpu=gpu))
    return out.getvalue().splitlines(keepends=True)


def test_the_start_up_lines_are_dropped_and_real_errors_kept_in_order():
    assert filtered([*STARTUP[:3], REAL_ERRORS[0], *STARTUP[3:], *REAL_ERRORS[1:]], gpu=False) == REAL_ERRORS


def test_on_a_machine_with_a_gpu_the_cuda_lines_stay_they_mean_the_gpu_goes_unused():
    assert filtered([*STARTUP, REAL_ERRORS[0]], gpu=True) == [*CUDA_LINES, REAL_ERRORS[0]]


def test_ray_runs_the_trial_hook_only_when_quiet():
    hook = trial_environment(quiet=True)["worker_process_setup_hook"]
    module, _, name = hook.rpartition(".")
    assert getattr(importlib.import_module(module), name) is filter_trial_stderr  # Ray imports it by this name
    assert "worker_process_setup_hook" not in trial_environment(quiet=False)  # --verbose: the trials' lines as they are
    assert trial_environment(quiet=True)["env_vars"] == trial_environment(quiet=False)["env_vars"]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=600)


@pytest.mark.slow
def test_a_fatal_error_reaches_stderr_though_the_process_aborts_at_once():
    """The filter is a process of its own: a thread would die with the aborted process, the error unforwarded."""
    done = run_python(
        "import os\n"
        "from vae_tune.training.quiet import StderrFilter, harmless_lines\n"
        "StderrFilter(harmless_lines(gpu=False)).start()\n"
        f"os.write(2, {STARTUP[0] + STARTUP[1]!r})\n"
        f"os.write(2, {REAL_ERRORS[1]!r})\n"
        "os.abort()\n"
    )
    assert done.returncode < 0  # killed by SIGABRT
    assert done.stderr == REAL_ERRORS[1]


@pytest.mark.slow
def test_tensorflow_imports_without_a_line_on_stderr_and_a_later_error_still_shows():
    done = run_python(
        "import os\n"
        "from vae_tune.training.quiet import import_tensorflow_quietly\n"
        "import_tensorflow_quietly()\n"
        "import tensorflow as tf\n"
        "print(len(tf.config.list_physical_devices('CPU')))\n"
        "os.write(2, b'after\\n')\n"
    )
    assert done.returncode == 0 and done.stdout == b"1\n"
    if not has_gpu_device():
        assert done.stderr == b"after\n"  # nothing of TensorFlow's; descriptor 2 back, unfiltered
    else:  # a CUDA line would mean the GPU goes unused, and stays; nothing else may
        *lines, last = done.stderr.splitlines(keepends=True)
        assert last == b"after\n" and all(b"cu" in line for line in lines), lines


@pytest.mark.slow
def test_a_trial_process_writes_its_stderr_through_the_filter(ray_session):
    @ray_session.remote
    def stderr_kind() -> str:
        import os
        import stat

        return "pipe" if stat.S_ISFIFO(os.fstat(2).st_mode) else "file"

    assert ray_session.get(stderr_kind.remote()) == "pipe"  # the setup hook ran before the task
