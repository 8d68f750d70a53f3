"""docqa evaluation: eval sets (evalset.py), metrics (metrics.py), the runner (runner.py),
reports (report.py) and calibration of the answerability model (calibrate.py)."""
