"""The one typed configuration of an artgan run: every default lives here.

The CLI, the pipeline definition and the tests all start from these objects. Components receive
the sections they need as JSON (``to_json``) and parse them back with ``from_json``, so a run's
fully resolved configuration is always recorded in MLMD as an execution property.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Any, TypeVar

from artgan.errors import ArtganError

T = TypeVar("T")


AUTO = "auto"  # a data setting chosen from the images themselves (pipeline/data_settings.py)
FIT_MODES = ("crop", "pad")
JIT_COMPILE_MODES = ("auto", "on", "off")
ARCHITECTURES = ("conv", "resnet", "dcgan", "fastgan")  # builders: models/networks/
LOSSES = ("non_saturating", "hinge", "wgan_gp")  # models/training/losses.py
UPSAMPLING_MODES = ("transposed", "resize", "bilinear")  # conv's up blocks (networks/conv.py)
# How a conditional generator reads its class: joined to the latent at the input (any
# architecture: networks/conditional.py), or in every up block's batch norm (conv: BigGAN's);
# auto: batchnorm for conv, input for the others (conditioning_mode).
CONDITIONING_MODES = (AUTO, "input", "batchnorm")
AUGMENT_TRANSFORMS = ("color", "translation", "cutout")  # models/training/augment.py
# train.augment=auto: adaptive DiffAugment (every transform) for training sets of fewer images
# than this, none for larger ones (Zhao et al. 2020, Karras et al. 2020: most gain below ~10k).
SMALL_COLLECTION_IMAGES = 10_000
ALL_AUGMENT = ",".join(AUGMENT_TRANSFORMS)  # the policy of every transform
FEATURE_NETWORKS = ("auto", "inception_2015", "domain_classifier", "contrastive")
# "section.field" -> the values it may take; validate() and the CLI's choices both read this.
CHOICES: dict[str, tuple] = {
    "data.channels": (1, 3, 4, AUTO),
    "data.fit": FIT_MODES,
    "train.architecture": ARCHITECTURES,
    "train.loss": LOSSES,
    "train.generator_upsampling": UPSAMPLING_MODES,
    "train.generator_conditioning": CONDITIONING_MODES,
    "train.jit_compile": JIT_COMPILE_MODES,
    "eval.feature_network": FEATURE_NETWORKS,
}
INCEPTION_2015_URL = "http://download.tensorflow.org/models/image/imagenet/inception-2015-12-05.tgz"
INCEPTION_GRAPH_FILE = "classify_image_graph_def.pb"


def conditioning_mode(architecture: str, generator_conditioning: str) -> str:
    """How a conditional generator of ``architecture`` reads its class (train.generator_
    conditioning with auto resolved)."""
    if generator_conditioning != AUTO:
        return generator_conditioning
    return "batchnorm" if architecture == "conv" else "input"


def parse_augment_policy(policy: str) -> tuple[str, ...]:
    """'color,translation,cutout' -> its names, checked; '' -> no augmentation."""
    if policy == AUTO:
        raise ArtganError(
            "train.augment is auto, which is chosen from the number of training images "
            "(TrainConfig.with_augment_for); set a policy such as 'color,translation,cutout' "
            "or '' for none"
        )
    names = tuple(name.strip() for name in policy.split(",") if name.strip())
    unknown = [name for name in names if name not in AUGMENT_TRANSFORMS]
    if unknown:
        raise ArtganError(
            f"train.augment: unknown DiffAugment policy {', '.join(unknown)}; "
            f"choose from {', '.join(AUGMENT_TRANSFORMS)}"
        )
    return names


def parse_colour(text: str, name: str = "background") -> tuple[int, int, int]:
    """'#rrggbb' -> (red, green, blue) in 0..255; ArtganError naming ``name`` otherwise."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", text or ""):
        raise ArtganError(f"{name} must be a colour like '#ffffff' (white), got {text!r}")
    return tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))


def check_choices(section: str, config: Any) -> None:
    """ArtganError naming ``section.field`` when a field holds a value CHOICES does not allow."""
    for field in dataclasses.fields(config):
        choices = CHOICES.get(f"{section}.{field.name}")
        value = getattr(config, field.name)
        if choices and value not in choices:
            raise ArtganError(
                f"{section}.{field.name} must be one of {', '.join(map(str, choices))}, "
                f"got {value!r}"
            )


def how_to_get_inception_graph() -> str:
    return (
        f"download {INCEPTION_2015_URL}, extract {INCEPTION_GRAPH_FILE} from it and point "
        "eval.inception_graph_path at that file (artgan run --inception-graph PATH; "
        "EvalConfig.inception_graph_path), or use eval.feature_network=domain_classifier"
    )


def check_inception_graph_file(path: str) -> None:
    """Raises ArtganError, saying how to obtain the file, when ``path`` is unset or missing.

    Remote paths (gs://, s3://, ...) are only checked when the graph is loaded.
    """
    if not path:
        raise ArtganError(
            "eval.feature_network=inception_2015 needs the 2015 Inception graph and "
            f"eval.inception_graph_path is empty: {how_to_get_inception_graph()}"
        )
    if "://" not in path and not os.path.isfile(path):
        raise ArtganError(
            f"eval.inception_graph_path {path!r} is not a file: {how_to_get_inception_graph()}"
        )


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """How images become training tensors."""

    # Square output size in pixels, a power of two from 8 to 256, or auto: the largest power of
    # two not above the typical image's shorter side, from 16 up to 256 (cpu_max_resolution
    # when training has no accelerator).
    resolution: int | str = AUTO
    # 1 (grayscale), 3 (RGB), 4 (RGBA: transparency is learned), or auto: 4 when a tenth of the
    # images or more have transparent pixels, else 1 when every image is gray, else 3.
    channels: int | str = AUTO
    # The most data.resolution=auto picks when training runs on CPUs only (a 128x128 step is
    # about 4x a 64x64 one); an explicit --resolution is not capped.
    cpu_max_resolution: int = 64
    eval_percent: int = 20  # share of files (by stable hash of the path) in the eval split
    fit: str = "crop"  # non-square images: "crop" (centre square) or "pad" (with background)
    # "#rrggbb": behind transparent pixels and padding (channels 1 and 3), and what RGBA images
    # are flattened onto before feature networks see them.
    background: str = "#ffffff"
    # Images with more pixels are skipped before decoding (decompression bombs). Pillow itself
    # refuses more than 2 x 89,478,485 pixels whatever this says.
    max_pixels: int = 8192 * 8192
    stop_on_anomalies: bool = False  # ExampleValidator anomalies fail the run (else: warnings)
    # Transform also computes TFDV statistics of its input (StatisticsGen already has them) and
    # of the transformed pixels. Off by default: on 14,000 Fashion-MNIST images they add 4.4 of
    # Transform's 19 CPU seconds (issue 4).
    transform_statistics: bool = False

    def background_rgb(self) -> tuple[int, int, int]:
        """``background`` as (red, green, blue) in 0..255."""
        return parse_colour(self.background, "data.background")

    @property
    def is_resolved(self) -> bool:
        """Whether resolution and channels are numbers (no ``auto`` left)."""
        return AUTO not in (self.resolution, self.channels)

    def require_resolved(self) -> None:
        """ArtganError while ``auto`` is still set: components need numbers."""
        if not self.is_resolved:
            raise ArtganError(
                "data.resolution and data.channels are auto: they are chosen from the images "
                "before the pipeline is built (pipeline/data_settings.py); set numbers "
                "(--resolution, --channels) to build it without the images"
            )

    def validate(self) -> None:
        for name in ("resolution", "cpu_max_resolution"):
            res = getattr(self, name)
            if name == "resolution" and res == AUTO:
                continue
            if not isinstance(res, int) or res < 8 or res > 256 or res & (res - 1):
                raise ArtganError(
                    f"data.{name} must be a power of two from 8 to 256"
                    + (" or auto" if name == "resolution" else "")
                    + f", got {res!r}"
                )
        check_choices("data", self)
        if not 1 <= self.eval_percent <= 50:
            raise ArtganError(f"data.eval_percent must be in 1..50, got {self.eval_percent}")
        self.background_rgb()
        if self.max_pixels < 1:
            raise ArtganError(f"data.max_pixels must be at least 1, got {self.max_pixels}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """The GAN trainer: sizes, optimiser and schedule."""

    train_steps: int = 3000  # generator updates (each with its discriminator update)
    # Stop after this many minutes of training, or at train_steps, whichever comes first; the
    # steps done are recorded (training_result.json). 0: no time limit.
    train_minutes: float = 0.0
    batch_size: int = 64  # real images per step (split across devices)
    latent_dim: int = 64  # size of the latent vector a seed is turned into
    architecture: str = "conv"  # conv | resnet | dcgan | fastgan (models/networks/)
    loss: str = "non_saturating"  # non_saturating | hinge | wgan_gp (models/training/losses.py)
    # DiffAugment policy: any of "color,translation,cutout" on every image; "" for none; auto:
    # all three, adaptively (augment_adaptive), for training sets under 10,000 images
    # (SMALL_COLLECTION_IMAGES), else none. The digits after 200 s: FD 11.5 adaptive, 15-20
    # on every image, 9.9 none; the emoji after 1,200 s: 171 on every image, 205 none; after
    # 1,800 s: 135 adaptive (`artgan bench train`, README).
    augment: str = AUTO
    # Adaptive augmentation (ADA): each transform of `augment` hits each image with a probability
    # steered so that the share of real images D calls real, E[sign(D(real))], stays near
    # ada_target (models/training/ada.py); False applies the policy to every image. augment=auto
    # turns it on where it augments.
    augment_adaptive: bool = False
    ada_target: float = 0.6  # ADA: the share of real images D should call real
    ada_speed_kimg: float = 100.0  # ADA: p can go from 0 to 1 in this many thousand images
    # R1 penalty weight on real images; 0 disables. Without it the default recipe degrades
    # with longer training on small data (issue 5, the digits at 16x16: FD 120-136 after 7-12k
    # steps without R1, 9-15 with 0.1). 1.0 rather than 0.1 (2026-12-06): on the emoji after
    # 900 / 1,800 s, FD 1.84 / 2.91 against 8.49 / 10.85 (contrastive network; DCGAN 7.17, and
    # 3.91 in a second race, at 1,800 s); on the digits after 200 s, 9.19 against 9.22
    # (`artgan bench train`, README).
    r1_gamma: float = 1.0
    r1_interval: int = 16  # lazy R1: applied every this many steps
    checkpoint_every_steps: int = 500  # a crashed run resumes from the last checkpoint
    simultaneous_updates: bool = False  # G and D from one forward pass (the DCGAN tutorial's)
    # Class-conditional G and D when the images have labels (class subfolders); the served
    # model then also has a `with_labels` signature. Unlabelled folders train unconditionally.
    # On the emoji's 9 broad categories after 1,800 s, conditional scored classifier FD 51
    # against 137 unconditional, with more faces and flags in its grid (contrastive FD 1.61
    # against 1.29: the networks split; README, 2026-12-07).
    conditional: bool = True
    generator_width: int = 128  # filters of the first (4x4) generator block; halves per block
    # conv's up blocks: a nearest-neighbour resize then a 3x3 convolution (no checkerboard
    # pattern by construction: Odena et al., Distill 2016), or a 4x4 transposed convolution.
    # Resize halved the emoji's FD after 600 s (99 against 198; 649/828 and 233/366 at 150 and
    # 300 s) and tied on the digits (10.0 against 10.1), `artgan bench train`, 2026-12-06.
    # "bilinear" resizes bilinearly instead: no plaid texture in the emoji's grids, FD 171
    # after 720 s against 152-156 for "resize" (slower early: 446 against 170 at 360 s).
    generator_upsampling: str = "resize"
    # How a conditional generator reads the class: "input" joins a label embedding to the
    # latent (any architecture); "batchnorm" (conv only) also takes every up block's batch-norm
    # scale and shift from [latent, embedding], as BigGAN does, so the class can shape each
    # scale rather than mostly the colours; auto: batchnorm for conv, else input. On the 98
    # emoji subcategories: FD 2.72 against 3.37 and 1.10 against 1.54 after 720 s (seeds 0
    # and 1), 5.00 against 5.25 in the 30-minute run, with clearer hearts (README, 2026-12-08).
    generator_conditioning: str = AUTO
    # Filters of the first discriminator block; doubles per block. 16 gives D the widths of the
    # default generator at each resolution at 64x64; 32 (the default until 2026-12-06) made D
    # twice as wide and the step 1.5 times as slow: on the emoji after 540 s, FD 55 in 1,800 steps
    # with 16 against 160 in 1,104 with 32; the digits after 200 s: 9.4 against 10.1.
    discriminator_width: int = 16
    # Dropout after each discriminator block (0.3, the DCGAN tutorial's, until issue 5): none
    # trains better for the same time, FD 48 against 56 on Fashion-MNIST after 300 s (medians
    # of 3 seeds; better on each) and about the same on the digits; R1 regularises D instead.
    discriminator_dropout: float = 0.0
    # fastgan: the weight of the discriminator's reconstruction loss (MSE between its decoding
    # of real images and those images, downsampled), added to its loss; 0 turns it off.
    reconstruction_weight: float = 1.0
    generator_learning_rate: float = 2e-4  # Adam
    # 2e-4 rather than 1e-4: FD 51 against 65-69 on Fashion-MNIST after 300 s, 10.3 against
    # 12.4 on the digits after 200 s (issue 5).
    discriminator_learning_rate: float = 2e-4
    adam_beta1: float = 0.5  # both optimisers
    # Both learning rates fall linearly to zero over this last share of training (of
    # train_steps, or of train_minutes when that ends first; across machines of train_steps
    # only); 0 keeps them constant. 0.5 holds off the late decline: on the emoji after 1,800 s
    # (3,200 steps with oneDNN on an AVX2 core, where constant rates fell back from FD 1.89 at
    # 900 s to 2.79), FD 1.38 against 2.79 on the contrastive network and 64 against 69 on the
    # classifier; at 1,840 steps (without oneDNN) the two networks split (README, 2026-12-07).
    learning_rate_ramp_down: float = 0.5
    # The exported generator is an EMA of the trained one with a half-life of this many
    # thousand images (StyleGAN2-ADA's ema_kimg); 0 exports the raw generator.
    ema_kimg: float = 10.0
    sample_every_steps: int = 500  # write a fixed-seed sample grid this often (and at the end)
    log_every_steps: int = 100  # a progress line (losses, steps/s) this often
    seed: int = 0  # initial weights, shuffling and augmentation
    shuffle_buffer: int = 10_000  # training examples shuffled at a time
    # The training split is cached in memory (as float32) when it fits in this many MiB, else
    # read again from disk each epoch: 70,000 images at 256x256x3 would take about 55 GB.
    cache_max_mib: int = 2048
    # XLA for the train step: auto (on with GPUs; off on CPU, where the default 64x64 step ran at
    # a third of the speed: `artgan bench train --only step`, issue 17 part 5), on, off.
    jit_compile: str = "auto"
    # A Cloud TPU name, grpc://host:port or "local" (TPU VM): train under TPUStrategy in
    # bfloat16. Empty: MirroredStrategy over the visible GPUs, else the CPU.
    tpu_address: str = ""
    # Start from the latest blessed model's training state (G, D, EMA, optimisers) and train
    # train_steps more; the first run (no blessed model yet) trains from scratch.
    warm_start: bool = False

    def validate(self) -> None:
        for name in (
            "train_steps",
            "batch_size",
            "latent_dim",
            "sample_every_steps",
            "log_every_steps",
            "r1_interval",
            "checkpoint_every_steps",
            "shuffle_buffer",
        ):
            if getattr(self, name) < 1:
                raise ArtganError(f"train.{name} must be at least 1, got {getattr(self, name)}")
        check_choices("train", self)
        if not self.train_minutes >= 0:
            raise ArtganError(f"train.train_minutes must be >= 0, got {self.train_minutes}")
        if self.cache_max_mib < 0:
            raise ArtganError(f"train.cache_max_mib must be >= 0, got {self.cache_max_mib}")
        policy = AUGMENT_TRANSFORMS if self.augment == AUTO else parse_augment_policy(self.augment)
        if self.augment_adaptive and not policy:
            raise ArtganError(
                "train.augment_adaptive needs a DiffAugment policy in train.augment "
                "(e.g. 'translation,cutout'); set one or turn augment_adaptive off"
            )
        if not 0.0 < self.ada_target < 1.0:
            raise ArtganError(f"train.ada_target must be in (0, 1), got {self.ada_target}")
        if self.ada_speed_kimg <= 0:
            raise ArtganError(f"train.ada_speed_kimg must be > 0, got {self.ada_speed_kimg}")
        if not 0.0 <= self.learning_rate_ramp_down <= 1.0:
            raise ArtganError(
                "train.learning_rate_ramp_down must be in [0, 1], got "
                f"{self.learning_rate_ramp_down}"
            )
        if not self.reconstruction_weight >= 0:
            raise ArtganError(
                f"train.reconstruction_weight must be >= 0, got {self.reconstruction_weight}"
            )
        if self.generator_conditioning == "batchnorm" and self.architecture != "conv":
            raise ArtganError(
                "train.generator_conditioning batchnorm is built for the conv architecture, "
                f"not {self.architecture}; use generator_conditioning input or auto with it"
            )

    def conditioning_mode(self) -> str:
        """``generator_conditioning`` with auto resolved: batchnorm for conv, else input."""
        return conditioning_mode(self.architecture, self.generator_conditioning)

    def with_augment_for(self, num_images: int) -> tuple[TrainConfig, str]:
        """This config with ``augment=auto`` chosen for ``num_images`` training images, and
        why (empty when augment was set)."""
        if self.augment != AUTO:
            return self, ""
        if num_images >= SMALL_COLLECTION_IMAGES and not self.augment_adaptive:
            why = f"{num_images} training images, at least {SMALL_COLLECTION_IMAGES}"
            line = f"train.augment=auto: none ({why}; --augment sets a policy)"
            return dataclasses.replace(self, augment=""), line
        policy = ALL_AUGMENT
        why = (
            f"{num_images} training images, fewer than {SMALL_COLLECTION_IMAGES}"
            if num_images < SMALL_COLLECTION_IMAGES
            else "augment_adaptive"
        )
        line = f"train.augment=auto: {policy}, adaptive ({why}; --augment sets a policy)"
        return dataclasses.replace(self, augment=policy, augment_adaptive=True), line


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """The GAN evaluator: which feature network scores generators, and when they are blessed.

    FD, KID and IS are computed in the feature network's space; only ``inception_2015`` gives
    the published FID/KID/IS. A gate set to None is not checked.
    """

    num_samples: int = 10_000  # generated images scored per model (the baseline's too)
    # auto: inception_2015 when inception_graph_path is set, else domain_classifier when the
    # images have class labels and it reaches min_classifier_accuracy, else contrastive (trained
    # on the images themselves, no labels). domain_classifier forces it (random_conv, a fixed
    # random network, without labels); contrastive forces that.
    feature_network: str = "auto"
    # classify_image_graph_def.pb from the 2015-12-05 Inception tarball (see README, Evaluation).
    inception_graph_path: str = ""
    # FD at most this multiple of the real-vs-real FD (train vs eval split), the default gate:
    # absolute distances in a feature network's space do not carry across data sets. On the
    # digits the default run scores 1.9x its floor, 1,000 steps 4.6x, 200 steps 98x (README).
    fid_max_over_floor: float | None = 8.0
    # Absolute gates, off by default (they only mean something for one data set and network).
    fid_threshold: float | None = None  # FD at most this
    kid_threshold: float | None = None  # KID at most this
    is_threshold: float | None = None  # IS (classifier score) at least this
    # The share of generated images that are near-copies of a training image at most this
    # (about 0.05 for a model as novel as held-out images; models/metrics/fidelity.py).
    max_copy_rate: float | None = None
    # Against the latest blessed model, rescored on the same images and seeds.
    fid_margin: float | None = 5.0  # FD at most the baseline's + this
    kid_margin: float | None = 3.0  # KID at most the baseline's + this
    is_margin: float | None = None  # IS at least the baseline's - this
    # Refuse a domain classifier below this held-out accuracy. Harder real data sets score
    # lower with a good classifier: Fashion-MNIST reaches 0.898 at 16x16, 0.909 at 32x32.
    min_classifier_accuracy: float = 0.8
    classifier_epochs: int = 20  # training the domain classifier
    # Training the contrastive network: on the 1,906 emoji at 64x64, 30 epochs take about 2 min
    # on 2 cores and match 32% of held-out views (10 epochs: 23%).
    contrastive_epochs: int = 30
    kid_subsets: int = 100  # KID averages the MMD of this many random subsets
    kid_subset_size: int = 1000  # capped by the smaller set
    # Feature rows kept per image set for KID, its subsets drawn from them: part of the number.
    kid_max_rows: int = 10_000
    # Earlier blessings plotted in evaluation.html; 0 drops their resolver (Kubeflow V2 compiles
    # only the standard resolver strategies).
    history_runs: int = 20
    seed: int = 1234  # seeds of the generated samples: seed, seed + 1, ...

    def resolved_feature_network(self) -> str:
        """inception_2015 or a trained network (under auto, the DomainClassifier component
        trains domain_classifier and may fall back to contrastive)."""
        if self.feature_network != "auto":
            return self.feature_network
        return "inception_2015" if self.inception_graph_path else "domain_classifier"

    def validate(self) -> None:
        if self.num_samples < 2:
            raise ArtganError(f"eval.num_samples must be at least 2, got {self.num_samples}")
        check_choices("eval", self)
        for name in (
            "fid_threshold",
            "fid_max_over_floor",
            "kid_threshold",
            "is_threshold",
            "max_copy_rate",
            "fid_margin",
            "kid_margin",
            "is_margin",
        ):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ArtganError(f"eval.{name} must be >= 0 or None (not checked), got {value}")
        if not 0.0 <= self.min_classifier_accuracy <= 1.0:
            raise ArtganError(
                "eval.min_classifier_accuracy must be in [0, 1], "
                f"got {self.min_classifier_accuracy}"
            )
        if self.kid_subsets < 1 or self.kid_subset_size < 2 or self.kid_max_rows < 2:
            raise ArtganError(
                "eval.kid_subsets must be >= 1, eval.kid_subset_size and eval.kid_max_rows >= 2"
            )
        if self.resolved_feature_network() == "inception_2015":
            check_inception_graph_file(self.inception_graph_path)


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """The model server and the name models are pushed under."""

    model_name: str = "artgan"  # the TF Serving model name versions are pushed under
    host: str = "127.0.0.1"  # where `artgan serve` listens
    port: int = 8500  # gRPC, as TF Serving
    max_batch_size: int = 256  # most seeds one Predict call may ask for


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    """``artgan serve``: tensorflow_model_server's own flags, under the same names."""

    grpc_max_threads: int = 16  # requests the gRPC API serves at once
    # TF Serving's text ModelServerConfig (model_config_list { config { name base_path ... } }):
    # several models, version policies and labels; replaces --model-name/--model-base-path.
    model_config_file: str = ""
    model_config_file_poll_wait_seconds: int = 0  # re-read model_config_file this often; 0: once
    file_system_poll_wait_seconds: float = 1.0  # look for new versions on disk this often
    # Labels may name versions not loaded yet (TF Serving refuses them otherwise: a label is
    # only assigned to an AVAILABLE version).
    allow_version_labels_for_unavailable_models: bool = False
    rest_port: int = 0  # TF Serving's REST API on this port; 0: off (the docker image uses 8501)
    rest_api_num_threads: int = 0  # REST requests served at once; 0: 4 per CPU core, as TF Serving
    rest_api_timeout_ms: int = 30_000  # a REST Predict running longer is DEADLINE_EXCEEDED (504)
    rest_api_enable_cors: bool = False  # Access-Control-Allow-Origin: * on REST answers
    enable_batching: bool = False  # join concurrent Predict calls into one model run
    # TF Serving's text BatchingParameters (max_batch_size { value: 64 } ...); "": its defaults.
    batching_parameters_file: str = ""
    # TF Serving's text SSLConfig (server_key, server_cert, custom_ca: PEM contents;
    # client_verify): gRPC over TLS instead of plaintext.
    ssl_config_file: str = ""
    # The standard grpc.health.v1 service: SERVING once the port is open (readiness is still
    # GetModelStatus AVAILABLE).
    enable_grpc_healthcheck_service: bool = False
    # TF Serving's text MonitoringConfig: prometheus_config { enable: true path: "..." } serves
    # its metrics on the REST port (path default /monitoring/prometheus/metrics).
    monitoring_config_file: str = ""
    # gRPC answers carry numeric outputs as raw tensor_content bytes, not typed value fields
    # (int_val, float_val: TF Serving's default); smaller and faster to build.
    enable_serialization_as_tensor_content: bool = False

    def rest_threads(self) -> int:
        return self.rest_api_num_threads or 4 * (os.cpu_count() or 1)

    def validate(self) -> None:
        if self.rest_port < 0 or self.rest_api_num_threads < 0 or self.rest_api_timeout_ms < 0:
            raise ArtganError(
                "server.rest_port, server.rest_api_num_threads and server.rest_api_timeout_ms "
                f"must be >= 0, got {self.rest_port}, {self.rest_api_num_threads} and "
                f"{self.rest_api_timeout_ms}"
            )
        if self.grpc_max_threads < 1:
            raise ArtganError(
                f"server.grpc_max_threads must be at least 1, got {self.grpc_max_threads}"
            )
        if not self.file_system_poll_wait_seconds > 0:
            raise ArtganError(
                "server.file_system_poll_wait_seconds must be > 0, got "
                f"{self.file_system_poll_wait_seconds}"
            )
        if self.model_config_file_poll_wait_seconds < 0:
            raise ArtganError(
                "server.model_config_file_poll_wait_seconds must be >= 0, got "
                f"{self.model_config_file_poll_wait_seconds}"
            )


@dataclasses.dataclass(frozen=True)
class GalleryConfig:
    """The gallery page: ``artgan serve --gallery`` and ``artgan gallery`` (artgan's own, not
    tensorflow_model_server's)."""

    gallery: bool = False  # serve the gallery page at / on the REST port (needs --rest-port)
    home: str = ""  # an artgan home: each version's evaluation report and lineage; "": none
    api: str = "http://127.0.0.1:8501"  # the TF Serving REST API the page calls (artgan gallery)
    port: int = 8080  # where `artgan gallery` serves the page

    def validate(self) -> None:
        if not re.fullmatch(r"https?://[^/?#\s]+/?", self.api):
            raise ArtganError(
                f"gallery.api (--api) must be a REST API's root such as http://127.0.0.1:8501, "
                f"got {self.api!r}"
            )
        if not 0 <= self.port < 65536:
            raise ArtganError(f"gallery.port (--port) must be 0 to 65535, got {self.port}")
        if self.home and not os.path.isdir(self.home):
            raise ArtganError(
                f"gallery.home (--home) {self.home}: no such folder; give the artgan home "
                "that `artgan run --home` wrote"
            )


@dataclasses.dataclass(frozen=True)
class KubeflowConfig:
    """Compiling the pipeline for Kubeflow Pipelines (KFP v2): where its pods read and write.

    TFX's V2 runner mounts no volumes, so every location is object storage that every pod (and
    the model server) can read; gs:// and s3:// URIs pass through untouched.
    """

    pipeline_root: str = "gs://artgan/pipeline_root"  # component outputs
    data_uri: str = "gs://artgan/data"  # the image folder
    serving_root: str = "gs://artgan/serving"  # versions go to <serving_root>/<model_name>/
    # The component image, built from kubeflow/Dockerfile and pushed where the cluster pulls.
    image: str = "artgan:0.1.0"
    # Beam pipeline arguments in the pods, e.g. --runner=DataflowRunner.
    beam_args: tuple[str, ...] = (
        "--direct_running_mode=multi_processing",
        "--direct_num_workers=0",
    )
    trainer_gpus: int = 0  # accelerators requested (and limited) for the Trainer pod (each task)
    gpu_resource: str = "nvidia.com/gpu"  # the Kubernetes resource name of those accelerators
    # Training tasks: above 1 the Trainer step trains as a TFJob of a Chief and N-1 Workers
    # (MultiWorkerMirroredStrategy; needs the Kubeflow Training Operator and its RBAC).
    trainer_workers: int = 1
    trainer_service_account: str = ""  # the TFJob's pods' account; empty: the Trainer step's
    package: str = "pipeline.yaml"  # the compiled PipelineSpec (YAML: what kfp.Client takes)

    def serving_model_dir(self, model_name: str) -> str:
        """The TF Serving model base path: integer version folders go under it."""
        return f"{self.serving_root.rstrip('/')}/{model_name}"

    def validate(self) -> None:
        for field in ("pipeline_root", "data_uri", "serving_root"):
            uri = getattr(self, field)
            if "://" not in uri:
                raise ArtganError(
                    f"kubeflow.{field} must be an object-storage URI every pod can read "
                    f"(gs://bucket/..., s3://bucket/...), got {uri!r}"
                )
        if not self.image:
            raise ArtganError(
                "kubeflow.image is empty: name the image built from kubeflow/Dockerfile"
            )
        if self.trainer_gpus < 0:
            raise ArtganError(f"kubeflow.trainer_gpus must be >= 0, got {self.trainer_gpus}")
        if self.trainer_workers < 1:
            raise ArtganError(
                f"kubeflow.trainer_workers must be >= 1 (1: the Trainer pod trains alone), got "
                f"{self.trainer_workers}"
            )


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """A whole run: where things go, and every section above."""

    home: str = "artgan_home"  # pipeline outputs, ML Metadata and served models go here
    data_dir: str = ""  # empty: the embedded scikit-learn digits, exported under home
    pipeline_name: str = "artgan"  # the TFX pipeline (and MLMD context) name
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    serving: ServingConfig = dataclasses.field(default_factory=ServingConfig)
    # Beam pipeline arguments of the Beam-based components (the local DirectRunner).
    beam_args: tuple[str, ...] = ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    kubeflow: KubeflowConfig = dataclasses.field(default_factory=KubeflowConfig)

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
