// graphkit-run-core: load a SavedModel and run one signature from the command line
// (users run it through graphkit-run, which filters TensorFlow's log lines).
//
//   graphkit-run DIR --list
//   graphkit-run DIR --input x=image.npy --output-dir out/
//   graphkit-run DIR --signature lookup --text words=cat --text words=dog
//   graphkit-run DIR --input x=image.npy --repeat 1000
//
// Every user error is one line on stderr and exit code 2; nothing aborts.
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "graphkit/npy.h"
#include "graphkit/saved_model.h"

namespace {

constexpr char kUsage[] =
    "usage: graphkit-run SAVED_MODEL_DIR [--list] [--tags serve[,gpu]] [--signature KEY]\n"
    "                    [--input KEY=FILE.npy]... [--text KEY=STRING]... [--output KEY]...\n"
    "                    [--output-dir DIR] [--repeat N] [--warmup N] [--threads N] [--quiet]\n"
    "\n"
    "Loads a SavedModel and runs a signature, naming inputs and outputs by signature key.\n"
    "  --list          print tags, signatures (inputs/outputs with dtype and shape) and assets\n"
    "  --input K=F     feed signature input K from the .npy file F\n"
    "  --text K=S      append the string S to string input K (a [n] tensor, or a scalar for rank 0)\n"
    "  --output K      fetch only output K (repeatable; default: every output)\n"
    "  --output-dir D  write each output to D/K.npy instead of printing it\n"
    "  --repeat N      run N timed steps and print latency percentiles (p50/p90/p99, microseconds)\n"
    "  --warmup N      untimed steps before timing (default 10 with --repeat)\n"
    "  --threads N     intra-op and inter-op threads (default 0: TensorFlow picks, one per core)\n"
    "  --quiet         print no outputs (timing lines only)\n";

struct Options {
  std::string export_dir;
  std::vector<std::string> tags{graphkit::kServingTag};
  std::string signature = graphkit::kDefaultSignatureKey;
  std::vector<std::pair<std::string, std::string>> npy_inputs;
  std::vector<std::pair<std::string, std::string>> text_inputs;
  std::vector<std::string> outputs;
  std::string output_dir;
  bool list = false;
  bool quiet = false;
  int64_t repeat = 0;
  int64_t warmup = -1;
  int threads = 0;
};

struct UsageError : graphkit::Error {
  using graphkit::Error::Error;
};

std::pair<std::string, std::string> SplitAssignment(const std::string& flag, const std::string& text) {
  size_t equals = text.find('=');
  if (equals == std::string::npos || equals == 0) {
    throw UsageError(flag + ": expected KEY=VALUE, got '" + text + "'");
  }
  return {text.substr(0, equals), text.substr(equals + 1)};
}

int64_t ParseCount(const std::string& flag, const std::string& text, int64_t minimum) {
  char* end = nullptr;
  errno = 0;
  long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < minimum) {
    throw UsageError(flag + ": expected an integer >= " + std::to_string(minimum) + ", got '" + text + "'");
  }
  return value;
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> items;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

Options ParseArgs(int argc, char** argv) {
  Options options;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(arg + ": needs a value");
      return args[++i];
    };
    if (arg == "-h" || arg == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (arg == "--list") {
      options.list = true;
    } else if (arg == "--quiet") {
      options.quiet = true;
    } else if (arg == "--tags") {
      options.tags = SplitCommas(value());
      if (options.tags.empty()) throw UsageError("--tags: needs at least one tag");
    } else if (arg == "--signature") {
      options.signature = value();
    } else if (arg == "--input") {
      options.npy_inputs.push_back(SplitAssignment(arg, value()));
    } else if (arg == "--text") {
      options.text_inputs.push_back(SplitAssignment(arg, value()));
    } else if (arg == "--output") {
      options.outputs.push_back(value());
    } else if (arg == "--output-dir") {
      options.output_dir = value();
    } else if (arg == "--repeat") {
      options.repeat = ParseCount(arg, value(), 1);
    } else if (arg == "--warmup") {
      options.warmup = ParseCount(arg, value(), 0);
    } else if (arg == "--threads") {
      options.threads = static_cast<int>(ParseCount(arg, value(), 0));
    } else if (!arg.empty() && arg[0] == '-') {
      throw UsageError("unknown option '" + arg + "' (see --help)");
    } else if (options.export_dir.empty()) {
      options.export_dir = arg;
    } else {
      throw UsageError("unexpected argument '" + arg + "' (one SavedModel directory only)");
    }
  }
  if (options.export_dir.empty()) throw UsageError("missing SAVED_MODEL_DIR (see --help)");
  return options;
}

void PrintSpec(const char* role, const graphkit::TensorSpec& spec) {
  std::cout << "    " << role << "['" << spec.key << "'] " << graphkit::DTypeName(spec.dtype) << " "
            << graphkit::ShapeText(spec.shape, spec.unknown_rank) << " (" << spec.tensor_name << ")\n";
}

void PrintModel(const graphkit::SavedModel& model) {
  std::string tags;
  for (const std::string& tag : model.Tags()) tags += (tags.empty() ? "" : ",") + tag;
  std::cout << "SavedModel " << model.path() << " tag-set '" << tags << "'\n";
  for (const std::string& key : model.SignatureKeys()) {
    const graphkit::SignatureSpec& signature = model.Signature(key);
    std::cout << "  signature '" << key << "' (" << signature.method_name << ")\n";
    for (const auto& spec : signature.inputs) PrintSpec("inputs", spec);
    for (const auto& spec : signature.outputs) PrintSpec("outputs", spec);
  }
  std::vector<std::string> assets = model.Assets();
  if (!assets.empty()) {
    std::cout << "  assets:";
    for (const std::string& asset : assets) std::cout << " " << asset;
    std::cout << "\n";
  }
}

std::map<std::string, graphkit::Tensor> ReadInputs(const Options& options, const graphkit::SignatureSpec& signature) {
  std::map<std::string, graphkit::Tensor> inputs;
  for (const auto& [key, path] : options.npy_inputs) {
    if (inputs.count(key)) throw UsageError("--input " + key + ": given twice");
    inputs.emplace(key, graphkit::ReadNpy(path));
  }
  std::map<std::string, std::vector<std::string>> texts;
  for (const auto& [key, text] : options.text_inputs) {
    if (inputs.count(key)) throw UsageError("--text " + key + ": also given with --input");
    texts[key].push_back(text);
  }
  for (auto& [key, values] : texts) {
    // A rank-0 string input takes one --text as a scalar; otherwise a [n] vector.
    auto spec = std::find_if(signature.inputs.begin(), signature.inputs.end(),
                             [&](const graphkit::TensorSpec& s) { return s.key == key; });
    bool scalar = spec != signature.inputs.end() && !spec->unknown_rank && spec->shape.empty() && values.size() == 1;
    std::vector<int64_t> shape;
    if (!scalar) shape.push_back(static_cast<int64_t>(values.size()));
    inputs.emplace(key, graphkit::Tensor::FromStrings(shape, std::move(values)));
  }
  return inputs;
}

std::string Escape(const std::string& value) {
  std::string text = "\"";
  for (unsigned char c : value) {
    if (c == '"' || c == '\\') {
      text += '\\';
      text += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\x%02x", c);
      text += buffer;
    } else {
      text += static_cast<char>(c);
    }
  }
  return text + "\"";
}

std::string Element(const graphkit::Tensor& tensor, int64_t i) {
  char buffer[40];
  switch (tensor.dtype) {
    case graphkit::DType::kFloat32: std::snprintf(buffer, sizeof buffer, "%.9g", tensor.data<float>()[i]); break;
    case graphkit::DType::kFloat64: std::snprintf(buffer, sizeof buffer, "%.17g", tensor.data<double>()[i]); break;
    case graphkit::DType::kInt8: return std::to_string(tensor.data<int8_t>()[i]);
    case graphkit::DType::kInt16: return std::to_string(tensor.data<int16_t>()[i]);
    case graphkit::DType::kInt32: return std::to_string(tensor.data<int32_t>()[i]);
    case graphkit::DType::kInt64: return std::to_string(tensor.data<int64_t>()[i]);
    case graphkit::DType::kUInt8: return std::to_string(tensor.data<uint8_t>()[i]);
    case graphkit::DType::kUInt16: return std::to_string(tensor.data<uint16_t>()[i]);
    case graphkit::DType::kBool: return tensor.data<uint8_t>()[i] ? "true" : "false";
    case graphkit::DType::kString: return Escape(tensor.strings[i]);
    case graphkit::DType::kInvalid: return "?";
  }
  return buffer;
}

// One line per output: `key dtype [shape]: v0 v1 ...`, row-major.
void PrintOutput(const std::string& key, const graphkit::Tensor& tensor) {
  std::cout << key << " " << graphkit::DTypeName(tensor.dtype) << " " << graphkit::ShapeText(tensor.shape) << ":";
  for (int64_t i = 0; i < tensor.NumElements(); ++i) std::cout << " " << Element(tensor, i);
  std::cout << "\n";
}

double PeakRssMb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
  return -1.0;
}

// Nearest-rank percentile of sorted samples (the same rule the Python side uses).
double Percentile(const std::vector<double>& sorted, double p) {
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

int Run(const Options& options) {
  graphkit::LoadOptions load_options;
  load_options.tags = options.tags;
  load_options.intra_op_threads = options.threads;
  load_options.inter_op_threads = options.threads;
  auto model = graphkit::SavedModel::Load(options.export_dir, load_options);
  if (options.list) {
    PrintModel(*model);
    return 0;
  }
  const graphkit::SignatureSpec& signature = model->Signature(options.signature);
  std::map<std::string, graphkit::Tensor> inputs = ReadInputs(options, signature);
  model->CheckInputs(options.signature, inputs);

  std::map<std::string, graphkit::Tensor> outputs;
  if (options.repeat > 0) {
    int64_t warmup = options.warmup < 0 ? 10 : options.warmup;
    for (int64_t i = 0; i < warmup; ++i) outputs = model->Run(options.signature, inputs, options.outputs);
    std::vector<double> micros;
    micros.reserve(options.repeat);
    for (int64_t i = 0; i < options.repeat; ++i) {
      auto start = std::chrono::steady_clock::now();
      outputs = model->Run(options.signature, inputs, options.outputs);
      auto stop = std::chrono::steady_clock::now();
      micros.push_back(std::chrono::duration<double, std::micro>(stop - start).count());
    }
    double mean = 0;
    for (double m : micros) mean += m / micros.size();
    std::sort(micros.begin(), micros.end());
    std::printf("latency: runs=%" PRId64 " p50_us=%.1f p90_us=%.1f p99_us=%.1f mean_us=%.1f\n", options.repeat,
                Percentile(micros, 50), Percentile(micros, 90), Percentile(micros, 99), mean);
  } else {
    outputs = model->Run(options.signature, inputs, options.outputs);
  }
  if (!options.output_dir.empty()) {  // created only once there is something to write
    std::error_code error;
    std::filesystem::create_directories(options.output_dir, error);
    if (error) throw graphkit::Error(options.output_dir + ": cannot create the output directory (" +
                                     error.message() + ")");
  }
  for (const auto& [key, tensor] : outputs) {
    if (!options.output_dir.empty()) {
      graphkit::WriteNpy(options.output_dir + "/" + key + ".npy", tensor);
    } else if (!options.quiet) {
      PrintOutput(key, tensor);
    }
  }
  std::printf("peak_rss_mb: %.1f\n", PeakRssMb());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  setenv("TF_CPP_MIN_LOG_LEVEL", "2", /*overwrite=*/0);  // keep TensorFlow's start-up chatter off stderr
  std::ios::sync_with_stdio(true);
  try {
    return Run(ParseArgs(argc, argv));
  } catch (const graphkit::Error& error) {
    std::cerr << "graphkit-run: error: " << error.what() << std::endl;
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "graphkit-run: internal error: " << error.what() << std::endl;
    return 1;
  }
}
