"""Pure ML for tickercast: windows, scalers, architectures, training, evaluation and export.

config, windows, features, evaluate, metrics, intervals, backtest, significance and predictor
import only numpy, pydantic (and onnxruntime) so the API process can use them without loading
TensorFlow; architectures, train and export import
TensorFlow and belong to training processes only.
"""

import os

# TensorFlow reads this when it loads, and every module that loads it is in this package, which
# Python imports first: set here once, or its C++ start-up chatter floods training job logs
# (local training processes, RQ work-horses, bench scripts alike).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
