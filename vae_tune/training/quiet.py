"""TensorFlow's start-up lines that only look alarming, dropped; every other line of stderr kept.

TensorFlow 2.21 writes its first lines from C++ before absl's logging is set
up, so neither TF_CPP_MIN_LOG_LEVEL nor GLOG_minloglevel removes them
(measured: 6-8 lines remain for a bare `import tensorflow`): the "before
absl::InitializeLog()" notice, the oneDNN notice and, without an NVIDIA GPU,
"Could not find cuda drivers", each twice (two libraries load), then a
"failed call to cuInit" ERROR when devices are first listed. They go to file
descriptor 2 directly, so only a filter on that descriptor removes them.
TF_ENABLE_ONEDNN_OPTS=0 would silence the oneDNN notice by turning oneDNN off,
and CUDA_VISIBLE_DEVICES="" leaves both CUDA lines as they are (measured).

`StderrFilter` routes descriptor 2 through a filter process that drops the
lines of `harmless_lines()` and passes every other line through at once, so a
real C++ error still shows. A process, not a thread: a fatal C++ error aborts
the process a thread lives in before it forwards the last lines, the error
among them; the filter process forwards them and exits when its pipe closes.

Run as `python -m vae_tune.training.quiet PATTERN...`, it is that filter.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import subprocess
import sys
from collections.abc import Iterable
from typing import BinaryIO

# absl's line prefix: severity, date, time (seconds since 1970 before absl is set up), thread, file:line.
_ABSL = r"^[IWEF]\d{4} [\d:.]+ +\d+ [\w.]+:\d+\] "
ALWAYS_HARMLESS = (
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR$",
    _ABSL + r"oneDNN custom operations are on\. ",
    _ABSL + r"This TensorFlow binary is optimized to use available CPU instructions in performance-critical operations\.$",
    r"^To enable the following instructions: [\w ]+, in other operations, rebuild TensorFlow with the appropriate "
    r"compiler flags\.$",
)
# Noise only where no GPU exists: on a machine with one, either line means TensorFlow will not use it.
HARMLESS_WITHOUT_GPU = (
    _ABSL + r"Could not find cuda drivers on your machine, GPU will not be used\.$",
    _ABSL + r"failed call to cuInit: ",
)


def has_gpu_device() -> bool:
    """Whether this machine has a device node an NVIDIA driver serves (/dev/nvidia0..., or WSL2's /dev/dxg)."""
    return bool(glob.glob("/dev/nvidia[0-9]*")) or os.path.exists("/dev/dxg")


def harmless_lines(gpu: bool | None = None) -> tuple[str, ...]:
    """The patterns of lines to drop; the CUDA ones only on a machine without a GPU (`gpu`: default, look)."""
    gpu = has_gpu_device() if gpu is None else gpu
    return ALWAYS_HARMLESS if gpu else ALWAYS_HARMLESS + HARMLESS_WITHOUT_GPU


def forward(lines: Iterable[bytes], out: BinaryIO, harmless: Iterable[str]) -> None:
    """Write each line that matches none of `harmless` to `out`, at once, bytes as they came."""
    patterns = [re.compile(pattern) for pattern in harmless]
    for line in lines:
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if not any(pattern.search(text) for pattern in patterns):
            out.write(line)
            out.flush()


class StderrFilter:
    """File descriptor 2 through `forward` in a process of its own, from `start` (or `with`) to `stop`."""

    def __init__(self, harmless: Iterable[str] | None = None):
        self.harmless = list(harmless_lines() if harmless is None else harmless)
        self.saved: int | None = None
        self.process: subprocess.Popen | None = None

    def start(self) -> StderrFilter:
        sys.stderr.flush()
        self.saved = os.dup(2)
        read, write = os.pipe()
        # A session of its own: Ctrl-C stops the command, not the filter, which forwards the last lines and exits.
        self.process = subprocess.Popen([sys.executable, "-m", __name__, *self.harmless], stdin=read, stdout=self.saved,
                                        stderr=self.saved, start_new_session=True)
        os.close(read)
        os.dup2(write, 2)
        os.close(write)
        return self

    def stop(self) -> None:
        """Descriptor 2 back as it was, once the filter has forwarded what it was given."""
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        with contextlib.suppress(subprocess.TimeoutExpired):
            # A process started meanwhile may hold the pipe open; the filter then forwards until it ends.
            self.process.wait(timeout=10)

    def __enter__(self) -> StderrFilter:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and list its GPUs (where cuInit fails on a machine without one) with harmless lines dropped.

    For the driver: afterwards TensorFlow says nothing more on its own unless something is wrong.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # INFO and WARNING off once absl is up; ERROR stays
    with StderrFilter():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")


def filter_trial_stderr() -> None:
    """Ray's worker_process_setup_hook (vae_tune.tuning.session): a trial process's stderr filtered for its life.

    The trial imports TensorFlow when Ray hands it the trainable, after this
    hook; its filter process ends with it. A failure here must not stop the
    worker: its stderr then stays as it was.
    """
    with contextlib.suppress(OSError):
        StderrFilter().start()


if __name__ == "__main__":
    forward(sys.stdin.buffer, sys.stdout.buffer, sys.argv[1:])
