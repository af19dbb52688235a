"""The tutorial's convolutional VAE, built from a `ModelConfig`.

Encoder: three 3x3 stride-2 Conv2D + BatchNorm layers, Flatten, Dense mean and
Dense log-variance (zero-initialised, so training starts from the prior).
Decoder: Dense to an (H/16, W/16, 64) map, three 3x3 stride-2 Conv2DTranspose +
BatchNorm layers and a final stride-2 Conv2DTranspose to 3 sigmoid channels.

The loss is stated per image so `kl_weight` means the same at every image and
latent size: the sum of squared error over pixels plus `kl_weight` times the KL
summed over latent dimensions, averaged over the batch. The tutorial's
`1000 * MSE + mean KL` is `kl_weight = H*W*3 / (1000 * latent_dim)` (0.19 at
128x128 with 256 latents). The tutorial samples with `exp(log_var)` but
computes the KL as if it were log-sigma; here it is log-variance in both.

The squared error is taken in the orthonormal luminance/chroma basis
(`vae_tune.metrics.OPPONENT`) with the chroma part weighted by `chroma_weight`:
chroma is ~4% of a product catalogue's pixel variance, so a plain RGB error
learns colour last and a model sits on a sepia plateau for tens of epochs.
At `chroma_weight = 1` the basis change is a rotation and the term is the
tutorial's RGB sum of squared error (docs/scores.md, "The loss").
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from vae_tune.config import ModelConfig


class Sampling(layers.Layer):
    """z = mean + exp(log_var / 2) * eps, eps ~ N(0, I); seeded so runs repeat."""

    def __init__(self, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        # A SeedGenerator keeps the random op traceable under tf.function and seeded.
        self.seed_generator = keras.random.SeedGenerator(seed)

    def reseed(self, seed: int) -> None:
        """Restart the noise stream at `seed`.

        The generator's counter is not part of the saved weights; reseeding at
        every epoch makes a resumed trial draw the same noise as an unbroken one.
        """
        self.seed_generator.state.assign(np.array([seed % 2**31, 0], dtype=self.seed_generator.state.dtype))

    def call(self, inputs):
        z_mean, z_log_var = inputs
        return z_mean + ops.exp(0.5 * z_log_var) * self._noise(ops.shape(z_mean))

    def _noise(self, shape):
        """eps for this replica's rows of the global batch.

        Every replica of a MirroredStrategy reads the same seed, so each would draw
        the same noise for its own rows. Drawing the global batch's noise and
        taking this replica's block (tf.distribute splits a batch into consecutive
        blocks) gives every image the noise it gets on a single device.
        """
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        if replicas == 1:
            return keras.random.normal(shape, seed=self.seed_generator)
        rows, width = shape[0], shape[1]
        noise = keras.random.normal((rows * replicas, width), seed=self.seed_generator)
        return ops.slice(noise, [context.replica_id_in_sync_group * rows, 0], [rows, width])


def _batchnorm(config: ModelConfig) -> layers.Layer:
    # Synchronized: statistics over the global batch, not each replica's share, so a
    # step computes the same on 1 replica or 8 (and no replica normalises a tiny batch).
    return layers.BatchNormalization(momentum=config.batchnorm_momentum, synchronized=True)


# Layers kept in float32 under a mixed precision policy: the latent heads (exp(log_var)
# overflows float16) and the output image the loss compares with the input.
FLOAT32 = "float32"


def build_encoder(config: ModelConfig) -> keras.Model:
    inputs = keras.Input(shape=(config.image_size, config.image_size, 3), name="image")
    x = inputs
    for filters in config.encoder_filters:
        x = layers.Conv2D(filters, 3, strides=2, padding="same", activation="relu")(x)
        x = _batchnorm(config)(x)
    x = layers.Flatten()(x)
    z_mean = layers.Dense(config.latent_dim, kernel_initializer="zeros", dtype=FLOAT32, name="z_mean")(x)
    z_log_var = layers.Dense(config.latent_dim, kernel_initializer="zeros", dtype=FLOAT32, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def build_decoder(config: ModelConfig) -> keras.Model:
    side = config.image_size // 16
    inputs = keras.Input(shape=(config.latent_dim,), name="z")
    x = layers.Dense(side * side * config.decoder_seed_channels, activation="relu")(inputs)
    x = layers.Reshape((side, side, config.decoder_seed_channels))(x)
    for filters in config.decoder_filters:
        x = layers.Conv2DTranspose(filters, 3, strides=2, padding="same", activation="relu")(x)
        x = _batchnorm(config)(x)
    outputs = layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="sigmoid", dtype=FLOAT32, name="image")(x)
    return keras.Model(inputs, outputs, name="decoder")


def reconstruction_error(x, x_hat, chroma_weight: float = 1.0):
    """Per image, luminance + chroma_weight * chroma sum of squared error: shape [batch].

    OPPONENT is orthonormal, so the RGB squared error is the luminance part plus
    the chroma part, and the luminance axis (1, 1, 1) / sqrt(3) makes the
    luminance part the squared channel sum over 3. At weight 1 this returns the
    RGB sum itself, bit for bit.
    """
    error = x - x_hat
    rgb = ops.sum(ops.square(error), axis=(1, 2, 3))
    if chroma_weight == 1.0:
        return rgb
    luminance = ops.sum(ops.square(ops.sum(error, axis=-1)), axis=(1, 2)) / 3.0
    return luminance + chroma_weight * (rgb - luminance)


def gaussian_kl(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over latent dimensions: shape [batch]."""
    return -0.5 * ops.sum(1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)


class VAE(keras.Model):
    """Encoder + sampling + decoder, trained with `fit` through `compute_loss`."""

    def __init__(self, config: ModelConfig, seed: int = 0, **kwargs):
        super().__init__(name="vae", **kwargs)
        self.config = config
        self.encoder = build_encoder(config)
        self.decoder = build_decoder(config)
        self.sampling = Sampling(seed=seed, dtype=FLOAT32)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def call(self, images, training=False):
        z_mean, z_log_var = self.encoder(images, training=training)
        z = self.sampling([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=training)
        return {"reconstruction": reconstruction, "z_mean": z_mean, "z_log_var": z_log_var}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        reconstruction = reconstruction_error(x, y_pred["reconstruction"], self.config.chroma_weight)
        kl = gaussian_kl(y_pred["z_mean"], y_pred["z_log_var"])
        self.reconstruction_tracker.update_state(reconstruction)
        self.kl_tracker.update_state(kl)
        loss = ops.mean(reconstruction + self.config.kl_weight * kl)
        # Keras' own losses divide by the replica count so that summing gradients across
        # replicas gives the global-batch mean; a custom compute_loss has to do the same.
        # Exact because every replica gets an equal share of each batch (training_batches).
        return loss / tf.distribute.get_strategy().num_replicas_in_sync


def build_vae(config: ModelConfig, learning_rate: float, seed: int = 0) -> VAE:
    """A compiled, built VAE. Call inside `strategy.scope()` to place its variables."""
    model = VAE(config, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
    model(ops.zeros((1, config.image_size, config.image_size, 3)))  # create the weights now
    return model
