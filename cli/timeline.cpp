#include "cli/timeline.h"

#include <cairo.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "lib/midi/smf.h"
#include "lib/midi/vocab.h"

namespace emsync::cli {

using emsync::midi::Instrument;
using emsync::midi::Note;

std::vector<Note>
notes_from_events (const std::vector<emsync::midi::MidiEvent> &events)
{
  emsync::midi::SmfFile file;
  for (const auto &e : events) {
    emsync::midi::SmfChannelEvent c;
    c.tick = static_cast<uint64_t> (std::llround (std::max (0.0, e.time_seconds) * 1000.0));
    c.time_seconds = c.tick / 1000.0;
    c.status = e.status;
    c.data1 = e.data1;
    c.data2 = e.data2;
    file.events.push_back (c);
  }
  std::stable_sort (file.events.begin (), file.events.end (),
      [] (const auto &a, const auto &b) { return a.tick < b.tick; });
  return emsync::midi::notes_from_smf (file);
}

std::vector<double>
chord_onsets (const std::vector<Note> &notes)
{
  std::vector<double> onsets;
  std::map<long, int> per_tick; // 8 ms tick -> pitched note starts
  for (const Note &n : notes)
    if (n.instrument != Instrument::Drums)
      per_tick[std::lround (n.start_seconds / emsync::midi::kTickSeconds)]++;
  for (const auto &[tick, count] : per_tick)
    if (count >= 3)
      onsets.push_back (tick * emsync::midi::kTickSeconds);
  return onsets;
}

namespace {

void
set_rgb (cairo_t *cr, unsigned hex, double alpha = 1.0)
{
  cairo_set_source_rgba (
      cr, ((hex >> 16) & 255) / 255.0, ((hex >> 8) & 255) / 255.0, (hex & 255) / 255.0, alpha);
}

void
text (cairo_t *cr, double x, double y, const std::string &s, double size = 12.0)
{
  cairo_set_font_size (cr, size);
  cairo_move_to (cr, x, y);
  cairo_show_text (cr, s.c_str ());
}

} // namespace

bool
draw_timeline (const TimelineData &data, const std::string &png_path, std::string &why)
{
  const std::vector<Note> notes = notes_from_events (data.midi);
  const std::vector<double> chords = chord_onsets (notes);
  double duration = 1.0;
  for (const Note &n : notes)
    duration = std::max (duration, n.end_seconds);
  for (const auto &c : data.cuts)
    duration = std::max (duration, c.time);

  const int width = 1400, height = 520, left = 70, right = 20;
  const double plot_w = width - left - right;
  auto x_of = [&] (double t) { return left + plot_w * t / duration; };

  cairo_surface_t *surface = cairo_image_surface_create (CAIRO_FORMAT_ARGB32, width, height);
  cairo_t *cr = cairo_create (surface);
  cairo_select_font_face (cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  set_rgb (cr, 0xffffff);
  cairo_paint (cr);

  // Panel 1: valence and arousal in [-1, 1].
  const double e_top = 40, e_h = 160;
  auto y_of = [&] (double v) { return e_top + e_h * (1.0 - (v + 1.0) / 2.0); };
  set_rgb (cr, 0x000000);
  text (cr, left, 24, "emsync timeline: emotion, scene cuts and chord onsets", 16);
  cairo_set_line_width (cr, 1.0);
  set_rgb (cr, 0xdddddd);
  for (double v : { -1.0, -0.5, 0.0, 0.5, 1.0 }) {
    cairo_move_to (cr, left, y_of (v));
    cairo_line_to (cr, width - right, y_of (v));
    cairo_stroke (cr);
    set_rgb (cr, 0x666666);
    char buf[16];
    snprintf (buf, sizeof buf, "%+.1f", v);
    text (cr, 30, y_of (v) + 4, buf, 10);
    set_rgb (cr, 0xdddddd);
  }
  std::vector<std::pair<double, double>> val, aro;
  if (data.emotion.empty ()) {
    val = { { 0.0, 0.0 }, { duration, 0.0 } };
    aro = val;
  } else {
    for (const auto &e : data.emotion) {
      val.push_back ({ e.time, e.valence });
      aro.push_back ({ e.time, e.arousal });
    }
    val.push_back ({ duration, data.emotion.back ().valence });
    aro.push_back ({ duration, data.emotion.back ().arousal });
  }
  auto curve = [&] (const std::vector<std::pair<double, double>> &pts, unsigned colour, const char *label,
                   double ly) {
    set_rgb (cr, colour);
    cairo_set_line_width (cr, 2.0);
    for (size_t i = 0; i < pts.size (); ++i) {
      // Step curve: a value holds until the next one.
      if (i == 0)
        cairo_move_to (cr, x_of (pts[i].first), y_of (pts[i].second));
      else {
        cairo_line_to (cr, x_of (pts[i].first), y_of (pts[i - 1].second));
        cairo_line_to (cr, x_of (pts[i].first), y_of (pts[i].second));
      }
    }
    cairo_stroke (cr);
    text (cr, width - right - 90, ly, label, 12);
  };
  curve (val, 0x2a7ab0, "valence", e_top + 14);
  curve (aro, 0xd9541e, "arousal", e_top + 30);

  // Panel 2: piano roll of the generated notes, coloured by instrument group.
  const double r_top = 230, r_h = 220;
  const unsigned colours[5] = { 0x6a3d9a, 0x777777, 0x33a02c, 0x1f78b4,
    0xe31a1c }; // bass drums guitar piano strings
  for (const Note &n : notes) {
    double y = r_top + r_h * (1.0 - (n.pitch - 21) / 88.0);
    set_rgb (cr, colours[static_cast<int> (n.instrument) % 5], 0.8);
    cairo_rectangle (cr, x_of (n.start_seconds), y - 1.5,
        std::max (1.0, x_of (n.end_seconds) - x_of (n.start_seconds)), 3);
    cairo_fill (cr);
  }
  set_rgb (cr, 0x000000);
  text (cr, 8, r_top + r_h / 2, "notes", 11);
  text (cr, 8, e_top + e_h / 2, "V / A", 11);

  // Cuts (vertical lines through both panels) and chord onsets (triangles under the roll).
  for (const auto &c : data.cuts) {
    set_rgb (cr, c.kind == "cut" ? 0xcc0000 : 0xcc8800, 0.9);
    cairo_set_line_width (cr, 1.5);
    cairo_move_to (cr, x_of (c.time), e_top);
    cairo_line_to (cr, x_of (c.time), r_top + r_h);
    cairo_stroke (cr);
  }
  set_rgb (cr, 0x111111);
  for (double t : chords) {
    double x = x_of (t), y = r_top + r_h + 6;
    cairo_move_to (cr, x, y);
    cairo_line_to (cr, x - 5, y + 10);
    cairo_line_to (cr, x + 5, y + 10);
    cairo_close_path (cr);
    cairo_fill (cr);
  }
  // Time axis.
  set_rgb (cr, 0x000000);
  cairo_set_line_width (cr, 1.0);
  double step = duration > 120 ? 10 : duration > 40 ? 5 : 1;
  for (double t = 0; t <= duration + 1e-9; t += step) {
    cairo_move_to (cr, x_of (t), r_top + r_h + 20);
    cairo_line_to (cr, x_of (t), r_top + r_h + 25);
    cairo_stroke (cr);
    char buf[16];
    snprintf (buf, sizeof buf, "%gs", t);
    text (cr, x_of (t) - 8, r_top + r_h + 38, buf, 10);
  }
  text (cr, left, height - 12,
      "red: hard cuts, orange: dissolves/fades; triangles: chord onsets (>= 3 notes together); "
      "notes coloured by group (bass, drums, guitar, piano, strings)",
      11);
  cairo_status_t status = cairo_surface_write_to_png (surface, png_path.c_str ());
  cairo_destroy (cr);
  cairo_surface_destroy (surface);
  if (status != CAIRO_STATUS_SUCCESS) {
    why = std::string ("cannot write ") + png_path + ": " + cairo_status_to_string (status);
    return false;
  }
  return true;
}

} // namespace emsync::cli
