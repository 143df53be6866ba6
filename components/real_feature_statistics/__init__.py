from artgan.components.real_feature_statistics.component import RealFeatureStatisticsGen

__all__ = ["RealFeatureStatisticsGen"]
