"""Training on MNIST, chapter 5: the loop, the optimiser, the metrics, the files, the command line.

* :mod:`.loop` -- ``TrainConfig`` (every hyper-parameter, checked once), ``train_step``, ``train``;
* :mod:`mnist_cnn.reference.optim` -- momentum SGD, Eq. (5.1), and the schedule, Eq. (5.2);
* :mod:`.metrics` -- predictions, accuracy and confusion matrix, Eqs. (5.4)/(5.5);
* :mod:`.artifacts` -- the weights (npz) and metrics (JSON) files, committed as one unit;
* :mod:`.checkpoint` -- the checkpoint of a run (resume bit for bit) and the ``--out`` checks;
* :mod:`.cli` -- ``python -m mnist_cnn.train [train|evaluate]``.
"""

from mnist_cnn.reference.optim import SGDMomentum, learning_rate
from mnist_cnn.train.artifacts import (
    WeightsFileError,
    commit_results,
    load_weights,
    save_weights,
    verify_results,
    write_json,
)
from mnist_cnn.train.checkpoint import (
    CheckpointError,
    RunState,
    load_checkpoint,
    prepare_out,
    save_checkpoint,
)
from mnist_cnn.train.loop import (
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    random_shifts,
    seed_streams,
    shift_images,
    train,
    train_step,
)
from mnist_cnn.train.metrics import accuracy, confusion_matrix, evaluate, predict

__all__ = [
    "CheckpointError",
    "RunState",
    "SGDMomentum",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "WeightsFileError",
    "accuracy",
    "commit_results",
    "confusion_matrix",
    "evaluate",
    "learning_rate",
    "load_checkpoint",
    "load_weights",
    "predict",
    "prepare_out",
    "random_shifts",
    "save_checkpoint",
    "save_weights",
    "verify_results",
    "seed_streams",
    "shift_images",
    "train",
    "train_step",
    "write_json",
]
