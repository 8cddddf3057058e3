// Names a SavedModel is addressed by. Repeats graphkit/signatures.py once, the
// way TensorFlow keeps tag_constants; the two must stay equal (a test checks).
#ifndef GRAPHKIT_CONSTANTS_H_
#define GRAPHKIT_CONSTANTS_H_

namespace graphkit {

inline constexpr char kServingTag[] = "serve";
inline constexpr char kTrainingTag[] = "train";
inline constexpr char kDefaultSignatureKey[] = "serving_default";
inline constexpr char kPredictMethodName[] = "tensorflow/serving/predict";
inline constexpr char kSavedModelFilenamePb[] = "saved_model.pb";
inline constexpr char kSavedModelFilenamePbtxt[] = "saved_model.pbtxt";
inline constexpr char kVariablesDirectory[] = "variables";
inline constexpr char kAssetsDirectory[] = "assets";
inline constexpr char kFrozenGraphFilename[] = "frozen_graph.pb";
inline constexpr char kLabelsAsset[] = "labels.txt";
inline constexpr char kVocabularyAsset[] = "vocabulary.txt";

}  // namespace graphkit

#endif  // GRAPHKIT_CONSTANTS_H_
