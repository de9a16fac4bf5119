import json

import keras
import tensorflow as tf

from common import runtime
from common.config import TrainConfig


def test_default_strategy_on_one_cpu(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"index": 0}}))
    strategy = runtime.get_strategy()
    assert strategy.num_replicas_in_sync == 1 and strategy is tf.distribute.get_strategy()


def test_mixed_precision_policy_is_set_and_reset():
    try:
        runtime.set_precision(True)
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
    finally:
        runtime.set_precision(False)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_op_determinism_is_on_by_default_and_can_be_turned_off():
    from tensorflow.python.framework import config as framework_config

    class ToyTask:
        def prepare_config(self, config):
            return config

    try:
        runtime.prepare(ToyTask(), TrainConfig(deterministic=False))
        assert not framework_config.is_op_determinism_enabled()
        runtime.prepare(ToyTask(), TrainConfig())
        assert framework_config.is_op_determinism_enabled()
    finally:
        runtime.set_determinism(True)  # as every run now trains
