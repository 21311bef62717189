#include "lib/music/key_finding.h"

#include <cmath>

namespace emsync::music {
namespace {

const double kMajorProfile[12] = {6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88};
const double kMinorProfile[12] = {6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17};

double pearson(const double* x, const double* y) {
  double mx = 0, my = 0;
  for (int i = 0; i < 12; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= 12;
  my /= 12;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < 12; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : NAN;
}

}  // namespace

Key find_key(const std::array<double, 12>& weights) {
  Key best;
  double profile[12];
  for (int mode = 0; mode < 2; ++mode) {
    const double* base = mode == 0 ? kMajorProfile : kMinorProfile;
    for (int tonic = 0; tonic < 12; ++tonic) {
      for (int pc = 0; pc < 12; ++pc) profile[pc] = base[(pc - tonic + 12) % 12];
      const double r = pearson(weights.data(), profile);
      if (std::isfinite(r) && (best.tonic < 0 || r > best.correlation)) {
        best.tonic = tonic;
        best.major = mode == 0;
        best.correlation = r;
      }
    }
  }
  return best;
}

std::array<double, 12> standardised_key_profile(int tonic, bool major) {
  const double* base = major ? kMajorProfile : kMinorProfile;
  std::array<double, 12> p{};
  double mean = 0;
  for (int pc = 0; pc < 12; ++pc) mean += base[pc] / 12;
  double var = 0;
  for (int pc = 0; pc < 12; ++pc) var += (base[pc] - mean) * (base[pc] - mean) / 12;
  const double sd = std::sqrt(var);
  for (int pc = 0; pc < 12; ++pc) p[pc] = (base[((pc - tonic) % 12 + 12) % 12] - mean) / sd;
  return p;
}

std::array<double, 12> tonic_triad_profile(int tonic, bool major) {
  // Scale degrees (semitones above the tonic): in the scale, and in the triad (1, 3, 5).
  static const bool kMajorScale[12] = {1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1};
  static const bool kMinorScale[12] = {1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 1};
  const int third = major ? 4 : 3;
  std::array<double, 12> p{};
  for (int pc = 0; pc < 12; ++pc) {
    const int degree = ((pc - tonic) % 12 + 12) % 12;
    if (degree == 0 || degree == third || degree == 7)
      p[pc] = 0.5;
    else
      p[pc] = (major ? kMajorScale : kMinorScale)[degree] ? 0.0 : -1.0;
  }
  return p;
}

Key relative_key(const Key& key) {
  if (key.tonic < 0) return key;
  Key r = key;
  r.major = !key.major;
  r.tonic = (key.tonic + (key.major ? 9 : 3)) % 12;
  return r;
}

const char* pitch_class_name(int pc) {
  static const char* kNames[12] = {"C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"};
  return pc >= 0 && pc < 12 ? kNames[pc] : "none";
}

}  // namespace emsync::music
