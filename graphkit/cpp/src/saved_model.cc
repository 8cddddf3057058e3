// The one translation unit that includes TensorFlow headers (they are slow to
// compile): loading, signature specs, checks, and runs via cached callables.
#include "graphkit/saved_model.h"

#include <algorithm>
#include <filesystem>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "tensorflow/cc/saved_model/loader.h"
#include "tensorflow/cc/saved_model/reader.h"
#include "tensorflow/core/framework/tensor.h"
#include "tensorflow/core/framework/tensor_shape.h"
#include "tensorflow/core/protobuf/meta_graph.pb.h"
#include "tensorflow/core/protobuf/saved_model.pb.h"
#include "tensorflow/core/protobuf/saved_object_graph.pb.h"
#include "tensorflow/core/protobuf/trackable_object_graph.pb.h"
#include "tensorflow/core/public/session.h"

namespace graphkit {
namespace {

constexpr char kAssetsCollection[] = "saved_model_assets";  // TensorFlow's constants::kSavedModelAssetsKey

std::string FirstLine(const absl::Status& status) {
  std::string text(status.message());
  size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  return text.empty() ? std::string(absl::StatusCodeToString(status.code())) : text;
}

DType FromTf(tensorflow::DataType dtype) {
  switch (dtype) {
    case tensorflow::DT_FLOAT: return DType::kFloat32;
    case tensorflow::DT_DOUBLE: return DType::kFloat64;
    case tensorflow::DT_INT8: return DType::kInt8;
    case tensorflow::DT_INT16: return DType::kInt16;
    case tensorflow::DT_INT32: return DType::kInt32;
    case tensorflow::DT_INT64: return DType::kInt64;
    case tensorflow::DT_UINT8: return DType::kUInt8;
    case tensorflow::DT_UINT16: return DType::kUInt16;
    case tensorflow::DT_BOOL: return DType::kBool;
    case tensorflow::DT_STRING: return DType::kString;
    default: return DType::kInvalid;
  }
}

tensorflow::DataType ToTf(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return tensorflow::DT_FLOAT;
    case DType::kFloat64: return tensorflow::DT_DOUBLE;
    case DType::kInt8: return tensorflow::DT_INT8;
    case DType::kInt16: return tensorflow::DT_INT16;
    case DType::kInt32: return tensorflow::DT_INT32;
    case DType::kInt64: return tensorflow::DT_INT64;
    case DType::kUInt8: return tensorflow::DT_UINT8;
    case DType::kUInt16: return tensorflow::DT_UINT16;
    case DType::kBool: return tensorflow::DT_BOOL;
    case DType::kString: return tensorflow::DT_STRING;
    case DType::kInvalid: break;
  }
  return tensorflow::DT_INVALID;
}

std::vector<TensorSpec> Specs(const google::protobuf::Map<std::string, tensorflow::TensorInfo>& infos) {
  std::vector<TensorSpec> specs;
  for (const auto& [key, info] : infos) {
    TensorSpec spec;
    spec.key = key;
    spec.tensor_name = info.name();
    spec.dtype = FromTf(info.dtype());
    spec.unknown_rank = info.tensor_shape().unknown_rank();
    for (const auto& dim : info.tensor_shape().dim()) spec.shape.push_back(dim.size() < 0 ? -1 : dim.size());
    specs.push_back(std::move(spec));
  }
  std::sort(specs.begin(), specs.end(), [](const TensorSpec& a, const TensorSpec& b) { return a.key < b.key; });
  return specs;
}

std::string Join(const std::vector<std::string>& items, const char* separator) {
  std::string text;
  for (size_t i = 0; i < items.size(); ++i) text += (i ? separator : "") + items[i];
  return text;
}

tensorflow::Tensor ToTfTensor(const std::string& where, const Tensor& tensor) {
  tensorflow::TensorShape shape;
  absl::Status status = tensorflow::TensorShape::BuildTensorShape(tensor.shape, &shape);
  if (!status.ok()) throw Error(where + ": invalid shape " + ShapeText(tensor.shape) + ": " + FirstLine(status));
  tensorflow::Tensor result(ToTf(tensor.dtype), shape);
  if (tensor.dtype == DType::kString) {
    if (static_cast<int64_t>(tensor.strings.size()) != result.NumElements()) {
      throw Error(where + ": " + std::to_string(tensor.strings.size()) + " strings do not fill shape " +
                  ShapeText(tensor.shape));
    }
    auto flat = result.flat<tensorflow::tstring>();
    for (size_t i = 0; i < tensor.strings.size(); ++i) flat(i) = tensor.strings[i];
    return result;
  }
  size_t bytes = static_cast<size_t>(result.NumElements()) * DTypeSize(tensor.dtype);
  if (tensor.bytes.size() != bytes) {
    throw Error(where + ": holds " + std::to_string(tensor.bytes.size()) + " bytes, shape " +
                ShapeText(tensor.shape) + " needs " + std::to_string(bytes));
  }
  if (bytes) std::memcpy(result.data(), tensor.bytes.data(), bytes);
  return result;
}

Tensor FromTfTensor(const std::string& where, const tensorflow::Tensor& tensor) {
  Tensor result;
  result.dtype = FromTf(tensor.dtype());
  if (result.dtype == DType::kInvalid) {
    throw Error(where + ": output dtype " + tensorflow::DataTypeString(tensor.dtype()) + " is not supported");
  }
  for (int64_t dim : tensor.shape().dim_sizes()) result.shape.push_back(dim);
  if (result.dtype == DType::kString) {
    auto flat = tensor.flat<tensorflow::tstring>();
    result.strings.reserve(flat.size());
    for (int64_t i = 0; i < flat.size(); ++i) result.strings.emplace_back(flat(i).data(), flat(i).size());
    return result;
  }
  auto data = tensor.tensor_data();
  result.bytes.assign(data.data(), data.data() + data.size());
  return result;
}

// -- TF2 signatures reading handles the v1 restore op leaves empty -----------------------------------
// A TF2 signature is a call op whose last inputs are the variable handles its function captures
// (bound_inputs of its concrete function). Keras 3 models saved with tf.saved_model.save read
// handles there that the MetaGraph's restore op never fills (it restores other handles of the same
// objects). As graphkit.runtime.saved_model.restore_captured_variables does in Python, those
// handles get the checkpoint's values, found by object-graph id.
constexpr char kRestoreScope[] = "graphkit_restore_captured";

tensorflow::NodeDef StringConst(const std::string& name, const std::vector<std::string>& values, bool scalar) {
  tensorflow::Tensor tensor(tensorflow::DT_STRING,
                            scalar ? tensorflow::TensorShape({}) : tensorflow::TensorShape({(int64_t)values.size()}));
  auto flat = tensor.flat<tensorflow::tstring>();
  for (size_t i = 0; i < values.size(); ++i) flat(i) = values[i];
  tensorflow::NodeDef node;
  node.set_name(name);
  node.set_op("Const");
  (*node.mutable_attr())["dtype"].set_type(tensorflow::DT_STRING);
  tensor.AsProtoField((*node.mutable_attr())["value"].mutable_tensor());
  return node;
}

tensorflow::NodeDef RestoreOp(const std::string& name, const std::string& prefix, const std::string& names,
                              const std::string& slices, const std::vector<tensorflow::DataType>& dtypes) {
  tensorflow::NodeDef node;
  node.set_name(name);
  node.set_op("RestoreV2");
  node.add_input(prefix);
  node.add_input(names);
  node.add_input(slices);
  auto* list = (*node.mutable_attr())["dtypes"].mutable_list();
  for (auto dtype : dtypes) list->add_type(dtype);
  return node;
}

// Handle op name -> object-graph node id of every variable a TF2 call op captures.
std::map<std::string, int> CapturedVariables(const tensorflow::MetaGraphDef& meta_graph) {
  const auto& objects = meta_graph.object_graph_def();
  std::map<std::string, int> captured;
  for (const auto& node : meta_graph.graph_def().node()) {
    auto f = node.attr().find("f");
    if (f == node.attr().end()) continue;
    auto function = objects.concrete_functions().find(f->second.func().name());
    if (function == objects.concrete_functions().end() || function->second.bound_inputs_size() == 0) continue;
    std::vector<std::string> data_inputs;
    for (const auto& input : node.input()) {
      if (input.empty() || input[0] != '^') data_inputs.push_back(input.substr(0, input.find(':')));
    }
    const auto& bound = function->second.bound_inputs();
    if (bound.size() > (int)data_inputs.size()) continue;
    size_t first = data_inputs.size() - bound.size();
    for (int i = 0; i < bound.size(); ++i) {
      int id = bound[i];
      if (id >= 0 && id < objects.nodes_size() && objects.nodes(id).kind_case() == tensorflow::SavedObject::kVariable) {
        captured[data_inputs[first + i]] = id;
      }
    }
  }
  return captured;
}

void RestoreCapturedVariables(const std::string& export_dir, tensorflow::SavedModelBundle* bundle) {
  const auto& meta_graph = bundle->meta_graph_def;
  std::map<std::string, int> captured = CapturedVariables(meta_graph);
  if (captured.empty()) return;
  const std::string scope = kRestoreScope;
  const std::string prefix = (std::filesystem::path(export_dir) / kVariablesDirectory / "variables").string();
  // Step 1: which handles are empty, and the checkpoint's object graph.
  tensorflow::GraphDef probe;
  *probe.add_node() = StringConst(scope + "/prefix", {prefix}, true);
  *probe.add_node() = StringConst(scope + "/graph_key", {"_CHECKPOINTABLE_OBJECT_GRAPH"}, false);
  *probe.add_node() = StringConst(scope + "/graph_slice", {""}, false);
  *probe.add_node() = RestoreOp(scope + "/object_graph", scope + "/prefix", scope + "/graph_key",
                                scope + "/graph_slice", {tensorflow::DT_STRING});
  std::vector<std::string> fetches = {scope + "/object_graph:0"};
  std::vector<std::string> handles;
  for (const auto& [handle, id] : captured) {
    tensorflow::NodeDef* check = probe.add_node();
    check->set_name(scope + "/initialized_" + std::to_string(handles.size()));
    check->set_op("VarIsInitializedOp");
    check->add_input(handle);
    fetches.push_back(check->name() + ":0");
    handles.push_back(handle);
  }
  auto status = bundle->session->Extend(probe);
  if (!status.ok()) throw Error(export_dir + ": cannot restore captured variables: " + FirstLine(status));
  std::vector<tensorflow::Tensor> results;
  status = bundle->session->Run({}, fetches, {}, &results);
  if (!status.ok()) throw Error(export_dir + ": cannot restore captured variables: " + FirstLine(status));
  tensorflow::TrackableObjectGraph checkpoint_graph;
  const auto& serialized = results[0].flat<tensorflow::tstring>()(0);
  if (!checkpoint_graph.ParseFromArray(serialized.data(), serialized.size())) {
    throw Error(prefix + ": the checkpoint's object graph does not parse");
  }
  // Step 2: restore the empty ones from their checkpoint keys.
  std::vector<std::string> keys, empty;
  std::vector<tensorflow::DataType> dtypes;
  for (size_t i = 0; i < handles.size(); ++i) {
    if (results[i + 1].scalar<bool>()()) continue;
    int id = captured[handles[i]];
    std::string key;
    if (id < checkpoint_graph.nodes_size()) {
      for (const auto& attribute : checkpoint_graph.nodes(id).attributes()) {
        if (attribute.name() == "VARIABLE_VALUE") key = attribute.checkpoint_key();
      }
    }
    if (key.empty()) throw Error(prefix + ": no checkpoint value for variable handle " + handles[i]);
    keys.push_back(key);
    empty.push_back(handles[i]);
    dtypes.push_back(meta_graph.object_graph_def().nodes(id).variable().dtype());
  }
  if (empty.empty()) return;
  tensorflow::GraphDef assign;
  *assign.add_node() = StringConst(scope + "/keys", keys, false);
  *assign.add_node() = StringConst(scope + "/slices", std::vector<std::string>(keys.size(), ""), false);
  *assign.add_node() = RestoreOp(scope + "/values", scope + "/prefix", scope + "/keys", scope + "/slices", dtypes);
  std::vector<std::string> targets;
  for (size_t i = 0; i < empty.size(); ++i) {
    tensorflow::NodeDef* node = assign.add_node();
    node->set_name(scope + "/assign_" + std::to_string(i));
    node->set_op("AssignVariableOp");
    node->add_input(empty[i]);
    node->add_input(scope + "/values:" + std::to_string(i));
    (*node->mutable_attr())["dtype"].set_type(dtypes[i]);
    targets.push_back(node->name());
  }
  status = bundle->session->Extend(assign);
  if (status.ok()) status = bundle->session->Run({}, {}, targets, nullptr);
  if (!status.ok()) throw Error(export_dir + ": cannot restore captured variables: " + FirstLine(status));
}

}  // namespace

struct SavedModel::Impl {
  std::string path;
  std::vector<std::string> tags;
  tensorflow::SavedModelBundle bundle;
  std::map<std::string, SignatureSpec> signatures;
  std::vector<std::string> assets;
  // One callable per (signature, input keys, output keys): after the first
  // run a step is just RunCallable, with no name lookups.
  mutable std::mutex mutex;
  mutable std::unordered_map<std::string, tensorflow::Session::CallableHandle> callables;

  ~Impl() {
    if (bundle.session) {
      for (auto& [key, handle] : callables) bundle.session->ReleaseCallable(handle).IgnoreError();
    }
  }
};

SavedModel::SavedModel(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SavedModel::~SavedModel() = default;

std::unique_ptr<SavedModel> SavedModel::Load(const std::string& export_dir, const LoadOptions& options) {
  namespace fs = std::filesystem;
  std::error_code error;
  if (!fs::is_directory(export_dir, error)) throw Error(export_dir + ": SavedModel directory does not exist");
  if (!fs::exists(fs::path(export_dir) / kSavedModelFilenamePb, error) &&
      !fs::exists(fs::path(export_dir) / kSavedModelFilenamePbtxt, error)) {
    throw Error(export_dir + ": no " + std::string(kSavedModelFilenamePb) + " in the directory");
  }
  tensorflow::SavedModel proto;
  absl::Status status = tensorflow::ReadSavedModel(export_dir, &proto);
  if (!status.ok()) throw Error(export_dir + ": corrupt SavedModel file: " + FirstLine(status));
  if (proto.meta_graphs_size() == 0) throw Error(export_dir + ": corrupt SavedModel file: it holds no MetaGraph");
  std::set<std::string> wanted(options.tags.begin(), options.tags.end());
  std::vector<std::string> known;
  bool found = false;
  for (const auto& meta_graph : proto.meta_graphs()) {
    std::set<std::string> tags(meta_graph.meta_info_def().tags().begin(), meta_graph.meta_info_def().tags().end());
    found = found || tags == wanted;
    known.push_back("'" + Join(std::vector<std::string>(tags.begin(), tags.end()), ",") + "'");
  }
  if (!found) {
    throw Error(export_dir + ": no MetaGraph with tag set '" + Join(options.tags, ",") + "'; known: " +
                Join(known, " "));
  }

  auto impl = std::make_unique<Impl>();
  impl->path = export_dir;
  impl->tags = options.tags;
  tensorflow::SessionOptions session_options;
  session_options.config.set_intra_op_parallelism_threads(options.intra_op_threads);
  session_options.config.set_inter_op_parallelism_threads(options.inter_op_threads);
  for (const auto& candidate : proto.meta_graphs()) {
    std::set<std::string> tags(candidate.meta_info_def().tags().begin(), candidate.meta_info_def().tags().end());
    if (tags == wanted && !CapturedVariables(candidate).empty()) {
      // RestoreCapturedVariables extends the loaded graph, which a static-graph session refuses.
      session_options.config.mutable_experimental()->set_disable_optimize_for_static_graph(true);
    }
  }
  tensorflow::RunOptions run_options;
  std::unordered_set<std::string> tag_set(options.tags.begin(), options.tags.end());
  status = tensorflow::LoadSavedModel(session_options, run_options, export_dir, tag_set, &impl->bundle);
  if (!status.ok()) throw Error(export_dir + ": cannot load SavedModel: " + FirstLine(status));
  RestoreCapturedVariables(export_dir, &impl->bundle);

  const tensorflow::MetaGraphDef& meta_graph = impl->bundle.meta_graph_def;
  for (const auto& [key, signature] : meta_graph.signature_def()) {
    SignatureSpec spec;
    spec.key = key;
    spec.method_name = signature.method_name();
    spec.inputs = Specs(signature.inputs());
    spec.outputs = Specs(signature.outputs());
    impl->signatures.emplace(key, std::move(spec));
  }
  std::set<std::string> assets;
  for (const auto& asset : meta_graph.asset_file_def()) assets.insert(asset.filename());
  auto collection = meta_graph.collection_def().find(kAssetsCollection);
  if (collection != meta_graph.collection_def().end()) {
    for (const auto& any : collection->second.any_list().value()) {
      tensorflow::AssetFileDef asset;
      if (any.UnpackTo(&asset)) assets.insert(asset.filename());
    }
  }
  impl->assets.assign(assets.begin(), assets.end());
  return std::unique_ptr<SavedModel>(new SavedModel(std::move(impl)));
}

const std::string& SavedModel::path() const { return impl_->path; }
std::vector<std::string> SavedModel::Tags() const { return impl_->tags; }
std::vector<std::string> SavedModel::Assets() const { return impl_->assets; }

std::vector<std::string> SavedModel::SignatureKeys() const {
  std::vector<std::string> keys;
  for (const auto& [key, spec] : impl_->signatures) keys.push_back(key);
  return keys;
}

const SignatureSpec& SavedModel::Signature(const std::string& key) const {
  auto found = impl_->signatures.find(key);
  if (found == impl_->signatures.end()) {
    throw Error(impl_->path + ": no signature '" + key + "'; known: " + Join(SignatureKeys(), ", "));
  }
  return found->second;
}

void SavedModel::CheckInputs(const std::string& signature_key, const std::map<std::string, Tensor>& inputs) const {
  const SignatureSpec& signature = Signature(signature_key);
  const std::string where = impl_->path + " signature '" + signature_key + "'";
  std::vector<std::string> known;
  for (const TensorSpec& spec : signature.inputs) known.push_back(spec.key);
  for (const auto& [key, tensor] : inputs) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      throw Error(where + ": no input '" + key + "'; known: " + Join(known, ", "));
    }
  }
  for (const TensorSpec& spec : signature.inputs) {
    auto found = inputs.find(spec.key);
    if (found == inputs.end()) {
      throw Error(where + ": missing input '" + spec.key + "' (" + DTypeName(spec.dtype) + " " +
                  ShapeText(spec.shape, spec.unknown_rank) + ")");
    }
    const Tensor& tensor = found->second;
    const std::string input = where + " input '" + spec.key + "'";
    if (tensor.dtype != spec.dtype) {
      throw Error(input + ": expected dtype " + DTypeName(spec.dtype) + ", got " + DTypeName(tensor.dtype));
    }
    if (!spec.unknown_rank) {
      bool fits = tensor.shape.size() == spec.shape.size();
      for (size_t i = 0; fits && i < spec.shape.size(); ++i) {
        fits = spec.shape[i] < 0 || spec.shape[i] == tensor.shape[i];
      }
      if (!fits) {
        throw Error(input + ": expected shape " + ShapeText(spec.shape) + ", got " + ShapeText(tensor.shape));
      }
    }
  }
}

std::map<std::string, Tensor> SavedModel::Run(const std::string& signature_key,
                                              const std::map<std::string, Tensor>& inputs,
                                              const std::vector<std::string>& output_keys) const {
  CheckInputs(signature_key, inputs);
  const SignatureSpec& signature = Signature(signature_key);
  const std::string where = impl_->path + " signature '" + signature_key + "'";
  std::vector<const TensorSpec*> outputs;
  if (output_keys.empty()) {
    for (const TensorSpec& spec : signature.outputs) outputs.push_back(&spec);
  }
  for (const std::string& key : output_keys) {
    auto found = std::find_if(signature.outputs.begin(), signature.outputs.end(),
                              [&](const TensorSpec& spec) { return spec.key == key; });
    if (found == signature.outputs.end()) {
      std::vector<std::string> known;
      for (const TensorSpec& spec : signature.outputs) known.push_back(spec.key);
      throw Error(where + ": no output '" + key + "'; known: " + Join(known, ", "));
    }
    outputs.push_back(&*found);
  }

  // inputs is a std::map and signature.inputs is sorted, so feeds follow key order.
  std::vector<tensorflow::Tensor> feeds;
  std::string cache_key = signature_key + "|";
  for (const TensorSpec& spec : signature.inputs) {
    feeds.push_back(ToTfTensor(where + " input '" + spec.key + "'", inputs.at(spec.key)));
    cache_key += spec.key + ",";
  }
  cache_key += "|";
  for (const TensorSpec* spec : outputs) cache_key += spec->key + ",";

  tensorflow::Session::CallableHandle handle;
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    auto found = impl_->callables.find(cache_key);
    if (found == impl_->callables.end()) {
      tensorflow::CallableOptions callable;
      for (const TensorSpec& spec : signature.inputs) callable.add_feed(spec.tensor_name);
      for (const TensorSpec* spec : outputs) callable.add_fetch(spec->tensor_name);
      absl::Status status = impl_->bundle.session->MakeCallable(callable, &handle);
      if (!status.ok()) throw Error(where + ": cannot prepare the run: " + FirstLine(status));
      impl_->callables.emplace(cache_key, handle);
    } else {
      handle = found->second;
    }
  }
  std::vector<tensorflow::Tensor> fetched;
  absl::Status status = impl_->bundle.session->RunCallable(handle, feeds, &fetched, nullptr);
  if (!status.ok()) throw Error(where + ": run failed: " + FirstLine(status));
  std::map<std::string, Tensor> results;
  for (size_t i = 0; i < outputs.size(); ++i) {
    results.emplace(outputs[i]->key, FromTfTensor(where + " output '" + outputs[i]->key + "'", fetched[i]));
  }
  return results;
}

}  // namespace graphkit
