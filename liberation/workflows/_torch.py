"""Torch settings shared by the ML workflows (torch is imported only when a setting is made)."""

from __future__ import annotations


def set_threads(threads: int | None) -> None:
    """Set the CPU threads of torch (``torch.set_num_threads``); None or 0 leaves torch's default."""
    if threads:
        import torch

        torch.set_num_threads(int(threads))
