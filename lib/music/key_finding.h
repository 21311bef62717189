// Key finding: Krumhansl–Schmuckler with the Krumhansl–Kessler profiles (Krumhansl 1990).
//
// One place for it: the evaluation tool measures the key of generated pieces with it, and the Composer's
// mode control uses it to know which tonic the music is in while it steers towards major or minor.
#pragma once

#include <array>

namespace emsync::music {

struct Key {
  int tonic = -1;  // pitch class 0 (C) .. 11 (B); -1 = no pitched material
  bool major = false;
  double correlation = 0.0;  // Pearson correlation of the histogram with the winning profile
};

// Correlates a pitch-class histogram (any non-negative weights: durations, counts) with the 24 rotated
// profiles; the best correlation wins. An empty or flat histogram gives tonic -1.
Key find_key(const std::array<double, 12>& pitch_class_weights);

// The Krumhansl–Kessler profile of a key, standardised (mean 0, standard deviation 1) over the 12 pitch
// classes: tonic ≈ +1.9, the non-scale tones below 0. The Composer's mode control biases note-ons with it.
std::array<double, 12> standardised_key_profile(int tonic, bool major);

// A flat key prior for mode control (ModeProfile::TonicTriad): +0.5 on the tonic triad's pitch classes, 0 on
// the key's other scale tones (minor: natural minor plus the raised 7th), -1 on the rest.
std::array<double, 12> tonic_triad_profile(int tonic, bool major);

// The key with the same scale and the other mode: C major <-> A minor.
Key relative_key(const Key& key);

const char* pitch_class_name(int pitch_class);

}  // namespace emsync::music
