// A plain host tensor (dtype, shape, bytes or strings) that callers of the
// graphkit C++ library use instead of tensorflow::Tensor, so that their code
// needs no TensorFlow headers.
#ifndef GRAPHKIT_TENSOR_H_
#define GRAPHKIT_TENSOR_H_

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

namespace graphkit {

// Every problem a caller can cause (missing model, unknown signature or input,
// wrong dtype or shape, unreadable .npy) is thrown as one Error with a
// one-line message that starts with where the problem is.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class DType { kInvalid, kFloat32, kFloat64, kInt8, kInt16, kInt32, kInt64, kUInt8, kUInt16, kBool, kString };

// "float32", "int64", "string", ... (the numpy / TensorFlow dtype names).
const char* DTypeName(DType dtype);
// Bytes per element; 0 for strings and kInvalid.
size_t DTypeSize(DType dtype);

// "[?,28,28]" for dims {-1, 28, 28}; "[unknown rank]" when unknown_rank.
std::string ShapeText(const std::vector<int64_t>& shape, bool unknown_rank = false);

struct Tensor {
  DType dtype = DType::kInvalid;
  std::vector<int64_t> shape;
  std::vector<unsigned char> bytes;  // numeric dtypes: elements in C order, native byte order
  std::vector<std::string> strings;  // kString: elements in C order

  int64_t NumElements() const;

  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(bytes.data()); }
  template <typename T>
  T* mutable_data() { return reinterpret_cast<T*>(bytes.data()); }

  // A numeric tensor copied from `values` (element type must match `dtype`).
  template <typename T>
  static Tensor FromValues(DType dtype, std::vector<int64_t> shape, const std::vector<T>& values) {
    Tensor tensor;
    tensor.dtype = dtype;
    tensor.shape = std::move(shape);
    if (sizeof(T) != DTypeSize(dtype) || static_cast<int64_t>(values.size()) != tensor.NumElements()) {
      throw Error("Tensor::FromValues: element size or count does not match dtype " +
                  std::string(DTypeName(dtype)) + " and shape " + ShapeText(tensor.shape));
    }
    tensor.bytes.resize(values.size() * sizeof(T));
    if (!values.empty()) std::memcpy(tensor.bytes.data(), values.data(), tensor.bytes.size());
    return tensor;
  }

  static Tensor FromStrings(std::vector<int64_t> shape, std::vector<std::string> values);
};

}  // namespace graphkit

#endif  // GRAPHKIT_TENSOR_H_
