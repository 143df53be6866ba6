"""The Trainer's ``run_fn``: trains the GAN on transformed examples and exports the generator.

Writes into the ModelRun directory: ``train_config.json`` (the fully resolved config, and the
model a warm start began from), ``samples/step_NNNNNN.png`` fixed-seed grids during training,
``samples/final.png`` and TensorBoard logs in ``logs/``. Checkpoints go to
``custom_config["checkpoint_dir"]`` (stable across re-runs of the same inputs and config, so a
crashed run resumes) and are removed once the generator is exported.
Exports only the generator, with the serving signatures of ``export.py``, and writes the
training state beside it for later warm starts (``warm_start.py``).

Under a multi-worker cluster (``TF_CONFIG``, ``strategy.cluster_task``) every task runs this
same code; only the chief writes into the run, checkpoint and export folders. The other tasks
save checkpoints, training state and export too (saving may involve collectives every task
must join) but into temporary folders of their own, deleted at the end, and they restore from
the chief's checkpoints: the checkpoint folder must be one all tasks can read.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from artgan import grid
from artgan.config import (
    AUTO,
    SMALL_COLLECTION_IMAGES,
    DataConfig,
    TrainConfig,
    parse_augment_policy,
)
from artgan.errors import ArtganError
from artgan.models import export, networks
from artgan.models.data.dataset import (
    class_counts,
    count_examples,
    image_dataset,
    read_class_names,
)
from artgan.models.training import losses, warm_start
from artgan.models.training.ema import GeneratorEma, ema_decay
from artgan.models.training.gan import AdversarialRecipe, AdversarialTrainer
from artgan.models.training.progress import TrainingProgress
from artgan.models.training.schedule import learning_rate_scale
from artgan.models.training.strategy import (
    ClusterTask,
    any_task,
    average_across_workers,
    cluster_task,
    hardware_strategy,
    uses_xla,
)
from artgan.models.training.warm_start import TRAIN_CONFIG_FILE

log = logging.getLogger(__name__)

TRAINING_RESULT_FILE = "training_result.json"  # in the ModelRun folder: steps done, why it stopped
CHIEF_EXPORT_WAIT_S = 900.0  # how long a worker's run_fn waits for the chief's export
SAMPLE_SEEDS = tuple(range(16))  # the same seeds `artgan generate --seeds 0-15` asks for


def sample_images(generator: keras.Model, latent_dim: int, num_classes: int = 0) -> np.ndarray:
    """uint8 images for ``SAMPLE_SEEDS``, quantised exactly as the server does.

    A class-conditional generator draws seed ``s`` as class ``s % num_classes``, so a grid
    shows every class in order.
    """
    seeds = tf.constant(SAMPLE_SEEDS, tf.int64)
    latents = export.latents_from_seeds(seeds, latent_dim)
    if num_classes:
        labels = tf.cast(seeds % num_classes, tf.int32)
        return export.to_uint8(generator([latents, labels], training=False)).numpy()
    return export.to_uint8(generator(latents, training=False)).numpy()


def _optimizer(learning_rate: float, beta1: float) -> keras.optimizers.Optimizer:
    optimizer = keras.optimizers.Adam(learning_rate, beta_1=beta1)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def _recipe(train: TrainConfig) -> AdversarialRecipe:
    return AdversarialRecipe(
        loss=losses.LOSSES[train.loss],
        augment_policy=parse_augment_policy(train.augment),
        augment_target=train.ada_target if train.augment_adaptive else None,
        augment_speed_kimg=train.ada_speed_kimg,
        r1_gamma=train.r1_gamma,
        r1_interval=train.r1_interval,
        simultaneous=train.simultaneous_updates,
        reconstruction_weight=train.reconstruction_weight,
    )


def adversarial_trainer(
    train: TrainConfig,
    strategy: tf.distribute.Strategy,
    generator: keras.Model,
    discriminator: keras.Model,
    global_batch: int,
) -> AdversarialTrainer:
    """The update ``train`` configures (optimisers, loss, augmentation, R1, XLA) for G and D."""
    return AdversarialTrainer(
        strategy,
        generator,
        discriminator,
        _optimizer(train.generator_learning_rate, train.adam_beta1),
        _optimizer(train.discriminator_learning_rate, train.adam_beta1),
        train.latent_dim,
        global_batch,
        _recipe(train),
        jit_compile=uses_xla(train, strategy),
    )


def _task_dir(task: ClusterTask, path: str, what: str) -> str:
    """``path`` on the chief; on any other task a new temporary folder, for it to delete."""
    if task.is_chief:
        return path
    return tempfile.mkdtemp(prefix=f"artgan-{task.task_type}{task.task_index}-{what}-")


def _remove_scratch(task: ClusterTask, *paths: str) -> None:
    if not task.is_chief:
        for path in paths:
            shutil.rmtree(path, ignore_errors=True)


def _sharded_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Each worker keeps its own share of every global batch: sharding by files would need at
    least as many files as workers, and a TFRecord split may have fewer."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def train_gan(
    dataset: tf.data.Dataset,
    data: DataConfig,
    train: TrainConfig,
    run_dir: str,
    checkpoint_dir: str = "",
    num_classes: int = 0,
    warm_start_dir: str = "",
    state_dir: str = "",
) -> keras.Model:
    """Trains to ``train.train_steps`` and returns the EMA generator.

    With ``num_classes`` > 0 the networks are class-conditional and ``dataset`` yields
    (images, labels) batches.
    Writes sample grids to ``run_dir/samples`` and TensorBoard logs to ``run_dir/logs``.
    Checkpoints go to ``checkpoint_dir`` (default ``run_dir/checkpoints``) every
    ``train.checkpoint_every_steps``; training resumes from the latest one found there, else
    starts from the training state in ``warm_start_dir`` when given. The final training state
    is written to ``state_dir`` when given.
    Under a multi-worker cluster only the chief writes any of these (see the module docstring).
    """
    task = cluster_task()
    # Each task draws its own latents and augmentations; the strategy gives every task the
    # chief's initial weights, and the dataset's shuffle has its own seed (shards stay apart).
    keras.utils.set_random_seed(train.seed + task.rank)
    strategy = hardware_strategy(train)
    global_batch = train.batch_size * strategy.num_replicas_in_sync
    with strategy.scope():
        generator, discriminator = networks.build_networks(train, data, num_classes)
        ema = GeneratorEma(generator, ema_decay(global_batch, train.ema_kimg))
        trainer = adversarial_trainer(train, strategy, generator, discriminator, global_batch)
        step_counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        trainer.generator_optimizer.build(generator.trainable_variables)
        trainer.discriminator_optimizer.build(discriminator.trainable_variables)
    state = warm_start.training_state(
        generator,
        discriminator,
        ema.model,
        trainer.generator_optimizer,
        trainer.discriminator_optimizer,
    )
    adaptive = {}  # ADA's probability, so a resumed run continues with it
    if trainer.augment_probability is not None:
        adaptive["augment_probability"] = trainer.augment_probability
    checkpoint_dir = checkpoint_dir or os.path.join(run_dir, "checkpoints")
    own_checkpoint_dir = _task_dir(task, checkpoint_dir, "checkpoints")
    checkpoints = tf.train.CheckpointManager(
        tf.train.Checkpoint(
            generator=generator,
            discriminator=discriminator,
            ema_generator=ema.model,
            generator_optimizer=trainer.generator_optimizer,
            discriminator_optimizer=trainer.discriminator_optimizer,
            step=step_counter,
            **adaptive,
        ),
        own_checkpoint_dir,
        max_to_keep=2,
    )
    try:
        latest_checkpoint = tf.train.latest_checkpoint(checkpoint_dir)  # the chief's, on every task
        if latest_checkpoint:
            checkpoints.checkpoint.restore(latest_checkpoint)
            log.info("resuming from %s at step %d", latest_checkpoint, int(step_counter.numpy()))
            if warm_start_dir:
                log.info("(the run being resumed began from %s)", warm_start_dir)
        elif warm_start_dir:
            warm_start.restore_training_state(state, warm_start_dir, trainer.augment_probability)
            log.info("initialised G, D, EMA and optimisers from %s", warm_start_dir)
        first_step = int(step_counter.numpy())
        dataset = dataset.rebatch(global_batch)
        if task.multi_worker:
            dataset = _sharded_by_data(dataset)
        batches = iter(strategy.experimental_distribute_dataset(dataset))
        progress = TrainingProgress(
            train.train_steps, global_batch, first_step, train.train_minutes
        )
        step = first_step
        summaries = (
            tf.summary.create_file_writer(os.path.join(run_dir, "logs"))
            if task.is_chief
            else tf.summary.create_noop_writer()
        )
        with summaries.as_default():
            for step in range(first_step + 1, train.train_steps + 1):
                # Workers' clocks differ, and every replica must apply the same rates: across
                # machines the ramp-down follows the steps only.
                done = (
                    (step - 1) / train.train_steps
                    if task.multi_worker
                    else progress.fraction_done(step - 1)
                )
                trainer.scale_learning_rates(
                    learning_rate_scale(done, train.learning_rate_ramp_down)
                )
                d_loss, g_loss = trainer.step(next(batches))
                ema.update()
                progress.advance()
                step_counter.assign(step)
                if step % train.log_every_steps == 0 or step == train.train_steps:
                    progress.report(step, float(d_loss), float(g_loss))
                    tf.summary.scalar("loss/discriminator", d_loss, step=step)
                    tf.summary.scalar("loss/generator", g_loss, step=step)
                    tf.summary.scalar("learning_rate/scale", trainer.learning_rate_scale, step=step)
                    if trainer.augment_probability is not None:
                        tf.summary.scalar(
                            "augment/probability", trainer.augment_probability, step=step
                        )
                if step % train.sample_every_steps == 0:
                    samples = sample_images(ema.model, train.latent_dim, num_classes)
                    if task.is_chief:
                        path = os.path.join(run_dir, "samples", f"step_{step:06d}.png")
                        grid.save_grid(samples, path)
                        tf.summary.image("samples", grid.image_grid(samples)[None], step=step)
                if step % train.checkpoint_every_steps == 0:
                    checkpoints.save(checkpoint_number=step)
                out_of_time = (
                    any_task(strategy, task, progress.out_of_time())
                    if train.train_minutes
                    else False
                )
                if out_of_time and step < train.train_steps:
                    log.info(
                        "train.train_minutes=%g spent: stopping at step %d of %d",
                        train.train_minutes,
                        step,
                        train.train_steps,
                    )
                    break
        progress.close()
        log.info("training stopped at step %d of %d", step, train.train_steps)
        models = (generator, discriminator, ema.model)
        average_across_workers(
            strategy, task, [v for m in models for v in m.non_trainable_variables]
        )
        final_samples = sample_images(ema.model, train.latent_dim, num_classes)
        if state_dir:
            own_state_dir = _task_dir(task, state_dir, "training-state")
            warm_start.save_training_state(state, own_state_dir, trainer.augment_probability)
            _remove_scratch(task, own_state_dir)
    finally:
        _remove_scratch(task, own_checkpoint_dir)
    if not task.is_chief:
        return ema.model
    _write_text(
        os.path.join(run_dir, TRAINING_RESULT_FILE),
        json.dumps(
            {
                "steps_done": step,
                "train_steps": train.train_steps,
                "stopped_by": "train_steps" if step >= train.train_steps else "train_minutes",
                "training_seconds": round(time.monotonic() - progress.start, 1),
            },
            indent=2,
        ),
    )
    grid.save_grid(final_samples, os.path.join(run_dir, "samples", "final.png"))
    return ema.model


def _write_text(path: str, text: str) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def run_fn(fn_args) -> None:
    """TFX Trainer entry point (GenericExecutor), named by dotted path in the pipeline."""
    custom = fn_args.custom_config or {}
    data = DataConfig(**custom.get("data", {}))
    train = TrainConfig(**{**custom.get("train", {}), "train_steps": fn_args.train_steps})
    hardware_strategy(train)  # a multi-worker strategy must exist before the first TF op
    if train.augment == AUTO:  # not chosen when the pipeline was built
        train, why = train.with_augment_for(
            count_examples(fn_args.train_files, SMALL_COLLECTION_IMAGES)
        )
        log.info("%s", why)
    feature_spec = tft.TFTransformOutput(fn_args.transform_output).transformed_feature_spec()
    counts = class_counts(fn_args.train_files, feature_spec) if train.conditional else ()
    if train.conditional and len(counts) < 2:
        log.info("the images have no class labels: training an unconditional GAN")
        counts = ()
    num_classes = len(counts)
    if num_classes and train.generator_conditioning == AUTO:  # recorded as what it builds
        train = dataclasses.replace(train, generator_conditioning=train.conditioning_mode())
        log.info(
            "train.generator_conditioning=auto: %s (%s generator, %d classes; "
            "--generator-conditioning sets it)",
            train.generator_conditioning,
            train.architecture,
            num_classes,
        )
    dataset = image_dataset(fn_args.train_files, feature_spec, train, num_classes > 0)
    names = read_class_names(fn_args.train_files, feature_spec, num_classes) if counts else None
    train_and_export(
        dataset,
        data,
        train,
        num_classes,
        run_dir=fn_args.model_run_dir,
        serving_model_dir=fn_args.serving_model_dir,
        checkpoint_dir=custom.get("checkpoint_dir", ""),
        base_model=fn_args.base_model,
        class_shares=shares_of(counts) if counts else None,
        class_names=names,
    )
    if not cluster_task().is_chief:
        # TFX's GenericExecutor fails a task whose serving_model_dir is missing when run_fn
        # returns: a worker finishes when the chief's export does.
        wait_for_export(fn_args.serving_model_dir, CHIEF_EXPORT_WAIT_S)


def shares_of(counts: tuple[int, ...]) -> tuple[float, ...]:
    """Each class's share of the training examples."""
    total = sum(counts)
    return tuple(count / total for count in counts)


def export_finished_marker(serving_model_dir: str) -> str:
    """The file ``train_and_export`` writes last: the export is complete once it exists."""
    return os.path.join(serving_model_dir, "assets.extra", TRAIN_CONFIG_FILE)


def wait_for_export(serving_model_dir: str, timeout_s: float, poll_s: float = 2.0) -> None:
    """Returns once the export at ``serving_model_dir`` is complete; ArtganError after
    ``timeout_s``."""
    marker = export_finished_marker(serving_model_dir)
    deadline = time.monotonic() + timeout_s
    log.info("waiting for the chief's export at %s", serving_model_dir)
    while not tf.io.gfile.exists(marker):
        if time.monotonic() > deadline:
            raise ArtganError(
                f"the chief exported no model to {serving_model_dir} within {timeout_s:.0f} s "
                "of this worker finishing training: see the chief's log"
            )
        time.sleep(poll_s)


def train_and_export(
    dataset: tf.data.Dataset,
    data: DataConfig,
    train: TrainConfig,
    num_classes: int,
    run_dir: str,
    serving_model_dir: str,
    checkpoint_dir: str = "",
    base_model: str | None = None,
    class_shares: tuple[float, ...] | None = None,
    class_names: tuple[str, ...] | None = None,
) -> keras.Model:
    """Trains, exports the generator to ``serving_model_dir`` and the training state beside it;
    returns the exported generator. ``class_shares``: each class's share of the training set,
    which the served model's seeds draw their classes by (None: uniform); ``class_names``: each
    label's class folder, recorded in the model's generator.json.

    With ``train.warm_start``, training begins from ``base_model``'s training state
    (``base_model``: the latest blessed model's ``Format-Serving`` folder, None if none).
    """
    task = cluster_task()
    warm_from = (
        warm_start.warm_start_source(base_model, data, train, num_classes)
        if train.warm_start
        else ""
    )
    resolved = json.dumps(
        {
            "data": dataclasses.asdict(data),
            "train": dataclasses.asdict(train),
            "warm_start_from": os.path.dirname(warm_from) if warm_from else None,
        },
        indent=2,
    )
    if task.is_chief:
        _write_text(os.path.join(run_dir, TRAIN_CONFIG_FILE), resolved)
    generator = train_gan(
        dataset,
        data,
        train,
        run_dir,
        checkpoint_dir,
        num_classes,
        warm_start_dir=warm_from,
        state_dir=warm_start.training_state_dir(serving_model_dir),
    )
    export_dir = _task_dir(task, serving_model_dir, "export")
    try:
        export.export_generator(
            generator, train.latent_dim, export_dir, num_classes, class_shares, class_names
        )
    finally:
        _remove_scratch(task, export_dir)
    if not task.is_chief:
        return generator
    with tf.io.gfile.GFile(os.path.join(run_dir, TRAINING_RESULT_FILE)) as f:
        result = json.load(f)
    _write_text(
        export_finished_marker(serving_model_dir),
        json.dumps({**json.loads(resolved), "training_result": result}, indent=2),
    )
    if checkpoint_dir and tf.io.gfile.exists(checkpoint_dir):
        tf.io.gfile.rmtree(checkpoint_dir)  # finished: a later run with this config starts fresh
    return generator
