"""Training data: the Transform preprocessing_fn (bytes -> [-1, 1] pixels) and tf.data readers."""
