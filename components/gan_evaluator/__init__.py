from artgan.components.gan_evaluator.component import GanEvaluator

__all__ = ["GanEvaluator"]
