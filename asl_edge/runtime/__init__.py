"""Everything a device needs to run an asl-edge artifact, and never TensorFlow.

preprocess (the one image path), formats (the export format table), metadata + integrity +
describe (what an artifact says about itself, and whether it is intact), runners (LiteRT, ONNX
Runtime; Keras is registered by :mod:`asl_edge.models`), predict, metrics, errors, fsutil,
runfolder (the run folder's file names) and outfolder (output folders: defaults and the rule
for writing into one); for the live loop, cameras (the camera source table), stream (frame
budget, label vote), liveview (the annotated frame, the window) and mjpeg (the frames streamed
to browsers).
``tests/test_layers.py`` fails if importing this package, or predicting with a ``.tflite``,
imports TensorFlow, tf_keras or tfmot.
"""
