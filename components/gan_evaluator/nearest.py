"""The nearest training image of each preview sample, for the report's memorisation check.

Samples are matched in the feature network's space against the train split's KID rows (the
rows ``RealFeatureStatisticsGen`` kept, named by image digest); the matched images are then
read back from the transformed train split.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tfx import types

from artgan.components import feature_artifacts
from artgan.models.metrics import fidelity
from artgan.models.metrics.evaluation import RealReference
from artgan.models.metrics.feature_network import FeatureNetwork

PAIRS_SHOWN = 16


@dataclasses.dataclass(frozen=True)
class NearestPair:
    sample_index: int  # position among the preview samples (seed = first seed + index)
    sample: np.ndarray  # uint8 [H, W, C]
    neighbour: np.ndarray  # the nearest training image, uint8 [H, W, C]
    distance: float  # in the feature network's space
    copy: bool  # closer than the copy distance (fidelity.memorisation)


def nearest_training_images(
    preview: np.ndarray,
    network: FeatureNetwork,
    reference: RealReference,
    copy_distance: float,
    examples: types.Artifact,
    transform_uri: str,
    statistics_uri: str,
    count: int = PAIRS_SHOWN,
) -> list[NearestPair]:
    """Up to ``count`` (sample, nearest training image) pairs; empty when the statistics
    artifact predates stored digests."""
    digests = feature_artifacts.read_kid_digests(statistics_uri, "train")
    if digests is None or reference.train_rows is None or len(preview) == 0:
        return []
    samples = preview[:count]
    features, _ = network.features_and_probs(samples)
    indices, distances = fidelity.nearest(features, reference.train_rows)
    wanted = {digests[index] for index in indices}
    found: dict[str, np.ndarray] = {}
    for batch in feature_artifacts.transformed_images(examples, transform_uri, "train"):
        for image in batch:
            digest = feature_artifacts.image_digest(image)
            if digest in wanted:
                found[digest] = image
        if len(found) == len(wanted):
            break
    return [
        NearestPair(
            sample_index=position,
            sample=samples[position],
            neighbour=found[digests[index]],
            distance=float(distance),
            copy=bool(distance < copy_distance),
        )
        for position, (index, distance) in enumerate(zip(indices, distances, strict=True))
        if digests[index] in found
    ]
