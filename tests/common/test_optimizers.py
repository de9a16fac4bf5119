from common.config import TrainConfig
from common.optimizers import make_optimizer


def test_optimizer_clips_by_global_norm_unless_turned_off():
    assert make_optimizer(TrainConfig()).global_clipnorm == 1.0
    assert make_optimizer(TrainConfig(clipnorm=0)).global_clipnorm is None
