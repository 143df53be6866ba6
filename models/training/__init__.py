"""The GAN update, its losses, augmentation, EMA, hardware strategy, and the TFX run_fn."""
