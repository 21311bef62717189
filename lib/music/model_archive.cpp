#include "lib/music/model_archive.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "lib/music/generator_model.h"

namespace emsync::music {

namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50;
constexpr uint32_t kZip64EndLocator = 0x07064b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kDirectoryEntry = 0x02014b50;
constexpr uint32_t kLocalHeader = 0x04034b50;

uint64_t le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

ModelArchive::ModelArchive(const std::string& path) : path_(path) {
  auto bad = [&](const std::string& why) {
    return ModelError("generator model '" + path + "' is not a readable TorchScript file (" + why + ")");
  };
  std::ifstream f(path, std::ios::binary);
  if (!f) throw ModelError("generator model file '" + path + "' cannot be opened");
  f.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(f.tellg());
  // The end-of-directory record is the last 22 bytes plus a comment of up to 64 KiB.
  const uint64_t tail_size = std::min<uint64_t>(file_size, 22 + 65535);
  std::string tail(tail_size, '\0');
  f.seekg(static_cast<std::streamoff>(file_size - tail_size));
  f.read(tail.data(), static_cast<std::streamsize>(tail_size));
  const auto* t = reinterpret_cast<const unsigned char*>(tail.data());
  int64_t eocd = -1;
  for (int64_t i = static_cast<int64_t>(tail_size) - 22; i >= 0; --i)
    if (le(t + i, 4) == kEndOfDirectory) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw bad("not a zip archive");
  uint64_t entries = le(t + eocd + 10, 2), dir_size = le(t + eocd + 12, 4), dir_offset = le(t + eocd + 16, 4);
  if ((entries == 0xFFFF || dir_size == 0xFFFFFFFF || dir_offset == 0xFFFFFFFF) && eocd >= 20 &&
      le(t + eocd - 20, 4) == kZip64EndLocator) {
    const uint64_t z64 = le(t + eocd - 20 + 8, 8);
    unsigned char rec[56];
    f.seekg(static_cast<std::streamoff>(z64));
    if (!f.read(reinterpret_cast<char*>(rec), sizeof rec) || le(rec, 4) != kZip64End)
      throw bad("broken zip64 directory");
    entries = le(rec + 32, 8);
    dir_size = le(rec + 40, 8);
    dir_offset = le(rec + 48, 8);
  }
  if (dir_offset > file_size || dir_size > file_size - dir_offset) throw bad("truncated zip directory");
  std::string dir(dir_size, '\0');
  f.seekg(static_cast<std::streamoff>(dir_offset));
  if (!f.read(dir.data(), static_cast<std::streamsize>(dir_size))) throw bad("truncated zip directory");
  const auto* d = reinterpret_cast<const unsigned char*>(dir.data());
  size_t at = 0;
  for (uint64_t e = 0; e < entries; ++e) {
    if (at + 46 > dir.size() || le(d + at, 4) != kDirectoryEntry) throw bad("broken zip directory");
    Record r;
    r.method = static_cast<uint16_t>(le(d + at + 10, 2));
    r.size = le(d + at + 20, 4);
    uint64_t uncompressed = le(d + at + 24, 4);
    const size_t name_len = le(d + at + 28, 2), extra_len = le(d + at + 30, 2),
                 comment_len = le(d + at + 32, 2);
    r.local_header = le(d + at + 42, 4);
    if (at + 46 + name_len + extra_len > dir.size()) throw bad("broken zip directory");
    std::string name(dir.data() + at + 46, name_len);
    // Zip64: the 32-bit fields that overflowed are in the extra field 0x0001, in this order.
    const size_t extra_end = at + 46 + name_len + extra_len;
    for (size_t x = at + 46 + name_len; x + 4 <= extra_end;) {
      const uint64_t id = le(d + x, 2), len = le(d + x + 2, 2);
      if (x + 4 + len > extra_end) throw bad("broken zip directory");
      size_t v = x + 4;
      auto next = [&]() {
        if (v + 8 > x + 4 + len) throw bad("broken zip64 field");
        v += 8;
        return le(d + v - 8, 8);
      };
      if (id == 1) {
        if (uncompressed == 0xFFFFFFFF) uncompressed = next();
        if (r.size == 0xFFFFFFFF) r.size = next();
        if (r.local_header == 0xFFFFFFFF) r.local_header = next();
      }
      x += 4 + len;
    }
    if (r.local_header > file_size || file_size - r.local_header < 30 ||
        r.size > file_size - r.local_header - 30)
      throw bad("a record runs past the end of the file");
    // TorchScript archives keep every record under one top folder named after the file.
    const auto slash = name.find('/');
    records_[slash == std::string::npos ? name : name.substr(slash + 1)] = r;
    at += 46 + name_len + extra_len + comment_len;
  }
}

std::string ModelArchive::read(const std::string& record) const {
  auto it = records_.find(record);
  if (it == records_.end())
    throw ModelError("generator model '" + path_ + "' has no record " + record + " (models/FORMAT.md)");
  const Record& r = it->second;
  if (r.method != 0)
    throw ModelError("generator model '" + path_ + "': record " + record +
                     " is compressed (PyTorch stores them "
                     "uncompressed; was the file re-zipped?)");
  std::ifstream f(path_, std::ios::binary);
  unsigned char header[30];
  f.seekg(static_cast<std::streamoff>(r.local_header));
  if (!f.read(reinterpret_cast<char*>(header), sizeof header) || le(header, 4) != kLocalHeader)
    throw ModelError("generator model '" + path_ + "': record " + record + " is damaged");
  f.seekg(static_cast<std::streamoff>(r.local_header + 30 + le(header + 26, 2) + le(header + 28, 2)));
  std::string bytes(r.size, '\0');
  if (!f.read(bytes.data(), static_cast<std::streamsize>(r.size)))
    throw ModelError("generator model '" + path_ + "': record " + record + " is truncated");
  return bytes;
}

std::map<std::string, ModelArchive::Tensor> ModelArchive::read_weights() const {
  std::istringstream lines(read(kWeightsRecord));
  auto bad = [&](const std::string& why) {
    return ModelError("generator model '" + path_ + "': " + kWeightsRecord + " " + why);
  };
  std::string line;
  if (!std::getline(lines, line) || line != "emsync-weights 1")
    throw bad("does not start with 'emsync-weights 1'");
  std::map<std::string, std::string> records;  // read once each
  std::map<std::string, Tensor> out;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string name, record, dims;
    uint64_t offset = 0;
    if (!(fields >> name >> record >> offset >> dims)) throw bad("has a malformed line: " + line);
    auto it = records.find(record);
    if (it == records.end()) it = records.emplace(record, read(record)).first;
    const std::string& bytes = it->second;
    const uint64_t available = bytes.size() / sizeof(float);
    Tensor t;
    uint64_t count = 1;
    std::istringstream dim_list(dims);
    for (std::string dim; std::getline(dim_list, dim, ',');) {
      char* end = nullptr;
      const long long n = std::strtoll(dim.c_str(), &end, 10);
      if (dim.empty() || *end != '\0' || n <= 0 || static_cast<uint64_t>(n) > available)
        throw bad("has a malformed shape: " + line);
      t.shape.push_back(n);
      count *= static_cast<uint64_t>(n);
      if (count > available) throw bad("points past the end of " + record + ": " + line);
    }
    if (offset > available || count > available - offset)
      throw bad("points past the end of " + record + ": " + line);
    t.values.resize(count);
    // float32 little-endian, as this (x86-64 / little-endian) runtime stores floats
    std::memcpy(t.values.data(), bytes.data() + offset * sizeof(float), count * sizeof(float));
    // A NaN or infinity would spread through every logit: refuse the file rather than play noise.
    for (size_t i = 0; i < t.values.size(); ++i)
      if (!std::isfinite(t.values[i]))
        throw bad("lists tensor " + name + " whose value " + std::to_string(i) + " is " +
                  (std::isnan(t.values[i]) ? "NaN" : "infinite") + " (a damaged or diverged export)");
    out[name] = std::move(t);
  }
  return out;
}

}  // namespace emsync::music
