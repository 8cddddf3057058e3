// Load a SavedModel and run its signatures by signature key.
//
//   auto model = graphkit::SavedModel::Load("out/saved_model");
//   graphkit::Tensor x = graphkit::Tensor::FromValues(graphkit::DType::kFloat32, {1, 28, 28}, pixels);
//   auto outputs = model->Run("serving_default", {{"x", x}});
//   const float* probabilities = outputs.at("probabilities").data<float>();
//
// Callers name inputs and outputs by their signature keys ("x",
// "probabilities"), never by graph tensor names. Inputs are checked against
// the signature's TensorInfo (names, dtype, rank, known dims) before
// TensorFlow sees them; every problem is a graphkit::Error, never an abort.
// This header includes no TensorFlow header.
#ifndef GRAPHKIT_SAVED_MODEL_H_
#define GRAPHKIT_SAVED_MODEL_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graphkit/constants.h"
#include "graphkit/tensor.h"

namespace graphkit {

// One input or output of a signature.
struct TensorSpec {
  std::string key;          // signature key, e.g. "x"
  std::string tensor_name;  // graph tensor, e.g. "x:0"
  DType dtype = DType::kInvalid;
  bool unknown_rank = false;
  std::vector<int64_t> shape;  // -1 for an unknown dim
};

struct SignatureSpec {
  std::string key;
  std::string method_name;
  std::vector<TensorSpec> inputs;   // sorted by key
  std::vector<TensorSpec> outputs;  // sorted by key
};

struct LoadOptions {
  std::vector<std::string> tags{kServingTag};
  int intra_op_threads = 0;  // 0: TensorFlow picks (one per core)
  int inter_op_threads = 0;
};

class SavedModel {
 public:
  // Loads the MetaGraph tagged exactly `options.tags`, restores variables and
  // runs its init op (lookup tables read their asset files here).
  static std::unique_ptr<SavedModel> Load(const std::string& export_dir, const LoadOptions& options = {});
  ~SavedModel();
  SavedModel(const SavedModel&) = delete;
  SavedModel& operator=(const SavedModel&) = delete;

  const std::string& path() const;
  std::vector<std::string> Tags() const;
  std::vector<std::string> SignatureKeys() const;
  // Throws Error naming the known keys when `key` is not a signature.
  const SignatureSpec& Signature(const std::string& key) const;
  // Asset file names shipped in assets/.
  std::vector<std::string> Assets() const;

  // Throws Error for an unknown signature or input key, a missing input, or
  // a tensor whose dtype or shape does not fit the signature.
  void CheckInputs(const std::string& signature_key, const std::map<std::string, Tensor>& inputs) const;

  // Runs a signature; `output_keys` empty means all outputs. Returns output key -> tensor.
  std::map<std::string, Tensor> Run(const std::string& signature_key, const std::map<std::string, Tensor>& inputs,
                                    const std::vector<std::string>& output_keys = {}) const;

 private:
  struct Impl;
  explicit SavedModel(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace graphkit

#endif  // GRAPHKIT_SAVED_MODEL_H_
