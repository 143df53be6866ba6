"""Feature networks the evaluator scores images with, selected by ``EvalConfig``.

- ``inception_2015``: the reference Inception graph (``models/metrics/inception.py``); its numbers
  are the published FID, KID and IS.
- ``domain_classifier``: a classifier trained on the labelled real images
  (``domain_classifier.py``, the DomainClassifier component); its numbers are called
  FD, KD and CS (classifier score) with the network's name, never plain FID/IS.
- ``contrastive``: a network trained on the real images themselves, without labels
  (``contrastive.py``); no class score.
- ``random_conv``: the classifier's network at a fixed random initialisation (a forced
  domain_classifier on unlabelled images); no class score.

Every network takes uint8 images, quantised exactly as served images, so generated and real
images meet the network through the same fixed, recorded preprocessing. RGBA images are
flattened onto the data's background colour first (``background``): networks see RGB.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import numpy as np

from artgan import alpha
from artgan.config import DataConfig
from artgan.models.metrics import domain_classifier, inception

INCEPTION_2015 = "inception_2015"
DOMAIN_CLASSIFIER = "domain_classifier"
RANDOM_CONV = "random_conv"
CONTRASTIVE = "contrastive"
TRAINED_NETWORKS = (DOMAIN_CLASSIFIER, RANDOM_CONV, CONTRASTIVE)  # SavedModels from the pipeline
DEFAULT_BACKGROUND = DataConfig().background_rgb()


@dataclasses.dataclass
class FeatureNetwork:
    name: str  # inception_2015 or one of TRAINED_NETWORKS; part of every metric's name
    compute: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]  # one uint8 batch
    description: dict  # preprocessing and provenance, recorded with every metric
    heldout_accuracy: float | None = None  # domain_classifier only
    batch_size: int = 256
    background: tuple[int, int, int] = DEFAULT_BACKGROUND  # under RGBA images (data.background)

    @property
    def has_class_scores(self) -> bool:
        return self.name in (INCEPTION_2015, DOMAIN_CLASSIFIER)

    def features_and_probs(self, images_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 images [N, H, W, C] -> (float64 features [N, D], float64 probs [N, K])."""
        images_uint8 = np.asarray(images_uint8)
        if images_uint8.dtype != np.uint8 or images_uint8.ndim != 4:
            raise ValueError(
                f"feature networks take uint8 images [N, H, W, C], got {images_uint8.dtype} "
                f"{images_uint8.shape}"
            )
        features, probs = [], []
        for start in range(0, len(images_uint8), self.batch_size):
            batch = alpha.flatten(images_uint8[start : start + self.batch_size], self.background)
            batch_features, batch_probs = self.compute(batch)
            features.append(np.asarray(batch_features, np.float64))
            probs.append(np.asarray(batch_probs, np.float64))
        return np.concatenate(features), np.concatenate(probs)


def metric_names(network_name: str) -> dict[str, str]:
    """How reports name each number: plain FID/KID/IS only for the 2015 Inception graph."""
    if network_name == INCEPTION_2015:
        return {"fid": "FID", "kid": "KID", "inception_score": "IS"}
    return {
        "fid": f"FD ({network_name})",
        "kid": f"KD ({network_name})",
        "inception_score": f"CS ({network_name})",
    }


def open_feature_network(
    name: str,
    classifier_dir: str = "",
    inception_graph_path: str = "",
    heldout_accuracy: float | None = None,
    background: tuple[int, int, int] = DEFAULT_BACKGROUND,
    provenance: dict | None = None,
) -> FeatureNetwork:
    """Loads a network: the Inception graph from its path, a trained one from its SavedModel.

    ``background`` (data.background) is what RGBA images are flattened onto; ``provenance``
    (how a trained network was chosen and how far to trust it) joins its description.
    """
    red, green, blue = background
    flattening = {"alpha": f"RGBA flattened onto #{red:02x}{green:02x}{blue:02x}"}
    if name == INCEPTION_2015:
        compute, description = inception.load_inception_2015(inception_graph_path)
        description = {**description, **flattening}
        return FeatureNetwork(name, compute, description, batch_size=100, background=background)
    if name in TRAINED_NETWORKS:
        if heldout_accuracy is not None and math.isnan(heldout_accuracy):
            heldout_accuracy = None
        description = {
            "saved_model": classifier_dir,
            **domain_classifier.PREPROCESSING,
            **flattening,
            **(provenance or {}),
        }
        return FeatureNetwork(
            name,
            domain_classifier.load_classifier(classifier_dir),
            description,
            heldout_accuracy,
            background=background,
        )
    raise ValueError(f"unknown feature network {name!r}")
