"""The devices a trial trains on: the GPUs Ray gave it, the tf.distribute strategy over them, precision.

A trial with two or more GPUs trains with MirroredStrategy over exactly those
GPUs; one GPU or none gets TensorFlow's default strategy. A CPU split into
logical devices (`split_cpu`) mirrors across them too, which is how the
multi-replica path is exercised on machines without GPUs.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import keras
import tensorflow as tf

# Cross-device all-reduce implementations, by the names a study uses (resources.all_reduce).
ALL_REDUCE_OPS = {
    "nccl": tf.distribute.NcclAllReduce,
    "hierarchical_copy": tf.distribute.HierarchicalCopyAllReduce,
    "one_device": tf.distribute.ReductionToOneDevice,
}


@dataclass(frozen=True)
class TrialDevices:
    strategy: tf.distribute.Strategy
    devices: tuple[str, ...]  # what the replicas run on: ("GPU:0", "GPU:1"), ("CPU:0",), ...
    gpu_ids: tuple[str, ...]  # the GPUs Ray assigned to the trial, as CUDA_VISIBLE_DEVICES names them
    precision: str  # the Keras dtype policy the model is built with
    all_reduce: str  # how replicas sum gradients; "" with a single replica
    fallback: str = ""  # why the trial trains on CPU although it was given GPUs

    @property
    def replicas(self) -> int:
        return self.strategy.num_replicas_in_sync

    def describe(self) -> str:
        """One line for the trial's log and the study's console."""
        if self.fallback:
            return self.fallback
        where = ", ".join(self.devices)
        if self.replicas > 1:
            return f"MirroredStrategy, {self.replicas} replicas on {where} ({self.all_reduce} all-reduce), {self.precision}"
        return f"{where}, {self.precision}"


def configure_threads(cpus: float) -> None:
    """Size TF's thread pools to the trial's CPU share.

    Without this every trial starts one thread per core, and two concurrent
    trials on two cores spend their time fighting over them. Must run before
    TF executes its first op.
    """
    threads = max(1, math.floor(cpus))
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
    except RuntimeError:  # TF already initialised in this process (tests, notebooks): keep its pools
        pass


def split_cpu(count: int) -> None:
    """Present the CPU as `count` logical devices, so MirroredStrategy has replicas without GPUs.

    Must run before TF initialises its devices (a fresh process).
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)


def choose_devices(gpu_ids: Sequence[str] | None = None, precision: str = "auto", all_reduce: str = "auto") -> TrialDevices:
    """The strategy, devices and precision of a trial given the GPU ids Ray assigned (None outside Ray).

    Ray sets CUDA_VISIBLE_DEVICES, so the GPUs TensorFlow lists are the trial's.
    With fake GPUs (a test cluster) or a CPU-only TensorFlow it lists none: the
    trial trains on CPU and `fallback` says so, rather than failing.
    """
    gpu_ids = tuple(str(i) for i in gpu_ids) if gpu_ids is not None else ()
    gpus = tf.config.list_physical_devices("GPU")
    if gpu_ids and len(gpus) > len(gpu_ids):
        # CUDA_VISIBLE_DEVICES was left unset (RAY_EXPERIMENTAL_NOSET_CUDA_VISIBLE_DEVICES):
        # TF sees every GPU of the node, indexed as Ray numbers them. Keep the trial's.
        gpus = [gpus[int(i)] for i in gpu_ids]
        tf.config.set_visible_devices(gpus, "GPU")
    for gpu in gpus:
        # Memory growth: a trial takes what it uses, not the whole card from trials packed beside it.
        with contextlib.suppress(RuntimeError):  # already initialised: growth can no longer change
            tf.config.experimental.set_memory_growth(gpu, True)
    fallback = ""
    if gpu_ids and not gpus:
        fallback = (f"Ray assigned GPU {','.join(gpu_ids)} but TensorFlow sees no GPU "
                    f"(CPU-only TensorFlow, no CUDA driver, or fake GPUs): training on CPU")
    kind = "GPU" if gpus else "CPU"
    devices = tuple(f"{kind}:{i}" for i in range(len(gpus) if gpus else len(tf.config.list_logical_devices("CPU"))))
    if precision == "auto":
        precision = "mixed_float16" if gpus else "float32"
    if len(devices) < 2:
        return TrialDevices(tf.distribute.get_strategy(), devices, gpu_ids, precision, "", fallback)
    all_reduce = _all_reduce(all_reduce, gpus=bool(gpus))
    strategy = tf.distribute.MirroredStrategy([f"/{d}" for d in devices], cross_device_ops=ALL_REDUCE_OPS[all_reduce]())
    return TrialDevices(strategy, devices, gpu_ids, precision, all_reduce, fallback)


def _all_reduce(choice: str, gpus: bool) -> str:
    """NCCL where TensorFlow has its kernels (Linux CUDA builds), else reduction on one device."""
    if not gpus:
        return "one_device"  # NCCL and hierarchical copy are GPU-to-GPU only
    from tensorflow.python.framework import kernels  # the check tf.distribute's own chooser makes

    has_nccl = bool(kernels.get_registered_kernels_for_op("NcclAllReduce"))
    if choice == "auto":
        return "nccl" if has_nccl else "one_device"
    if choice == "nccl" and not has_nccl:
        raise RuntimeError("resources.all_reduce = \"nccl\": this TensorFlow build has no NCCL; use auto or one_device")
    return choice


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy `name`, then restore the previous global policy."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
