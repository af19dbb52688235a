"""Plain Keras training of a study's model, in a process of its own: the bare side of the benchmarks.

- `plain_fit`: one `model.fit` over every epoch, on the same training images
  through the same tf.data pipeline as a trial, with nothing else: no
  scoring, no checkpoints, no Ray. Between epochs (outside their timing) the
  same process times a float32 matmul: the machine's own FLOP/s under the
  same thread budget and the same load.
- `compare_options`: the same model under training options (XLA, batch size,
  Keras' own array input), one model per option, their epochs taken in turn.

Both run in a fresh spawned process (`in_fresh_process`) whose TensorFlow
thread pools are sized like a trial's (`configure_threads`), so neither side
inherits the other's threads or traced functions.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any

MATMUL_SIZE = 1024  # large enough to run at the core's peak, small enough to take ~40 ms a product
MATMUL_REPEAT = 5


def in_fresh_process(function: Callable, *args) -> Any:
    """`function(*args)` in a new Python process (spawned: no TensorFlow state is inherited)."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def forward_matmuls(model) -> list[tuple[int, int, int]]:
    """The model's convolutions and dense layers as the matrix products they amount to, per image.

    (rows, inner, columns): a Conv2D is a product over its output pixels of
    (kernel window x input channels) by output channels; a Conv2DTranspose one
    over its input pixels of input channels by (kernel window x output
    channels); a Dense layer one row. BatchNorm, activations, the loss and Adam
    are left out: they are elementwise and bound by memory.
    """
    import keras

    products = []
    for layer in [*model.encoder.layers, *model.decoder.layers]:
        if isinstance(layer, keras.layers.Conv2DTranspose):  # before Conv2D: it is a subclass of it
            height, width, filters, channels = layer.kernel.shape
            products.append((_pixels(layer.input.shape), channels, height * width * filters))
        elif isinstance(layer, keras.layers.Conv2D):
            height, width, channels, filters = layer.kernel.shape
            products.append((_pixels(layer.output.shape), height * width * channels, filters))
        elif isinstance(layer, keras.layers.Dense):
            products.append((1, *layer.kernel.shape))
    return [tuple(map(int, product)) for product in products]


def training_flops_per_image(model) -> float:
    """FLOPs of one training step per image, counted from the layers: 3x forward.

    Forward and the two gradients (of the inputs, of the weights) each cost one
    matrix product of the layer's size: the usual estimate.
    """
    return 3.0 * sum(2 * rows * inner * columns for rows, inner, columns in forward_matmuls(model))


def _pixels(shape) -> int:
    return int(shape[1]) * int(shape[2])


def layer_shaped_flops_per_second(model, batch_size: int, repeat: int = 20) -> float:
    """FLOP/s of plain matmuls shaped like the model's layers at this batch size, FLOP-weighted.

    The model's products are thin (inner sizes of 4..288, 3..288 columns), so
    they reuse far less of each value loaded than a 1024-square matmul does: this
    is the rate the layers could reach as matmuls, before BatchNorm and the rest.
    """
    import tensorflow as tf

    flops = seconds = 0.0
    for rows, inner, columns in forward_matmuls(model):
        a = tf.random.stateless_normal((batch_size * rows, inner), seed=(1, 2))
        b = tf.random.stateless_normal((inner, columns), seed=(3, 4))
        tf.linalg.matmul(a, b).numpy()
        started = time.perf_counter()
        for _ in range(repeat):
            tf.linalg.matmul(a, b).numpy()
        seconds += time.perf_counter() - started
        flops += 2.0 * batch_size * rows * inner * columns * repeat
    return flops / seconds


def matmul_flops_per_second(size: int = MATMUL_SIZE, repeat: int = MATMUL_REPEAT) -> float:
    """FLOP/s of float32 matrix products, under this process's TensorFlow thread settings."""
    import tensorflow as tf

    a = tf.random.stateless_normal((size, size), seed=(1, 2))
    b = tf.random.stateless_normal((size, size), seed=(3, 4))
    tf.linalg.matmul(a, b).numpy()  # first call: kernel selection, allocation
    started = time.perf_counter()
    for _ in range(repeat):
        tf.linalg.matmul(a, b).numpy()
    return 2.0 * size**3 * repeat / (time.perf_counter() - started)


def _setup(study_dict: dict):
    """The study, its model config and training images, in a process whose threads match a trial's."""
    from vae_tune.training.distribute import configure_threads

    configure_threads(study_dict["resources"]["cpus_per_trial"])  # before TensorFlow runs its first op
    from vae_tune.config import study_from_dict
    from vae_tune.data.dataset import load_dataset, split_indices

    study = study_from_dict(study_dict)
    dataset = load_dataset(study.data)
    train, _ = split_indices(dataset.ids, study.data.validation_fraction, study.data.seed)
    return study, dataset, train


def plain_fit(study_dict: dict, epochs: int, time_matmul: bool = True) -> dict[str, Any]:
    """Train the study's fixed model with one bare `model.fit`; time each epoch and a matmul between epochs."""
    import keras

    from vae_tune.data.dataset import training_batches
    from vae_tune.training.model import build_vae

    study, dataset, train = _setup(study_dict)
    model_config, training = study.trial({})
    keras.utils.set_random_seed(training.seed)
    model = build_vae(model_config, training.learning_rate, seed=training.seed)

    epoch_seconds: list[float] = []
    matmul: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.started)
            if time_matmul:
                matmul.append(matmul_flops_per_second())  # between epochs, outside their timing

    batches = training_batches(dataset.images, train, training.batch_size, seed=training.seed)
    model.fit(batches, epochs=epochs, verbose=0, callbacks=[Timer()])
    layer_shaped = layer_shaped_flops_per_second(model, training.batch_size) if time_matmul else None

    # The input pipeline on its own: could it hold training back?
    started = time.perf_counter()
    for _ in batches:
        pass
    pipeline_rate = len(train) / (time.perf_counter() - started)
    return {
        "train_images": len(train),
        "epoch_seconds": epoch_seconds,
        "matmul_flops_per_second": matmul,
        "training_flops_per_image": training_flops_per_image(model),
        "pipeline_images_per_second": pipeline_rate,
        "layer_shaped_flops_per_second": layer_shaped,
    }


def two_fits_at_once(study_dict: dict, epochs: int) -> float:
    """Images/s of two bare fits running at once, each in a process of its own (like two concurrent trials).

    Each sizes its thread pools from `resources.cpus_per_trial`; no matmul between
    epochs, which would slow the other process's epoch.
    """
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        runs = list(pool.map(plain_fit, [study_dict] * 2, [epochs] * 2, [False] * 2))
    return sum(run["train_images"] / statistics.mean(run["epoch_seconds"][1:]) for run in runs)


# Options a study could train with; each changes how the same model trains, not what it is.
OPTIONS = {
    "default": {},  # vae-tune's tf.data pipeline, batch 32, no XLA: what a trial does
    "xla": {"jit_compile": True},  # XLA-compiled train step (Keras leaves it off on CPU)
    "batch64": {"batch_size": 64},  # twice the default batch: fewer, larger steps (changes the results)
    "arrays": {"arrays": True},  # Keras' own input from float32 arrays instead of vae-tune's pipeline
}


def compare_options(study_dict: dict, epochs: int, options: tuple[str, ...]) -> dict[str, list[float]]:
    """Seconds per epoch of each option, their epochs taken in turn (first epoch, with tracing, dropped)."""
    import keras

    from vae_tune.data.dataset import training_batches
    from vae_tune.training.model import build_vae

    study, dataset, train = _setup(study_dict)
    model_config, training = study.trial({})
    arrays = dataset.images[train].astype("float32") / 255.0
    models = {}
    for name in options:
        keras.utils.set_random_seed(training.seed)
        models[name] = build_vae(model_config, training.learning_rate, seed=training.seed)
        models[name].jit_compile = OPTIONS[name].get("jit_compile", False)
    seconds: dict[str, list[float]] = {name: [] for name in options}
    for epoch in range(epochs):
        for name in options if epoch % 2 == 0 else reversed(options):
            batch_size = OPTIONS[name].get("batch_size", training.batch_size)
            started = time.perf_counter()
            if OPTIONS[name].get("arrays"):
                models[name].fit(arrays, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
            else:
                batches = training_batches(dataset.images, train, batch_size, seed=epoch)
                models[name].fit(batches, epochs=1, verbose=0)
            seconds[name].append(time.perf_counter() - started)
    return {name: values[1:] for name, values in seconds.items()}
