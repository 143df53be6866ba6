from artgan.components.domain_classifier.component import DomainClassifier

__all__ = ["DomainClassifier"]
