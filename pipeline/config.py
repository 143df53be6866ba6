"""The one typed configuration of an artgan run: every default lives here.

The CLI, the pipeline definition and the tests all start from these objects. Components receive
the sections they need as JSON (``to_json``) and parse them back with ``from_json``, so a run's
fully resolved configuration is always recorded in MLMD as an execution property.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, TypeVar

from artgan.errors import ArtganError

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How images become training tensors."""

    resolution: int = 16  # square output size in pixels, a power of two >= 8
    channels: int = 1  # 1 (grayscale) or 3 (RGB)
    eval_percent: int = 20  # share of files (by stable hash of the path) in the eval split

    def validate(self) -> None:
        res = self.resolution
        if res < 8 or res > 256 or res & (res - 1):
            raise ArtganError(f"data.resolution must be a power of two from 8 to 256, got {res}")
        if self.channels not in (1, 3):
            raise ArtganError(f"data.channels must be 1 or 3, got {self.channels}")
        if not 1 <= self.eval_percent <= 50:
            raise ArtganError(f"data.eval_percent must be in 1..50, got {self.eval_percent}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The GAN trainer: sizes, optimiser and schedule."""

    train_steps: int = 3000
    batch_size: int = 64
    latent_dim: int = 64
    architecture: str = "conv"  # conv | resnet | dcgan (models/networks.py ARCHITECTURES)
    loss: str = "non_saturating"  # non_saturating | hinge | wgan_gp (models/losses.py)
    augment: str = ""  # DiffAugment policy, e.g. "color,translation,cutout"; "" for none
    r1_gamma: float = 0.0  # R1 penalty weight on real images; 0 disables
    r1_interval: int = 16  # lazy R1: applied every this many steps
    checkpoint_every_steps: int = 500  # a crashed run resumes from the last checkpoint
    simultaneous_updates: bool = False  # G and D from one forward pass (the DCGAN tutorial's)
    # Class-conditional G and D when the images have labels (class subfolders); the served
    # model then also has a `with_labels` signature. Unlabelled folders train unconditionally.
    conditional: bool = True
    generator_width: int = 128  # filters of the first (4x4) generator block; halves per block
    discriminator_width: int = 32  # filters of the first discriminator block; doubles per block
    discriminator_dropout: float = 0.3
    generator_learning_rate: float = 2e-4
    discriminator_learning_rate: float = 1e-4
    adam_beta1: float = 0.5
    # The exported generator is an EMA of the trained one with a half-life of this many
    # thousand images (StyleGAN2-ADA's ema_kimg); 0 exports the raw generator.
    ema_kimg: float = 10.0
    sample_every_steps: int = 500  # write a fixed-seed sample grid this often (and at the end)
    log_every_steps: int = 100
    seed: int = 0

    def validate(self) -> None:
        for name in (
            "train_steps",
            "batch_size",
            "latent_dim",
            "sample_every_steps",
            "log_every_steps",
            "r1_interval",
            "checkpoint_every_steps",
        ):
            if getattr(self, name) < 1:
                raise ArtganError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        from artgan.models import augment, losses, networks  # here: models import this module

        for name, value, choices in (
            ("architecture", self.architecture, networks.ARCHITECTURES),
            ("loss", self.loss, losses.LOSSES),
        ):
            if value not in choices:
                raise ArtganError(
                    f"train.{name} must be one of {', '.join(choices)}, got {value!r}"
                )
        augment.parse_policy(self.augment)


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """The GAN evaluator: how candidates are scored and when they are blessed."""

    num_samples: int = 1000  # generated images scored per model
    # Bless only at or below this FID (computed in the domain classifier's feature space).
    fid_threshold: float = 30.0
    # With a blessed baseline, bless only if FID <= baseline FID + this margin.
    fid_margin: float = 5.0
    classifier_epochs: int = 20
    seed: int = 1234  # seeds of the generated samples: seed, seed + 1, ...

    def validate(self) -> None:
        if self.num_samples < 2:
            raise ArtganError(f"eval.num_samples must be at least 2, got {self.num_samples}")
        if self.fid_threshold < 0 or self.fid_margin < 0:
            raise ArtganError("eval.fid_threshold and eval.fid_margin must be >= 0")


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """The model server and the name models are pushed under."""

    model_name: str = "artgan"
    host: str = "127.0.0.1"
    port: int = 8500
    max_batch_size: int = 256  # most seeds one Predict call may ask for
    poll_seconds: float = 1.0  # how often the server looks for a newly pushed version


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """A whole run: where things go, and every section above."""

    home: str = "artgan_home"
    data_dir: str = ""  # empty: the embedded scikit-learn digits, exported under home
    pipeline_name: str = "artgan"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)
    beam_args: tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.home, "pipeline_root")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.home, "metadata.sqlite")

    @property
    def serving_model_dir(self) -> str:
        """The TF Serving model base path: integer version folders go under it."""
        return os.path.join(self.home, "serving", self.serving.model_name)

    @property
    def embedded_data_dir(self) -> str:
        return os.path.join(self.home, "data", "digits")

    def validate(self) -> None:
        self.data.validate()
        self.train.validate()
        self.eval.validate()


def to_json(section: Any) -> str:
    """Serialises a config section (a dataclass) for a component parameter."""
    return json.dumps(dataclasses.asdict(section), sort_keys=True)


def from_json(cls: type[T], text: str) -> T:
    """Parses a config section back, rejecting unknown fields by name."""
    values = json.loads(text) if text else {}
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ArtganError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    return cls(**values)
