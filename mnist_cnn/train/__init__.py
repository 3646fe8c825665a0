"""Training on MNIST, chapter 5: the loop, the optimiser, the metrics, the files, the command line.

* :mod:`.loop` -- ``TrainConfig`` (every hyper-parameter, checked once), ``train_step``, ``train``;
* :mod:`.optim` -- momentum SGD, Eq. (5.1), and the learning-rate schedule, Eq. (5.2);
* :mod:`.metrics` -- predictions, accuracy and confusion matrix, Eqs. (5.4)/(5.5);
* :mod:`.artifacts` -- the weights (npz) and metrics (JSON) files, written atomically;
* :mod:`.cli` -- ``python -m mnist_cnn.train [train|evaluate]``.
"""

from .artifacts import WeightsFileError, load_weights, save_weights, write_json
from .loop import (
    TrainConfig,
    TrainResult,
    random_shifts,
    seed_streams,
    shift_images,
    train,
    train_step,
)
from .metrics import accuracy, confusion_matrix, evaluate, predict
from .optim import SGDMomentum, learning_rate

__all__ = [
    "SGDMomentum",
    "TrainConfig",
    "TrainResult",
    "WeightsFileError",
    "accuracy",
    "confusion_matrix",
    "evaluate",
    "learning_rate",
    "load_weights",
    "predict",
    "random_shifts",
    "save_weights",
    "seed_streams",
    "shift_images",
    "train",
    "train_step",
    "write_json",
]
