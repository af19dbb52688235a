"""Tuning: Ray Tune around the training layer. The Tuner, the trainable, resume, the Ray session, console progress."""
