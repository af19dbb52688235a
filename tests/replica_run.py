"""A trial on a CPU split into N logical devices, run by tests/test_distribute.py in a fresh process.

Logical devices must be configured before TensorFlow initialises, which the
pytest process has long done. Usage: replica_run.py REPLICAS OUT_DIR. Writes
OUT_DIR/first_step.npz (loss and gradients of the first training step) and
prints one JSON line: replica count, epoch metrics, resume check.
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from vae_tune.training.distribute import split_cpu  # noqa: E402

replicas, out = int(sys.argv[1]), Path(sys.argv[2])
split_cpu(replicas)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests.conftest import TINY_OVERRIDES  # noqa: E402
from vae_tune.config import load_study  # noqa: E402
from vae_tune.data.dataset import load_dataset  # noqa: E402
from vae_tune.training.trainer import TrialTrainer  # noqa: E402

PARAMS = {"kl_weight": 0.05}


def first_step(trainer: TrialTrainer) -> tuple[float, list[np.ndarray]]:
    """Loss and gradients of the first batch, summed over replicas as the optimizer sums them."""
    model, strategy = trainer.model, trainer.strategy
    batch = next(iter(strategy.experimental_distribute_dataset(trainer.epoch_batches().take(1))))

    def replica_step(images):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=images, y_pred=model(images, training=True))
        return loss, tape.gradient(loss, model.trainable_variables)

    loss, gradients = strategy.run(tf.function(replica_step), args=(batch,))
    total = lambda value: strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None).numpy()  # noqa: E731
    return float(total(loss)), [total(g) for g in gradients]


study = load_study("smoke", TINY_OVERRIDES)
dataset = load_dataset(study.data)
trainer = TrialTrainer(study, PARAMS, dataset)
initial_weights = [np.asarray(v) for v in trainer.model.weights]
loss, gradients = first_step(trainer)
np.savez(out / "first_step.npz", *gradients, loss=loss)

# Reset the weights the probe step's BatchNorm statistics touched, then train as a trial does.
for variable, value in zip(trainer.model.weights, initial_weights):
    variable.assign(value)
epoch_1 = trainer.train_epoch()
trainer.save(out / "checkpoint", epoch_1)
epoch_2 = trainer.train_epoch()

resumed = TrialTrainer(study, PARAMS, dataset)
resumed.restore(out / "checkpoint")
resumed_epoch = resumed.epoch
resumed_2 = resumed.train_epoch()

print(json.dumps({
    "replicas": trainer.strategy.num_replicas_in_sync,
    "devices": trainer.devices.describe(),
    "epoch_1": epoch_1,
    "epoch_2": epoch_2,
    "resumed_epoch": resumed_epoch,
    "resumed_2": resumed_2,
}))
