#include "graphkit/tensor.h"

namespace graphkit {

const char* DTypeName(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kInt8: return "int8";
    case DType::kInt16: return "int16";
    case DType::kInt32: return "int32";
    case DType::kInt64: return "int64";
    case DType::kUInt8: return "uint8";
    case DType::kUInt16: return "uint16";
    case DType::kBool: return "bool";
    case DType::kString: return "string";
    case DType::kInvalid: break;
  }
  return "invalid";
}

size_t DTypeSize(DType dtype) {
  switch (dtype) {
    case DType::kFloat64:
    case DType::kInt64: return 8;
    case DType::kFloat32:
    case DType::kInt32: return 4;
    case DType::kInt16:
    case DType::kUInt16: return 2;
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool: return 1;
    case DType::kString:
    case DType::kInvalid: break;
  }
  return 0;
}

std::string ShapeText(const std::vector<int64_t>& shape, bool unknown_rank) {
  if (unknown_rank) return "[unknown rank]";
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) text += ",";
    text += shape[i] < 0 ? "?" : std::to_string(shape[i]);
  }
  return text + "]";
}

int64_t Tensor::NumElements() const {
  int64_t count = 1;
  for (int64_t dim : shape) count *= dim;
  return count;
}

Tensor Tensor::FromStrings(std::vector<int64_t> shape, std::vector<std::string> values) {
  Tensor tensor;
  tensor.dtype = DType::kString;
  tensor.shape = std::move(shape);
  if (static_cast<int64_t>(values.size()) != tensor.NumElements()) {
    throw Error("Tensor::FromStrings: " + std::to_string(values.size()) + " strings do not fill shape " +
                ShapeText(tensor.shape));
  }
  tensor.strings = std::move(values);
  return tensor;
}

}  // namespace graphkit
