from artgan.components.tfjob_trainer.component import tfjob_trainer_options
from artgan.components.tfjob_trainer.settings import TFJobSettings

__all__ = ["TFJobSettings", "tfjob_trainer_options"]
