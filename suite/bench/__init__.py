"""GPU benchmark of the harness at 7B scale: prepare, fine-tune and generate, in one process.

Run ``python -m suite.bench`` (or ``qbench bench``) on one CUDA GPU. Everything runs on a
``synthetic:<shape>`` model with seeded random tokens (no downloads, no tracking store), through
the harness's own pieces: :func:`suite.models.load`, the methods' ``prepare``,
:func:`suite.train.train` and :class:`suite.measure.Phase`. Modules:

- :mod:`suite.bench.rates`: the GPU's measured bf16 matmul rate and copy bandwidth, and the
  packed-kernel sweep (fused vs transient dense + cuBLAS vs bf16, by number of rows).
- :mod:`suite.bench.workloads`: one configuration (lora16, bnb-nf4, nf2..nf4, int2..int4):
  prepare, train (tokens/s, peak memory, MFU), generate (tokens/s).
- :mod:`suite.bench.prepare`: each method's prepare on the runner's own path (calibration,
  holdout Grams, block-by-block prepare, init metrics): time, peak memory, init errors.
- :mod:`suite.bench.generation`: the evaluation decoder (static cache, CUDA graphs) against
  ``transformers``' generate, per configuration and batch size, with the weight-bandwidth bound.
- :mod:`suite.bench.report`: the rich tables, JSON and Markdown.

    $ python -m suite.bench --model synthetic:llama2-7b --out /tmp/bench
"""
