"""The ``--set`` values that make a sweep on ``synthetic:tiny`` take seconds: two training steps
on short windows, two evaluation windows, two held-out calibration windows."""

TINY = [
    "train.steps=2",
    "train.seq_len=64",
    "train.batch_size=2",
    "eval.seq_len=128",
    "eval.max_windows=2",
    "calib.holdout_windows=2",
]
# What a run's numbers are compared by where two ways of running it must agree.
NUMBERS = ("init/weight_err", "init/calib_err", "eval/wikitext2/ppl", "train/loss")
