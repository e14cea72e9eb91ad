"""Pure ML for tickercast: windows, scalers, architectures, training, evaluation and export.

config, windows, features, evaluate and predictor import only numpy (and onnxruntime) so the
API process can use them without loading TensorFlow; architectures, train and export import
TensorFlow and belong to training processes only.
"""
