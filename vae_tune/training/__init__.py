"""Training: TensorFlow and Keras, never Ray. The model, its devices, scoring, checkpoints, one trial's epoch loop."""
