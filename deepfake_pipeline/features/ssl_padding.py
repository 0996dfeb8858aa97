"""Which way ``ssl_embed`` keeps a padded batch exact on a device (no torch import here: step 2's
job metadata records the choice before, or without, any model runs).

Both paths give each clip the embedding it gets alone, within float32 rounding
(tests/test_batched_exact.py); they differ in speed only, so the one recorded in the embeddings'
JSON says how they were computed, not what they are.
- ``"clip-by-clip"``: the CNN feature encoder and the positional embedding run on each clip's own
  samples and frames inside the batched forward pass; only the transformer sees the batch.
- ``"batched"``: the whole model runs on the padded batch, with a masked group norm and padded
  frames zeroed before each positional convolution (``ssl_masked``).
"""

PADDING_PATHS = ("clip-by-clip", "batched")


def default_padding_path(device) -> str:
    """The path when none is asked for. On CPU batched is not faster: its CNN also convolves the
    padding, and holds the whole batch's activations (bench_embeddings, 2-core AMD EPYC,
    2026-12-02, batched / clip-by-clip: 0.93x for wav2vec2-base and 1.02x for XLS-R 300M at load
    3; 0.88x and 0.79x at load 13; +480 MB peak RSS). On cuda, clip by clip launches many small
    kernels per clip, which the H200 runs showed to be the bottleneck (docs/gpu_run_2026-11-29.md);
    batched there is not measured yet."""
    return "clip-by-clip" if str(device).split(":")[0] == "cpu" else "batched"
