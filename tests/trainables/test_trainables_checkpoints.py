"""A trial's checkpoint file (aesweep/trainables/checkpoints.py) is read as tensors and plain
data only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from aesweep.trainables.checkpoints import CHECKPOINT_FILE
from aesweep.trainables.state import TrialState


def test_checkpoints_load_weights_only(tmp_path: Path) -> None:
    """A checkpoint carrying arbitrary pickled code is refused, never executed."""

    class Payload:
        def __reduce__(self):
            return (Path.touch, (tmp_path / "pwned",))

    torch.save({"epoch": 1, "model": Payload()}, tmp_path / CHECKPOINT_FILE)
    state = TrialState.__new__(TrialState)
    with pytest.raises(Exception, match="(?i)weights"):
        state.load(tmp_path)
    assert not (tmp_path / "pwned").exists()
