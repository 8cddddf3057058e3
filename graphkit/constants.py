"""Names a SavedModel is addressed by: tags, signature keys, files, asset names.

Python (`graphkit.serving`, `graphkit.graphs`) and C++ (`graphkit/cpp/include/graphkit/constants.h`)
must agree on these strings, so they live here once and are repeated once in
C++, the way TensorFlow keeps `tag_constants` and `signature_constants`. The
values equal TensorFlow's own (`tf.saved_model.SERVING`, ...), so any
TensorFlow tool reads what graphkit writes.
"""

# Tags: which MetaGraph of a SavedModel to load.
SERVING_TAG = "serve"
TRAINING_TAG = "train"
DEFAULT_TAGS = (SERVING_TAG,)

# Signature keys and the method name of a prediction signature.
DEFAULT_SIGNATURE_KEY = "serving_default"
PREDICT_METHOD_NAME = "tensorflow/serving/predict"
INIT_OP_SIGNATURE_KEY = "__saved_model_init_op"  # TF2's initialiser "signature": an op, run at load

# Files and directories inside an export directory.
SAVED_MODEL_FILENAME_PB = "saved_model.pb"
SAVED_MODEL_FILENAME_PBTXT = "saved_model.pbtxt"
VARIABLES_DIRECTORY = "variables"
VARIABLES_FILENAME = "variables"  # variables/variables.index and variables/variables.data-*-of-*
ASSETS_DIRECTORY = "assets"
FROZEN_GRAPH_FILENAME = "frozen_graph.pb"
SAVED_MODEL_FILENAMES = (SAVED_MODEL_FILENAME_PB, SAVED_MODEL_FILENAME_PBTXT)

# Assets graphkit ships with its example models.
LABELS_ASSET = "labels.txt"          # one class name per line, index = class id
VOCABULARY_ASSET = "vocabulary.txt"  # one token per line, index = token id

# Name scope of the string constants that point extra assets into the graph.
ASSET_PATH_SCOPE = "graphkit_assets"

# Collections and file names TensorFlow's own tools write; graphkit reads them.
SAVED_MODEL_ASSETS_COLLECTION = "saved_model_assets"  # where tf.compat.v1.saved_model.Builder lists assets
CHECKPOINT_PREFIX = "model.ckpt"                       # what ModelSession names its checkpoints
