"""Run ``laserlab.train.fit`` in its own process for the resume and DDP tests.

``python run_fit.py CONFIG.json RESULT_DIR [KILL_AT_STEP]``: trains, then writes each rank's model state
(and objective state, keys ``objective.*``) to ``RESULT_DIR/state-rank<r>.pt`` and its final metrics to
``RESULT_DIR/metrics-rank<r>.json``. With KILL_AT_STEP the process SIGKILLs itself right after that
optimiser step (no clean shutdown).
"""

import json
import os
import signal
import sys
from pathlib import Path

import lightning as L
import torch

from laserlab.train import fit


class KillAt(L.Callback):
    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    torch.set_num_threads(1)
    config = json.loads(Path(sys.argv[1]).read_text())
    results = Path(sys.argv[2])
    callbacks = [KillAt(int(sys.argv[3]))] if len(sys.argv) > 3 else []
    result = fit(config, callbacks=callbacks)
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    results.mkdir(parents=True, exist_ok=True)
    # the model's state, plus any trainable objective part (e.g. the cross-scale predictors) as objective.*
    objective = {f"objective.{key}": value for key, value in result.module.objective.state_dict().items()}
    torch.save({**result.model.state_dict(), **objective}, results / f"state-rank{rank}.pt")
    (results / f"metrics-rank{rank}.json").write_text(
        json.dumps({**result.metrics, "step": result.global_step})
    )


if __name__ == "__main__":
    main()
