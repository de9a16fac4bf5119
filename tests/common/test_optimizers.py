import pytest

from common.config import TrainConfig
from common.optimizers import make_optimizer


def test_optimizer_clips_by_global_norm_unless_turned_off():
    assert make_optimizer(TrainConfig()).global_clipnorm == 1.0
    assert make_optimizer(TrainConfig(clipnorm=0)).global_clipnorm is None


def test_warm_up_rises_linearly_to_the_learning_rate_then_stays():
    optimizer = make_optimizer(TrainConfig(learning_rate=1e-3), warmup_steps=100)
    rates = []
    for step in (0, 25, 50, 100, 101, 10_000):
        optimizer.iterations.assign(step)
        rates.append(float(optimizer.learning_rate))
    assert rates == pytest.approx([0.0, 2.5e-4, 5e-4, 1e-3, 1e-3, 1e-3])
    assert float(make_optimizer(TrainConfig(learning_rate=1e-3)).learning_rate) == pytest.approx(1e-3)
