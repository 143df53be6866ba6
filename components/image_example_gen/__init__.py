"""A TFX component that turns a folder of images into train/eval tf.Example TFRecords."""

from artgan.components.image_example_gen.component import ImageExampleGen

__all__ = ["ImageExampleGen"]
