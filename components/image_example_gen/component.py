"""ImageExampleGen: a TFX component that turns a folder of images into train/eval Examples."""

from __future__ import annotations

from tfx import types
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import standard_artifacts
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.types.system_executions import Process

from artgan.components.image_example_gen import executor
from artgan.config import DataConfig

_DATA_DEFAULTS = DataConfig()


class ImageExampleGenSpec(types.ComponentSpec):
    """Parameters and output of ImageExampleGen."""

    PARAMETERS = {
        executor.INPUT_BASE_KEY: ExecutionParameter(type=str),
        executor.EVAL_PERCENT_KEY: ExecutionParameter(type=int),
        executor.MAX_PIXELS_KEY: ExecutionParameter(type=int, optional=True),
        executor.INPUT_FINGERPRINT_KEY: ExecutionParameter(type=str, optional=True),
    }
    INPUTS = {}
    OUTPUTS = {executor.EXAMPLES_KEY: ChannelParameter(type=standard_artifacts.Examples)}
    TYPE_ANNOTATION = Process


class ImageExampleGen(base_component.BaseComponent):
    """Reads every good image under `input_base` into tf.Examples, split train/eval.

    Features: image (the file's bytes, or a lossless PNG where TF would decode the file wrongly),
    height and width (upright), channels (of `image` decoded), orientation (EXIF, still to be
    applied to `image`), format (of the file), normalized (1: `image` is that PNG), path and,
    when all files sit in class subfolders, label and label_name. Bad files are skipped and
    listed with their reason in `<examples uri>/skipped.jsonl`; counts (num_examples,
    num_skipped, skipped_reasons, num_normalized, ...) are custom properties of the artifact.
    """

    SPEC_CLASS = ImageExampleGenSpec
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(executor.Executor)

    def __init__(
        self,
        input_base: str,
        eval_percent: int = _DATA_DEFAULTS.eval_percent,
        input_fingerprint: str = "",
        max_pixels: int = _DATA_DEFAULTS.max_pixels,
    ):
        """input_base: the image folder; eval_percent: share of files (by path hash) in eval.

        input_fingerprint: ``listing.folder_fingerprint(input_base)`` for a local folder, so a
        cached run notices changed files; empty for remote folders. max_pixels: larger images
        are skipped before they are decoded.
        """
        spec = ImageExampleGenSpec(
            input_base=input_base,
            eval_percent=eval_percent,
            input_fingerprint=input_fingerprint,
            max_pixels=max_pixels,
            examples=types.Channel(type=standard_artifacts.Examples),
        )
        super().__init__(spec=spec)
