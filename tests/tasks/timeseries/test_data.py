"""The built-in series, read as documented."""

from tasks.timeseries import data as ts_data
from tasks.timeseries.config import Config


def test_builtin_series_read_as_documented():
    config = Config()
    sunspots = ts_data.read_sunspots(config)
    assert sunspots.values.shape == (2820, 1) and str(sunspots.times[-1]).startswith("1983-12")
    co2 = ts_data.read_co2(config)
    assert co2.values.shape == (2284, 1) and co2.summary["missing_filled"] == 59
    electricity = ts_data.read_electricity(config)
    assert electricity.values.shape == (4032, 1) and electricity.values[0, 0] == 22262
