"""The adversarial update: one D step and one G step per batch, under a tf.distribute strategy.

Per-replica losses are scaled by the global batch size so gradients sum correctly across
replicas. Optimisers go through ``scale_loss``/``apply`` so a ``LossScaleOptimizer`` (mixed
precision on GPUs) works unchanged. The loss (``losses.LOSSES``), DiffAugment policy (on every
image, or adaptive: ``ada.py``) and lazy R1 regularisation come from ``AdversarialRecipe``. With
``jit_compile`` each replica's step is compiled with XLA (the form MirroredStrategy supports:
all-reduces become XLA collectives). A discriminator with a second output (``fastgan``'s
reconstruction of its input) adds ``reconstruction_weight`` times its MSE on the (augmented)
real images to D's loss; every other use of D reads its logits only.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from artgan.config import TrainConfig
from artgan.models.training import ada, augment, losses


@dataclasses.dataclass(frozen=True)
class AdversarialRecipe:
    loss: losses.GanLoss = losses.NON_SATURATING
    augment_policy: tuple[str, ...] = ()  # DiffAugment on everything D sees
    # None: the policy hits every image; a number: ADA, steering the probability so that
    # E[sign(D(real))] stays near this target (ada.py).
    augment_target: float | None = None
    augment_speed_kimg: float = TrainConfig.ada_speed_kimg  # ADA's speed (ada.py)
    r1_gamma: float = 0.0  # 0 disables R1
    r1_interval: int = 16  # lazy R1: every k steps, scaled by k
    # True: G and D gradients from one forward pass (the TensorFlow DCGAN tutorial's update);
    # False: D first, then G against the updated D (StyleGAN's alternating update). Steps with
    # a gradient penalty (R1, WGAN-GP) always alternate.
    simultaneous: bool = False
    # D's reconstruction MSE on real images, when D has a second output; 0 leaves it out.
    reconstruction_weight: float = 0.0


class AdversarialTrainer:
    """Owns G, D and their optimisers; ``step(batch)`` runs one distributed update.

    For class-conditional networks (generator inputs [latents, labels]) a batch is
    (images, labels) and generated images get the real batch's labels.
    """

    def __init__(
        self,
        strategy: tf.distribute.Strategy,
        generator: keras.Model,
        discriminator: keras.Model,
        generator_optimizer: keras.optimizers.Optimizer,
        discriminator_optimizer: keras.optimizers.Optimizer,
        latent_dim: int,
        global_batch_size: int,
        recipe: AdversarialRecipe = AdversarialRecipe(),
        jit_compile: bool = False,
    ):
        self.strategy = strategy
        self.generator = generator
        self.discriminator = discriminator
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        self.latent_dim = latent_dim
        self.global_batch_size = global_batch_size
        self.recipe = recipe
        self.conditional = len(generator.inputs) == 2
        self.reconstructs = len(discriminator.outputs) == 2
        self.adaptive_augment = (
            ada.AdaptiveAugment(
                recipe.augment_policy,
                recipe.augment_target,
                global_batch_size,
                recipe.augment_speed_kimg,
            )
            if recipe.augment_policy and recipe.augment_target is not None
            else None
        )
        self.jit_compile = jit_compile
        self._replica_fn = (
            tf.function(self._replica_step, jit_compile=True) if jit_compile else self._replica_step
        )
        self._plain_step = tf.function(lambda batch: self._distributed_step(batch, False))
        self._adjust_augment = tf.function(lambda: self.adaptive_augment.adjust())
        self._r1_step = tf.function(lambda batch: self._distributed_step(batch, True))
        self._steps_done = 0
        self._base_learning_rates = [
            (optimizer, float(keras.ops.convert_to_numpy(optimizer.learning_rate)))
            for optimizer in (generator_optimizer, discriminator_optimizer)
        ]
        self.learning_rate_scale: float | None = None  # None until first set

    def scale_learning_rates(self, scale: float) -> None:
        """Sets both optimisers' learning rates to ``scale`` times those they were built with;
        the first call also replaces rates a checkpoint or warm start restored."""
        if scale == self.learning_rate_scale:
            return  # the training step's hot path: no assignment while the scale holds
        for optimizer, base in self._base_learning_rates:
            optimizer.learning_rate = base * scale
        self.learning_rate_scale = scale

    def _average(self, per_example_loss: tf.Tensor) -> tf.Tensor:
        return tf.nn.compute_average_loss(
            per_example_loss, global_batch_size=self.global_batch_size
        )

    @property
    def augment_probability(self) -> tf.Variable | None:
        """ADA's current probability (None without adaptive augmentation)."""
        return self.adaptive_augment.probability if self.adaptive_augment else None

    def _augment(self, images: tf.Tensor) -> tf.Tensor:
        if self.adaptive_augment:
            return self.adaptive_augment(images)
        return augment.diff_augment(images, self.recipe.augment_policy)

    @staticmethod
    def _real_signs(real_logits: tf.Tensor) -> tf.Tensor:
        """[sum of sign(D(real)), count]: ADA's overfitting statistic, summed over replicas."""
        logits = tf.cast(real_logits, tf.float32)
        return tf.stack([tf.reduce_sum(tf.sign(logits)), tf.cast(tf.size(logits), tf.float32)])

    def _generate(self, labels, batch) -> tf.Tensor:
        """Augmented generated images for a batch (with ``labels`` when conditional)."""
        latents = tf.random.normal([batch, self.latent_dim])
        inputs = [latents, labels] if self.conditional else latents
        return self._augment(self.generator(inputs, training=True))

    def _discriminator_outputs(self, labels):
        """images -> D's outputs (for this batch's labels when conditional)."""
        if self.conditional:
            return lambda images: self.discriminator([images, labels], training=True)
        return lambda images: self.discriminator(images, training=True)

    def _critic(self, labels):
        """images -> D logits (for this batch's labels when conditional)."""
        outputs = self._discriminator_outputs(labels)
        if self.reconstructs:
            return lambda images: outputs(images)[0]
        return outputs

    def _real_logits_and_loss(self, real_images: tf.Tensor, labels, critic):
        """D(real) logits, and the reconstruction term of D's loss per example (None without)."""
        if not (self.reconstructs and self.recipe.reconstruction_weight):
            return critic(real_images), None
        logits, reconstruction = self._discriminator_outputs(labels)(real_images)
        error = losses.reconstruction_error(reconstruction, real_images)
        return logits, self.recipe.reconstruction_weight * error

    def _simultaneous_step(self, real_images: tf.Tensor, labels):
        critic = self._critic(labels)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake_logits = critic(self._generate(labels, tf.shape(real_images)[0]))
            real_logits, reconstruction_loss = self._real_logits_and_loss(
                self._augment(real_images), labels, critic
            )
            per_example = self.recipe.loss.discriminator(real_logits, fake_logits)
            if reconstruction_loss is not None:
                per_example += reconstruction_loss
            d_loss = self._average(per_example)
            g_loss = self._average(self.recipe.loss.generator(fake_logits))
            d_scaled = self.discriminator_optimizer.scale_loss(d_loss)
            g_scaled = self.generator_optimizer.scale_loss(g_loss)
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables
        self.discriminator_optimizer.apply(d_tape.gradient(d_scaled, d_vars), d_vars)
        self.generator_optimizer.apply(g_tape.gradient(g_scaled, g_vars), g_vars)
        return d_loss, g_loss, self._real_signs(real_logits)

    def _replica_step(self, batch, apply_r1: bool):
        recipe = self.recipe
        real_images, labels = batch if self.conditional else (batch, None)
        if recipe.simultaneous and not (apply_r1 or recipe.loss.gradient_penalty_weight):
            return self._simultaneous_step(real_images, labels)
        critic = self._critic(labels)
        size = tf.shape(real_images)[0]
        # 1. Discriminator: real images up, generated images down, plus its regularisers.
        with tf.GradientTape() as tape:
            fake_images = self._generate(labels, size)
            real_images = self._augment(real_images)
            real_logits, reconstruction_loss = self._real_logits_and_loss(
                real_images, labels, critic
            )
            per_example = recipe.loss.discriminator(real_logits, critic(fake_images))
            if reconstruction_loss is not None:
                per_example += reconstruction_loss
            if recipe.loss.gradient_penalty_weight:
                penalty = losses.wgan_gradient_penalty(critic, real_images, fake_images)
                per_example += recipe.loss.gradient_penalty_weight * penalty
            if apply_r1:
                penalty = losses.r1_penalty(critic, real_images)
                per_example += 0.5 * recipe.r1_gamma * recipe.r1_interval * penalty
            d_loss = self._average(per_example)
            scaled = self.discriminator_optimizer.scale_loss(d_loss)
        d_vars = self.discriminator.trainable_variables
        self.discriminator_optimizer.apply(tape.gradient(scaled, d_vars), d_vars)
        # 2. Generator: fool the updated discriminator with fresh latents.
        with tf.GradientTape() as tape:
            g_loss = self._average(recipe.loss.generator(critic(self._generate(labels, size))))
            scaled = self.generator_optimizer.scale_loss(g_loss)
        g_vars = self.generator.trainable_variables
        self.generator_optimizer.apply(tape.gradient(scaled, g_vars), g_vars)
        return d_loss, g_loss, self._real_signs(real_logits)

    def _distributed_step(self, batch, apply_r1: bool):
        d_loss, g_loss, signs = self.strategy.run(self._replica_fn, args=(batch, apply_r1))
        total = tf.distribute.ReduceOp.SUM
        if self.adaptive_augment:
            self.adaptive_augment.accumulate(self.strategy.reduce(total, signs, axis=None))
        return (
            self.strategy.reduce(total, d_loss, axis=None),
            self.strategy.reduce(total, g_loss, axis=None),
        )

    def step(self, batch) -> tuple[tf.Tensor, tf.Tensor]:
        """One D and one G update on a (distributed) batch; returns (d_loss, g_loss)."""
        self._steps_done += 1
        recipe = self.recipe
        apply_r1 = recipe.r1_gamma > 0 and self._steps_done % recipe.r1_interval == 0
        result = self._r1_step(batch) if apply_r1 else self._plain_step(batch)
        adaptive = self.adaptive_augment
        if adaptive and self._steps_done % adaptive.adjust_every_steps == 0:
            self._adjust_augment()
        return result
