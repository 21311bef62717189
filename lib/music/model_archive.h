// Reads a generator file (a TorchScript archive, models/FORMAT.md) without libtorch.
//
// Why: loading libtorch costs about half a second of start-up (its relocations and operator registrations),
// more than a minute of the tiny model's generation, while the runtime only needs the config and the float32
// weights. A TorchScript archive is a zip file whose records PyTorch stores uncompressed, so both can be read
// in place: the config from `extra/emsync.json`, each weight from the record that `extra/emsync_weights.txt`
// (written by models/training/export.py) names for it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace emsync::music {

class ModelArchive {
 public:
  // Reads the zip directory. Throws ModelError naming the file when it is missing or not a zip archive.
  explicit ModelArchive(const std::string& path);

  const std::string& path() const { return path_; }
  // Record names are relative to the archive's top folder, e.g. "extra/emsync.json", "data/3".
  bool has(const std::string& record) const { return records_.count(record) != 0; }
  // The record's bytes; throws ModelError when it is absent or compressed.
  std::string read(const std::string& record) const;

  struct Tensor {
    std::vector<int64_t> shape;
    std::vector<float> values;
  };
  // Every weight listed in extra/emsync_weights.txt, by parameter name (e.g. "enc_layers.0.rga.Wq.weight").
  // Throws ModelError when the index is malformed or points outside its record.
  std::map<std::string, Tensor> read_weights() const;

  static constexpr const char* kConfigRecord = "extra/emsync.json";
  static constexpr const char* kWeightsRecord = "extra/emsync_weights.txt";

 private:
  struct Record {
    uint64_t local_header = 0;  // offset of the record's local header in the file
    uint64_t size = 0;          // stored bytes
    uint16_t method = 0;        // 0 = stored
  };
  std::string path_;
  std::map<std::string, Record> records_;
};

}  // namespace emsync::music
