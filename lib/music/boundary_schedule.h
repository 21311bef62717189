// Which scene cuts the music should mark, and how far away the next one is.
//
// EMSYNC keeps cuts greedily (the first, then every cut at least `min_gap` after the last kept one),
// tells the generator at every token how many seconds remain to the next not-yet-served cut (clamped to
// [0, horizon]; `horizon` means "none in sight": the model's GeneratorConfig::max_boundary_seconds), and marks a
// cut served when a <CHORD> token is sampled within `serve_tolerance` of it. Times are seconds on the music
// timeline.
#pragma once

#include <optional>
#include <vector>

namespace emsync::music {

struct BoundaryOptions {
  double min_gap_seconds = 4.0;
  double serve_tolerance_seconds = 1.0;
};

class BoundarySchedule {
 public:
  struct Cut {
    double time = 0.0;
    bool served = false;
    double served_at = -1.0;  // cursor time of the <CHORD> that served it
  };

  BoundarySchedule(const BoundaryOptions& options, double horizon_seconds)
      : options_(options), horizon_seconds_(horizon_seconds) {}

  // Offers a detected cut (in increasing time order). Returns true if it is kept. `even_if_close` keeps it
  // however close it is to the last kept cut (the music's final chord), if it is after it.
  bool offer(double time_seconds, bool even_if_close = false);

  // Seconds from `cursor` to the next pending cut at or after it, clamped to [0, horizon].
  double seconds_to_next(double cursor) const;

  // The next pending cut at or after `cursor - slack`, if any.
  std::optional<double> next_pending(double cursor, double slack = 0.0) const;

  // A <CHORD> was emitted at `cursor`: serve the nearest pending cut within the tolerance.
  bool serve_near(double cursor);

  // Forgets the cuts after `time_seconds` not served yet (too close to the end of the music to mark).
  void drop_pending_after(double time_seconds);

  const std::vector<Cut>& cuts() const { return cuts_; }
  const BoundaryOptions& options() const { return options_; }
  double horizon_seconds() const { return horizon_seconds_; }
  void clear() { cuts_.clear(); }

 private:
  BoundaryOptions options_;
  double horizon_seconds_;
  std::vector<Cut> cuts_;
};

}  // namespace emsync::music
