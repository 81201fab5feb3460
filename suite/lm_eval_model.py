"""lm-eval's model type ``qbench``: a qbench run's model, or an exported one, under lm-eval.

``--model qbench --model_args run=RUN`` (a run id or run key; ``tracking_uri=``,
``cache_dir=``, ``stage=trained|init`` optional) rebuilds a finished run's model as
``qbench export-model`` does (:mod:`suite.export.run_model`); ``path=DIR`` reads a folder that
``qbench export-model`` wrote (:mod:`suite.export.reader`). The model is lm-eval's ``HFLM``
around qbench's in-memory model, so log-likelihoods are HFLM's batched ones; every request
runs inside :func:`suite.quant.eval_bases.evaluation_bases` (each packed base dequantized once,
not per forward, on a CPU and on CUDA where the copies fit; else the faster packed kernels, by
measurement), and generation goes through qbench's
batched KV-cache decoder (:func:`tasks.generation.generate_encoded`) on prompts tokenized and
left-truncated as HFLM does.

Registration. lm-eval 0.4.13 knows the model types of its own table and those registered with
``lm_eval.api.registry.register_model`` by code that ran before it looks the name up; it reads
no entry points and its command line imports nothing of ours. Importing this module registers
``qbench``; ``qbench-lm-eval`` (or ``python -m suite.lm_eval_model``) is lm-eval's own command
line with that import done first, taking exactly lm-eval's arguments::

    qbench-lm-eval --model qbench --model_args run=3f2a...c9 \\
        --tasks qbench_cs_arc_easy --include_path tasks/lm_eval --limit 50

and from Python::

    import lm_eval, suite.lm_eval_model  # noqa: F401  (registers "qbench")
    lm_eval.simple_evaluate(model="qbench", model_args="path=exported/cloq-2bit", tasks=[...])

qbench's own task files (tasks/lm_eval/) read their documents from the data source named by
the TaskManager metadata ``qbench_data`` (``--metadata '{"qbench_data": "hub"}'``; ``sample``
by default).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lm_eval.api.registry import model_registry
from lm_eval.models.huggingface import HFLM  # imports lm_eval.models: its own types first
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs

NAME = "qbench"
TARGET_MODULE = "suite.lm_eval_model"


def _device(device: str | None) -> str:
    import torch

    if not device or device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        return "cpu"  # lm-eval's command line defaults to cuda:0 even without a GPU
    return str(device)


def load(
    run: str | None = None,
    path: str | None = None,
    stage: str = "trained",
    tracking_uri: str | None = None,
    cache_dir: str | None = None,
    device: str | None = "auto",
) -> tuple[Any, Any]:
    """(model, tokenizer) of a run (``run``) or an exported folder (``path``)."""
    from suite.spec import SpecError

    if (run is None) == (path is None):
        raise SpecError("model_args need exactly one of run=RUN_ID and path=DIR")
    if path is not None:
        from suite.export.reader import load_export

        return load_export(Path(path), _device(device))
    from suite.context import cache_dir_path
    from suite.export.run_model import find_run, load_run_model

    ref = find_run(str(run), tracking_uri)
    loaded = load_run_model(ref, stage, cache_dir_path(cache_dir), _device(device))
    return loaded.model, loaded.tokenizer


class QbenchLM(HFLM):
    """HFLM over a qbench model; see the module doc for ``model_args``."""

    def __init__(
        self,
        run: str | None = None,
        path: str | None = None,
        stage: str = "trained",
        tracking_uri: str | None = None,
        cache_dir: str | None = None,
        device: str | None = "auto",
        batch_size: int | str = 4,
        max_length: int | None = None,
        max_gen_toks: int = 256,
        model: Any = None,
        tokenizer: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.pop("max_batch_size", None)
        for key in ("qbench_data",):  # task metadata that lm-eval also passes to the model
            kwargs.pop(key, None)
        if model is None:
            model, tokenizer = load(run, path, stage, tracking_uri, cache_dir, device)
        super().__init__(
            pretrained=model,
            tokenizer=tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            max_gen_toks=max_gen_toks,
            **kwargs,
        )

    def _dense(self):
        from suite.quant.eval_bases import evaluation_bases

        return evaluation_bases(
            self.model, self.batch_size if isinstance(self.batch_size, int) else 8
        )

    def loglikelihood(self, requests, disable_tqdm: bool = False):
        with self._dense():
            return super().loglikelihood(requests, disable_tqdm)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        with self._dense():
            return super().loglikelihood_rolling(requests, disable_tqdm)

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Greedy or sampled continuations by qbench's batched decoder, grouped by settings."""
        from tasks.generation import Sampling, StopRule, generate_encoded

        groups: dict[str, list[int]] = {}
        for i, request in enumerate(requests):
            key = json.dumps(request.args[1], sort_keys=True, default=str)
            groups.setdefault(key, []).append(i)
        eos = self.tok_decode(self.eot_token_id, skip_special_tokens=False)
        out: list[str] = [""] * len(requests)
        batch = self.batch_size if isinstance(self.batch_size, int) else 8
        for indices in groups.values():
            settings = normalize_gen_kwargs(dict(requests[indices[0]].args[1]), self.max_gen_toks)
            until = handle_stop_sequences(settings.pop("until", None), eos=eos)
            max_new = int(settings.pop("max_gen_toks"))
            sampled = bool(settings.get("do_sample")) and float(settings["temperature"]) > 0
            sampling = Sampling(
                temperature=float(settings["temperature"]) if sampled else 0.0,
                top_k=int(settings.get("top_k") or 0),
                top_p=float(settings.get("top_p") or 1.0),
            )
            room = self.max_length - max_new
            encoded = [
                self.tok_encode(requests[i].args[0], left_truncate_len=room) for i in indices
            ]
            with self._dense():
                result = generate_encoded(
                    self.model,
                    self.tokenizer,
                    encoded,
                    max_new,
                    batch,
                    StopRule(tuple(until)),
                    sampling,
                )
            for i, text in zip(indices, result.texts, strict=True):
                out[i] = text
                self.cache_hook.add_partial("generate_until", requests[i].args, text)
        return out


# by import path, so a second import of this module (python -m) registers the same target
model_registry.register(NAME, target=f"{TARGET_MODULE}:QbenchLM")


def main() -> None:
    """lm-eval's command line with the ``qbench`` model type registered."""
    from lm_eval.__main__ import cli_evaluate

    cli_evaluate()


if __name__ == "__main__":
    main()
