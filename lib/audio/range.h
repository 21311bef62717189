/* emsync — the range check of lib/audio's option structs. */
#pragma once

#include <cmath>
#include <stdexcept>
#include <string>

namespace emsync {
namespace audio {

/* Throws std::invalid_argument ("WHAT VALUE is outside [MIN, MAX]") unless `value` is finite and in range. */
inline void check_range(const std::string& what, double value, double min, double max) {
  if (!std::isfinite(value) || value < min || value > max)
    throw std::invalid_argument(what + " " + std::to_string(value) + " is outside [" + std::to_string(min) +
                                ", " + std::to_string(max) + "]");
}

}  // namespace audio
}  // namespace emsync
