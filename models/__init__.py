"""Pure ML for tickercast: windows, scalers, architectures, training, evaluation and export.

config, windows, features, evaluate, metrics, intervals, backtest, significance and predictor
import only numpy, pydantic (and onnxruntime) so the API process can use them without loading
TensorFlow; architectures, train and export import
TensorFlow and belong to training processes only.
"""
