"""ApiQ's training step replayed as one CUDA graph.

A step of :func:`methods.apiq.train.fit` (a block's forward with seven fake-quantized layers,
twice with the augmented loss, the backward pass and AdamW) launches about a thousand small
kernels, and on a GPU the Python that launches them costs more than the kernels. So on CUDA the
first ``WARM`` steps run eagerly on a side stream (they are real steps, counted and recorded; they
also settle every lazy allocation), then one step is captured as a CUDA graph and each later
step copies its windows into the graph's input buffers and replays it: the same kernels on the
same tensors, launched at once.

What the graph needs, and gets: inputs at fixed addresses (``StepData``'s slices copied into
buffers of one step's size, so the windows must split into whole steps), an optimizer whose
step runs on the device (AdamW with ``capturable=True``, also for the eager steps, so all steps
compute alike), gradients allocated inside the graph (they are None when it is captured, so every
replay writes them afresh), and no autocast weight cache (the loss closures turn it off).
Capturing records kernels without running them, so no step is taken twice or skipped.
"""

from __future__ import annotations

import torch

WARM = 3  # eager steps before the capture


class GraphStep:
    """The steps of one attempt: eager for the first ``WARM``, then replays of one graph."""

    def __init__(self, data, optimizer: torch.optim.Optimizer) -> None:
        self.data, self.optimizer = data, optimizer
        self.taken = 0
        self.graph: torch.cuda.CUDAGraph | None = None
        self.inputs: tuple[torch.Tensor, ...] = ()
        self.loss: torch.Tensor | None = None
        self.side = torch.cuda.Stream()

    def step(self, start: int, stop: int) -> torch.Tensor:
        """Take one step on windows ``start:stop``; its loss (a device tensor)."""
        if self.taken < WARM:
            loss = self._eager(start, stop)
        else:
            if self.graph is None:
                self._capture(start, stop)
            for buffer, window in zip(self.inputs, self.data.slices(start, stop), strict=True):
                buffer.copy_(window)
            assert self.graph is not None and self.loss is not None
            self.graph.replay()
            loss = self.loss.detach().clone()
        self.taken += 1
        return loss

    def _eager(self, start: int, stop: int) -> torch.Tensor:
        current = torch.cuda.current_stream()
        self.side.wait_stream(current)
        with torch.cuda.stream(self.side):
            loss = self.data.step_loss(start, stop)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            loss = loss.detach()
        current.wait_stream(self.side)
        return loss

    def _capture(self, start: int, stop: int) -> None:
        self.inputs = tuple(t.clone() for t in self.data.slices(start, stop))
        self.optimizer.zero_grad(set_to_none=True)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            loss = self.data.loss(*self.inputs)
            loss.backward()
            self.optimizer.step()
        self.graph, self.loss = graph, loss
