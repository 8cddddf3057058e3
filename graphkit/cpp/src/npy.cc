#include "graphkit/npy.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

namespace graphkit {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct Descr {
  DType dtype = DType::kInvalid;
  char kind = 0;       // 'S' or 'U' for strings
  size_t width = 0;    // characters per string element
  std::string dtype_name() const { return DTypeName(dtype); }
};

Descr ParseDescr(const std::string& path, const std::string& descr) {
  if (descr.size() < 3) throw Error(path + ": unsupported .npy dtype '" + descr + "'");
  char order = descr[0];
  char kind = descr[1];
  std::string size_text = descr.substr(2);
  size_t size = 0;
  try {
    size = std::stoul(size_text);
  } catch (const std::exception&) {
    throw Error(path + ": unsupported .npy dtype '" + descr + "'");
  }
  if (order == '>' && size > 1) throw Error(path + ": big-endian .npy dtype '" + descr + "' is not supported");
  Descr result;
  if (kind == 'S' || kind == 'U') {
    result.dtype = DType::kString;
    result.kind = kind;
    result.width = size;
    return result;
  }
  if (kind == 'f' && size == 4) result.dtype = DType::kFloat32;
  if (kind == 'f' && size == 8) result.dtype = DType::kFloat64;
  if (kind == 'i' && size == 1) result.dtype = DType::kInt8;
  if (kind == 'i' && size == 2) result.dtype = DType::kInt16;
  if (kind == 'i' && size == 4) result.dtype = DType::kInt32;
  if (kind == 'i' && size == 8) result.dtype = DType::kInt64;
  if (kind == 'u' && size == 1) result.dtype = DType::kUInt8;
  if (kind == 'u' && size == 2) result.dtype = DType::kUInt16;
  if (kind == 'b' && size == 1) result.dtype = DType::kBool;
  if (result.dtype == DType::kInvalid) throw Error(path + ": unsupported .npy dtype '" + descr + "'");
  return result;
}

// The value text after 'key': in the header dict, up to the matching delimiter.
std::string HeaderValue(const std::string& path, const std::string& header, const std::string& key) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) throw Error(path + ": corrupt .npy header, no '" + key + "'");
  at = header.find(':', at);
  if (at == std::string::npos) throw Error(path + ": corrupt .npy header after '" + key + "'");
  ++at;
  while (at < header.size() && header[at] == ' ') ++at;
  if (at >= header.size()) throw Error(path + ": corrupt .npy header after '" + key + "'");
  char open = header[at];
  if (open == '\'' || open == '"') {
    size_t end = header.find(open, at + 1);
    if (end == std::string::npos) throw Error(path + ": corrupt .npy header value of '" + key + "'");
    return header.substr(at + 1, end - at - 1);
  }
  if (open == '(') {
    size_t end = header.find(')', at);
    if (end == std::string::npos) throw Error(path + ": corrupt .npy header value of '" + key + "'");
    return header.substr(at + 1, end - at - 1);
  }
  size_t end = header.find_first_of(",}", at);
  return header.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

std::vector<int64_t> ParseShape(const std::string& path, const std::string& text) {
  std::vector<int64_t> shape;
  std::string item;
  std::stringstream stream(text);
  while (std::getline(stream, item, ',')) {
    size_t first = item.find_first_not_of(" L");
    if (first == std::string::npos) continue;
    size_t last = item.find_last_not_of(" L");
    std::string digits = item.substr(first, last - first + 1);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) {
      throw Error(path + ": corrupt .npy shape (" + text + ")");
    }
    shape.push_back(std::stoll(digits));
  }
  return shape;
}

void AppendUtf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xC0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xE0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code & 0x3F));
  }
}

}  // namespace

Tensor ReadNpy(const std::string& path) {
  std::ifstream stream(path, std::ios::binary);
  if (!stream) throw Error(path + ": cannot open .npy file");
  std::string content((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  if (content.size() < 10 || content.compare(0, kMagicSize, kMagic, kMagicSize) != 0) {
    throw Error(path + ": not a .npy file (bad magic)");
  }
  unsigned major = static_cast<unsigned char>(content[6]);
  size_t header_len = 0;
  size_t header_start = 0;
  if (major == 1) {
    header_len = static_cast<unsigned char>(content[8]) | (static_cast<unsigned char>(content[9]) << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (content.size() < 12) throw Error(path + ": truncated .npy header");
    for (int i = 3; i >= 0; --i) header_len = (header_len << 8) | static_cast<unsigned char>(content[8 + i]);
    header_start = 12;
  } else {
    throw Error(path + ": unsupported .npy format version " + std::to_string(major));
  }
  if (content.size() < header_start + header_len) throw Error(path + ": truncated .npy header");
  std::string header = content.substr(header_start, header_len);
  Descr descr = ParseDescr(path, HeaderValue(path, header, "descr"));
  if (HeaderValue(path, header, "fortran_order").find("True") != std::string::npos) {
    throw Error(path + ": Fortran-ordered .npy arrays are not supported (save np.ascontiguousarray(a))");
  }
  Tensor tensor;
  tensor.dtype = descr.dtype;
  tensor.shape = ParseShape(path, HeaderValue(path, header, "shape"));
  int64_t count = 1;
  for (int64_t dim : tensor.shape) {
    if (dim > 0 && count > std::numeric_limits<int64_t>::max() / dim) throw Error(path + ": .npy shape too large");
    count *= dim;
  }
  const size_t data_start = header_start + header_len;
  const size_t available = content.size() - data_start;
  const unsigned char* data = reinterpret_cast<const unsigned char*>(content.data()) + data_start;
  if (descr.dtype == DType::kString) {
    size_t char_size = descr.kind == 'U' ? 4 : 1;
    size_t element_size = descr.width * char_size;
    if (element_size && static_cast<uint64_t>(count) > available / element_size) {
      throw Error(path + ": truncated .npy data");
    }
    tensor.strings.reserve(count);
    for (int64_t i = 0; i < count; ++i) {
      const unsigned char* element = data + i * element_size;
      std::string value;
      if (descr.kind == 'S') {
        size_t length = descr.width;
        while (length > 0 && element[length - 1] == 0) --length;  // numpy pads with NULs
        value.assign(reinterpret_cast<const char*>(element), length);
      } else {
        size_t length = descr.width;
        auto code_at = [&](size_t k) {
          const unsigned char* c = element + 4 * k;
          return static_cast<uint32_t>(c[0] | (c[1] << 8) | (c[2] << 16) | (static_cast<uint32_t>(c[3]) << 24));
        };
        while (length > 0 && code_at(length - 1) == 0) --length;
        for (size_t k = 0; k < length; ++k) AppendUtf8(value, code_at(k));
      }
      tensor.strings.push_back(std::move(value));
    }
    return tensor;
  }
  const size_t element_size = DTypeSize(descr.dtype);
  if (static_cast<uint64_t>(count) > available / element_size) {
    throw Error(path + ": truncated .npy data: shape " + ShapeText(tensor.shape) + " of " + descr.dtype_name() +
                " needs more than the " + std::to_string(available) + " bytes found");
  }
  const size_t bytes = static_cast<size_t>(count) * element_size;
  tensor.bytes.assign(data, data + bytes);
  return tensor;
}

void WriteNpy(const std::string& path, const Tensor& tensor) {
  std::string descr;
  size_t width = 1;
  switch (tensor.dtype) {
    case DType::kFloat32: descr = "<f4"; break;
    case DType::kFloat64: descr = "<f8"; break;
    case DType::kInt8: descr = "|i1"; break;
    case DType::kInt16: descr = "<i2"; break;
    case DType::kInt32: descr = "<i4"; break;
    case DType::kInt64: descr = "<i8"; break;
    case DType::kUInt8: descr = "|u1"; break;
    case DType::kUInt16: descr = "<u2"; break;
    case DType::kBool: descr = "|b1"; break;
    case DType::kString:
      for (const std::string& value : tensor.strings) width = std::max(width, value.size());
      descr = "|S" + std::to_string(width);
      break;
    case DType::kInvalid: throw Error(path + ": cannot write a tensor of invalid dtype");
  }
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape.size(); ++i) shape += std::to_string(tensor.shape[i]) + ", ";
  if (tensor.shape.size() > 1) shape.resize(shape.size() - 2);
  if (tensor.shape.size() == 1) shape.resize(shape.size() - 1);
  shape += ")";
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = kMagicSize + 4 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::string directory = ".";
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos) directory = path.substr(0, slash);
  std::string temp_template = directory + "/.npy.tmp-XXXXXX";
  std::vector<char> temp_path(temp_template.begin(), temp_template.end());
  temp_path.push_back('\0');
  int fd = mkstemp(temp_path.data());
  if (fd < 0) throw Error(path + ": cannot create a temporary file in " + directory);
  fchmod(fd, 0644);  // mkstemp makes 0600; outputs are ordinary files
  close(fd);
  {
    std::ofstream out(temp_path.data(), std::ios::binary | std::ios::trunc);
    out.write(kMagic, kMagicSize);
    out.put('\x01');
    out.put('\x00');
    out.put(static_cast<char>(header.size() & 0xFF));
    out.put(static_cast<char>((header.size() >> 8) & 0xFF));
    out.write(header.data(), header.size());
    if (tensor.dtype == DType::kString) {
      std::string padded;
      for (const std::string& value : tensor.strings) {
        padded.assign(value);
        padded.resize(width, '\0');
        out.write(padded.data(), padded.size());
      }
    } else {
      out.write(reinterpret_cast<const char*>(tensor.bytes.data()), tensor.bytes.size());
    }
    out.flush();
    if (!out) {
      std::remove(temp_path.data());
      throw Error(path + ": write failed");
    }
  }
  if (std::rename(temp_path.data(), path.c_str()) != 0) {
    std::remove(temp_path.data());
    throw Error(path + ": cannot move the written file into place");
  }
}

}  // namespace graphkit
