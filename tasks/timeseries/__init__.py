"""Time-series forecasting: a window of past values in, the next `horizon` values out.

Default: an LSTM forecaster on monthly sunspot numbers (1749-1983) from the pmdarima
2.1.1 wheel. Also weekly Mauna Loa CO2 (statsmodels), half-hourly electricity demand
(pmdarima) and your own CSV/TSV/JSONL file (`DATA=f.csv ARGS="target=load"`). Every run
scores the model next to naive, seasonal naive, linear and ARIMA baselines on the same
test windows, in original units. The export takes raw windows in original units.
"""
