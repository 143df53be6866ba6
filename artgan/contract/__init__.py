"""The serving contract's names: what the exporter writes and every client and server relies on.

This package sits below ``models/`` (which exports to the contract) and ``serving/`` (which
serves it): ``bundle.py`` loads a SavedModel as TF Serving does, ``requests.py`` answers a
Predict request by TF Serving's rules, ``warmup.py`` writes, reads and replays the warmup file.

Signatures of a pushed generator (every input of a TF Serving signature is required, so each
combination of inputs is its own signature):

| signature | inputs | models |
| --- | --- | --- |
| ``serving_default`` | ``seeds`` int64 [N] | all |
| ``from_latents`` | ``latents`` float32 [N, latent_dim] | all |
| ``with_labels`` | ``seeds``, ``labels`` int64 [N] | class-conditional |
| ``from_latents_with_labels`` | ``latents``, ``labels`` | class-conditional |
| ``truncated`` | ``seeds``, ``psi`` float32 [N] | all |
| ``truncated_with_labels`` | ``seeds``, ``labels``, ``psi`` | class-conditional |
| ``seed_latents`` | ``seeds``, ``psi`` | all |
| ``pngs`` | ``seeds`` | all |

Each returns ``images`` uint8 [N, H, W, C], ``png`` string [N] and ``png_bytes`` (the same
PNGs under a name TF Serving's REST API base64-encodes), except ``seed_latents``, which returns
``latents`` float32 [N, latent_dim]: each seed's latent, truncated by ``psi``, for latent walks
through ``from_latents``, and ``pngs``, which returns ``png_bytes`` alone: ``serving_default``'s
PNGs without its pixel arrays, the compact answer over REST, which has no output filter
(``{"predictions": [{"b64": ...}, ...]}``). Truncation pulls a latent toward the latents' mean:
psi 1 leaves it as it is (``truncated`` then equals ``serving_default``), psi 0 gives the mean
(one image for every seed of a class). ``psi`` is one value per row, so TF Serving's batching
can join requests along dimension 0.
"""

DEFAULT_SIGNATURE = "serving_default"
FROM_LATENTS_SIGNATURE = "from_latents"
WITH_LABELS_SIGNATURE = "with_labels"
FROM_LATENTS_WITH_LABELS_SIGNATURE = "from_latents_with_labels"
TRUNCATED_SIGNATURE = "truncated"
TRUNCATED_WITH_LABELS_SIGNATURE = "truncated_with_labels"
SEED_LATENTS_SIGNATURE = "seed_latents"
PNGS_SIGNATURE = "pngs"

SEEDS_INPUT = "seeds"
LATENTS_INPUT = "latents"
LABELS_INPUT = "labels"
PSI_INPUT = "psi"

IMAGES_OUTPUT = "images"
PNG_OUTPUT = "png"
# TF Serving's REST API writes a DT_STRING output as {"b64": ...} only when its name ends in
# "_bytes"; under any other name binary PNG bytes come back as a broken JSON string.
PNG_BYTES_OUTPUT = "png_bytes"
LATENTS_OUTPUT = "latents"

SERVE_TAG = "serve"
SAVED_MODEL_FILE = "saved_model.pb"
ASSETS_EXTRA_DIR = "assets.extra"
GENERATOR_INFO_FILE = "generator.json"  # in assets.extra: sizes and classes, for clients
WARMUP_FILE = "tf_serving_warmup_requests"  # in assets.extra: TFRecord of PredictionLog
MAX_WARMUP_RECORDS = 1000  # TF Serving refuses to load a version whose warmup file has more


def signature_names(num_classes: int) -> tuple[str, ...]:
    """The signatures a generator with ``num_classes`` classes (0: unconditional) exports."""
    names = (DEFAULT_SIGNATURE, FROM_LATENTS_SIGNATURE)
    if num_classes:
        names += (WITH_LABELS_SIGNATURE, FROM_LATENTS_WITH_LABELS_SIGNATURE)
    names += (TRUNCATED_SIGNATURE,)
    if num_classes:
        names += (TRUNCATED_WITH_LABELS_SIGNATURE,)
    return names + (SEED_LATENTS_SIGNATURE, PNGS_SIGNATURE)


def signature_inputs(signature_name: str) -> tuple[str, ...]:
    """The input names of one signature, in the order the table above gives them."""
    return {
        DEFAULT_SIGNATURE: (SEEDS_INPUT,),
        FROM_LATENTS_SIGNATURE: (LATENTS_INPUT,),
        WITH_LABELS_SIGNATURE: (SEEDS_INPUT, LABELS_INPUT),
        FROM_LATENTS_WITH_LABELS_SIGNATURE: (LATENTS_INPUT, LABELS_INPUT),
        TRUNCATED_SIGNATURE: (SEEDS_INPUT, PSI_INPUT),
        TRUNCATED_WITH_LABELS_SIGNATURE: (SEEDS_INPUT, LABELS_INPUT, PSI_INPUT),
        SEED_LATENTS_SIGNATURE: (SEEDS_INPUT, PSI_INPUT),
        PNGS_SIGNATURE: (SEEDS_INPUT,),
    }[signature_name]


OUTPUTS = (IMAGES_OUTPUT, PNG_OUTPUT, PNG_BYTES_OUTPUT)


def signature_outputs(signature_name: str) -> tuple[str, ...]:
    """The output names of one signature: the images, the latents of ``seed_latents``, or the
    PNGs alone of ``pngs``."""
    return {SEED_LATENTS_SIGNATURE: (LATENTS_OUTPUT,), PNGS_SIGNATURE: (PNG_BYTES_OUTPUT,)}.get(
        signature_name, OUTPUTS
    )
