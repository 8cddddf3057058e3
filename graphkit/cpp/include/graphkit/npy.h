// A small reader and writer for NumPy .npy files (format versions 1-3),
// enough for graphkit-run: little-endian numeric dtypes, bool, fixed-width
// byte strings ('S') and unicode ('U', read as UTF-8). C order only.
#ifndef GRAPHKIT_NPY_H_
#define GRAPHKIT_NPY_H_

#include <string>

#include "graphkit/tensor.h"

namespace graphkit {

// Throws Error naming `path` when the file is missing, truncated, not .npy,
// Fortran-ordered, big-endian, or of a dtype graphkit does not handle.
Tensor ReadNpy(const std::string& path);

// Writes atomically (temporary file in the same directory, then rename).
// String tensors are written as fixed-width byte strings ('|S<n>').
void WriteNpy(const std::string& path, const Tensor& tensor);

}  // namespace graphkit

#endif  // GRAPHKIT_NPY_H_
