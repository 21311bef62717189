#include "lib/music/boundary_schedule.h"

#include <algorithm>
#include <cmath>

namespace emsync::music {

bool BoundarySchedule::offer(double time_seconds, bool even_if_close) {
  if (!std::isfinite(time_seconds) || time_seconds < 0.0) return false;
  const double gap = even_if_close ? 1e-9 : options_.min_gap_seconds;
  if (!cuts_.empty() && time_seconds < cuts_.back().time + gap) return false;
  cuts_.push_back(Cut{time_seconds, false, -1.0});
  return true;
}

void BoundarySchedule::drop_pending_after(double time_seconds) {
  cuts_.erase(std::remove_if(cuts_.begin(), cuts_.end(),
                             [time_seconds](const Cut& c) { return !c.served && c.time > time_seconds; }),
              cuts_.end());
}

std::optional<double> BoundarySchedule::next_pending(double cursor, double slack) const {
  for (const Cut& c : cuts_) {
    if (!c.served && c.time >= cursor - slack) return c.time;
  }
  return std::nullopt;
}

double BoundarySchedule::seconds_to_next(double cursor) const {
  auto next = next_pending(cursor);
  if (!next) return horizon_seconds_;
  return std::clamp(*next - cursor, 0.0, horizon_seconds_);
}

bool BoundarySchedule::serve_near(double cursor) {
  Cut* best = nullptr;
  for (Cut& c : cuts_) {
    if (c.served) continue;
    double d = std::fabs(c.time - cursor);
    if (d < options_.serve_tolerance_seconds && (!best || d < std::fabs(best->time - cursor))) best = &c;
  }
  if (!best) return false;
  best->served = true;
  best->served_at = cursor;
  return true;
}

}  // namespace emsync::music
