"""Which trained feature network scores a run: the labelled classifier, or the contrastive one.

``auto`` trains the domain classifier when the images have class labels and keeps it when its
held-out accuracy reaches the minimum; otherwise (no labels, or labels too broad to learn, as the
emoji categories at 0.70) it trains the contrastive network on the images instead, and says so
in one line. ``domain_classifier`` and ``contrastive`` force one.
"""

from __future__ import annotations

import dataclasses
import logging

import numpy as np

from artgan.models.metrics.contrastive import train_contrastive
from artgan.models.metrics.domain_classifier import TrainedClassifier, train_domain_classifier

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class NetworkSettings:
    choice: str  # auto | domain_classifier | contrastive
    min_classifier_accuracy: float
    classifier_epochs: int
    contrastive_epochs: int
    seed: int = 0


@dataclasses.dataclass
class ChosenNetwork:
    network: TrainedClassifier
    # Why auto fell back to the contrastive network ("" when it did not).
    fallback_reason: str = ""
    # The classifier auto trained and refused, kept for a second opinion (benchmarks).
    refused_classifier: TrainedClassifier | None = None

    @property
    def refused_classifier_accuracy(self) -> float | None:
        return self.refused_classifier.heldout_accuracy if self.refused_classifier else None


def _has_labels(labels: np.ndarray | None) -> bool:
    return labels is not None and len(np.unique(labels)) >= 2


def train_feature_network(
    train_images: np.ndarray,
    train_labels: np.ndarray | None,
    eval_images: np.ndarray,
    eval_labels: np.ndarray | None,
    settings: NetworkSettings,
) -> ChosenNetwork:
    """Trains the network ``settings.choice`` asks for on RGB(or grey) uint8 images."""

    def contrastive(reason: str = "", refused: TrainedClassifier | None = None) -> ChosenNetwork:
        network = train_contrastive(
            train_images, eval_images, settings.contrastive_epochs, settings.seed
        )
        return ChosenNetwork(network, reason, refused)

    if settings.choice == "contrastive":
        return contrastive()
    if settings.choice == "auto" and not _has_labels(train_labels):
        reason = "the images have no class labels (class subfolders)"
        log.warning("%s: scoring with a contrastive network trained on them", reason)
        return contrastive(reason)
    classifier = train_domain_classifier(
        train_images,
        train_labels,
        eval_images,
        eval_labels,
        epochs=settings.classifier_epochs,
        seed=settings.seed,
    )
    accuracy = classifier.heldout_accuracy
    if settings.choice == "auto" and accuracy is not None:
        if accuracy < settings.min_classifier_accuracy:
            reason = (
                f"the domain classifier's held-out accuracy {accuracy:.3f} is below "
                f"eval.min_classifier_accuracy {settings.min_classifier_accuracy:.3g}"
            )
            log.warning(
                "%s: scoring with a contrastive network trained on the images instead (to use "
                "the classifier, label the images more finely or set --feature-network "
                "domain_classifier)",
                reason,
            )
            return contrastive(reason, classifier)
    return ChosenNetwork(classifier)
