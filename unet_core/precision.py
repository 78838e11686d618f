"""Training precision: fp32, or bf16 autocast with channels_last where the device computes bf16 natively."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class Precision:
    """A resolved precision.

    Attributes:
        requested: what was asked for (auto, fp32 or bf16).
        name: what training uses: "bf16" (autocast forward, float32 weights and optimiser) or "fp32".
        channels_last: NHWC memory format for the model and its inputs.
        note: why the name differs from the request ("" when it does not).
    """

    requested: str
    name: str
    channels_last: bool
    note: str = ""

    @property
    def bf16(self) -> bool:
        """Whether the forward pass runs in bf16 autocast."""
        return self.name == "bf16"


def resolve_precision(requested: str, device: torch.device | str = "cpu", native_bf16: bool | None = None) -> Precision:
    """What `requested` means on `device`: bf16 (+ channels_last) where bf16 is native (CUDA, or a CPU with
    AVX512-BF16/AMX), else fp32; an explicit bf16 on a CPU without native bf16 falls back to fp32 with a note.
    `native_bf16` overrides the CPU probe (tests)."""
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}: choose one of {', '.join(PRECISIONS)}")
    import torch  # deferred: the search's flags are checked against PRECISIONS without loading torch

    from .inference import cpu_has_native_bf16  # deferred: imports torch

    device = torch.device(device)
    if device.type == "cuda":
        return Precision(requested, "fp32" if requested == "fp32" else "bf16", channels_last=True)
    if requested == "fp32":
        return Precision(requested, "fp32", channels_last=False)
    native = cpu_has_native_bf16() if native_bf16 is None else native_bf16
    if native:
        return Precision(requested, "bf16", channels_last=True)
    note = "" if requested == "auto" else "this CPU has no native bf16 (no AVX512-BF16 or AMX), where bf16 autocast is several times slower: fp32 used"
    return Precision(requested, "fp32", channels_last=False, note=note)
