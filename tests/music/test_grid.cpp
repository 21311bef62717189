// The beat grid: the tempo planner (cuts on bar lines, tempo limits, holding and re-planning) and the Composer
// playing on it with the tiny real model (onsets on grid points, <BAR> at bar lines, hard-sync chords on
// downbeats).
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "lib/midi/vocab.h"
#include "lib/music/composer.h"
#include "lib/music/generator_model.h"
#include "lib/music/tempo_map.h"

// Check's macros clash with libstdc++ internals: include it after every C++ header.
#include <gst/check/gstcheck.h>

using namespace emsync::music;
namespace vocab = emsync::midi;

static std::string
data_path (const char *name)
{
  return std::string (EMSYNC_TEST_DATA) + "/" + name;
}
static int64_t
tick_of (double s)
{
  return std::llround (s / vocab::kTickSeconds);
}

// Every adjacent pair of bars changes its beat period by at most 8 %; every beat within [lo, hi].
static void
check_tempo (const TempoMap &map, double lo, double hi)
{
  const auto &bars = map.bars ();
  for (size_t i = 0; i < bars.size (); ++i) {
    fail_unless (bars[i].beat >= lo - 1e-9 && bars[i].beat <= hi + 1e-9,
        "bar %zu: beat %.4f s outside [%.4f, %.4f]", i, bars[i].beat, lo, hi);
    fail_unless (bars[i].beats >= 1 && bars[i].beats <= 4);
    if (i > 0) {
      fail_unless (
          std::fabs (bars[i].start - bars[i - 1].end ()) < 1e-9, "bar %zu does not follow bar %zu", i, i - 1);
      const double change = std::fabs (bars[i].beat / bars[i - 1].beat - 1.0);
      fail_unless (change <= 0.08 + 1e-9, "bar %zu: tempo change %.3f", i, change);
    }
  }
}

GST_START_TEST (test_tempo_follows_arousal)
{
  TempoOptions o;
  const double slow = 60.0 / o.preferred_beat_seconds (-0.8), mid = 60.0 / o.preferred_beat_seconds (0.0),
               fast = 60.0 / o.preferred_beat_seconds (0.8);
  fail_unless (slow >= 70 && slow <= 90, "%.1f bpm at arousal -0.8", slow);
  fail_unless (fast >= 110 && fast <= 140, "%.1f bpm at arousal +0.8", fast);
  fail_unless (slow < mid && mid < fast);
  fail_unless (o.preferred_beat_seconds (NAN) == o.preferred_beat_seconds (0.0));
}
GST_END_TEST;

GST_START_TEST (test_grid_levels)
{
  TempoPlanner planner;
  planner.reset (0.5); // 120 bpm from 0
  planner.plan (0.0, {}, 0.5);
  const TempoMap &map = planner.map ();
  fail_unless (map.level (0) == GridLevel::Downbeat);
  fail_unless (map.level (tick_of (0.5)) == GridLevel::Beat);
  fail_unless (map.level (tick_of (2.0)) == GridLevel::Downbeat);
  fail_unless (map.level (tick_of (0.25)) == GridLevel::Eighth);
  fail_unless (map.level (tick_of (0.125)) == GridLevel::Sixteenth);
  fail_unless (map.level (tick_of (0.5 / 3)) == GridLevel::Triplet);
  fail_unless (map.level (tick_of (0.5 / 3) - 1) == GridLevel::PreGrid);
  fail_unless (map.level (tick_of (0.5 / 3) + 2) == GridLevel::Off);
  fail_unless (map.next_bar_tick (0) == tick_of (2.0));
  fail_unless (map.next_grid_tick (tick_of (0.5 / 3)) == tick_of (0.25));
  const GridPosition p = map.position (2.75);
  fail_unless (p.bar == 1 && p.beat == 1 && std::fabs (p.phase - 0.5) < 1e-9 && p.beat_seconds == 0.5);
  fail_unless (map.is_bar_line (4.0) && !map.is_bar_line (4.5) && map.is_beat (4.5) && !map.is_beat (4.25));
}
GST_END_TEST;

GST_START_TEST (test_planner_cuts_on_downbeats)
{
  for (double preferred : { 0.74, 0.6, 0.49 }) {
    TempoPlanner planner;
    planner.reset (preferred);
    const std::vector<double> cuts = { 4.3, 9.1, 13.05, 17.3, 21.2 };
    const int placed = planner.plan (0.0, cuts, preferred);
    const TempoMap &map = planner.map ();
    fail_unless (placed == 5, "placed %d of 5 cuts at beat %.2f", placed, preferred);
    for (double c : cuts)
      fail_unless (map.is_bar_line (c, 1e-9), "cut %.2f is not on a bar line", c);
    fail_unless (map.end_seconds () >= 16.0);
    check_tempo (map, preferred / 1.25, preferred * 1.25);
  }
}
GST_END_TEST;

GST_START_TEST (test_planner_holds_tempo_without_cuts)
{
  TempoPlanner planner;
  planner.reset (0.6);
  planner.plan (0.0, {}, 0.6);
  for (const Bar &b : planner.map ().bars ())
    fail_unless (b.beats == 4 && std::fabs (b.beat - 0.6) < 1e-12);
  // The arousal rises (preferred 0.45 s): bars already played stay, the rest drifts at <= 2 % per bar.
  const std::vector<Bar> before = planner.map ().bars ();
  planner.plan (5.0, {}, 0.45);
  const auto &after = planner.map ().bars ();
  for (size_t i = 0; i < before.size () && before[i].start <= 5.0; ++i)
    fail_unless (after[i].start == before[i].start && after[i].beat == before[i].beat && after[i].beats == 4);
  for (size_t i = 1; i < after.size (); ++i) {
    const double change = after[i - 1].beat / after[i].beat - 1.0;
    fail_unless (change >= -1e-12 && change <= 0.0205, "bar %zu: change %.4f", i, change);
  }
  fail_unless (after.back ().beat < 0.6);
}
GST_END_TEST;

GST_START_TEST (test_planner_replans_after_cursor_on_a_new_cut)
{
  TempoPlanner planner;
  planner.reset (0.55);
  planner.plan (0.0, {}, 0.55);
  const std::vector<Bar> before = planner.map ().bars ();
  fail_if (planner.map ().is_bar_line (9.37, 1e-9));
  // A cut becomes known at 3.0 s: bars before the cursor are kept, the cut lands on a bar line.
  fail_unless (planner.plan (3.0, { 9.37 }, 0.55) == 1);
  const TempoMap &map = planner.map ();
  for (size_t i = 0; i < before.size () && before[i].start <= 3.0; ++i)
    fail_unless (map.bars ()[i].start == before[i].start && map.bars ()[i].beat == before[i].beat);
  fail_unless (map.is_bar_line (9.37, 1e-9));
  check_tempo (map, 0.55 / 1.25, 0.55 * 1.25);
  // Known late, inside the bar being played (the cursor in its first two beats, the cut 0.94 beats after its
  // third): the bar ends early, after three beats, and the cut starts the next one.
  const GridPosition at = map.position (10.0);
  const Bar playing = map.bars ()[at.bar];
  fail_unless (at.beat < 2 && playing.beats == 4);
  const double late = playing.start + playing.beat * 2.94;
  fail_unless (planner.plan (10.0, { late }, 0.55) == 1);
  fail_unless (planner.map ().is_bar_line (late, 1e-9));
  fail_unless (planner.map ().bars ()[at.bar].beats == 2);
  check_tempo (planner.map (), 0.55 / 1.25, 0.55 * 1.25);
}
GST_END_TEST;

// A cut on the end of the bar under the cursor (planned there before, then re-planned with a later cut in view)
// keeps its bar line marked as a cut.
GST_START_TEST (test_planner_cut_at_the_anchor_stays_a_cut)
{
  TempoPlanner planner;
  planner.reset (0.5);
  fail_unless (planner.plan (0.0, { 4.0 }, 0.5) == 1);
  fail_unless (planner.map ().is_bar_line (4.0, 1e-9));
  // The cursor in the bar that ends at 4.0 s; a second cut becomes known.
  const GridPosition at = planner.map ().position (3.3);
  fail_unless (std::fabs (planner.map ().bars ()[at.bar].end () - 4.0) < 1e-9);
  planner.plan (3.3, { 4.0, 10.9 }, 0.5);
  bool marked = false;
  for (const Bar &b : planner.map ().bars ())
    if (std::fabs (b.start - 4.0) < 1e-6)
      marked = b.cut;
  fail_unless (marked, "the bar line at the cut at 4.0 s is no longer marked as a cut");
  // Re-planned with the cursor less than a tick before the cut: still its bar line.
  planner.plan (4.0 - 0.006, { 4.0, 10.9 }, 0.5);
  marked = false;
  for (const Bar &b : planner.map ().bars ())
    if (std::fabs (b.start - 4.0) < 1e-6)
      marked = b.cut;
  fail_unless (marked, "re-planned 6 ms before it, the cut at 4.0 s lost its bar line");
}
GST_END_TEST;

// A cut too early for whole beats of an allowed period (1 s in at 90 bpm: 1.5 beats) is reached with a pickup:
// the grid starts half a beat before the music, whose first onsets fall on the pickup's 8ths.
GST_START_TEST (test_planner_pickup_for_an_early_cut)
{
  const double preferred = 60.0 / 90.0;
  TempoPlanner planner;
  planner.reset (preferred);
  fail_unless (planner.plan (0.0, { 1.0, 6.0 }, preferred) == 2);
  const TempoMap &map = planner.map ();
  fail_unless (map.is_bar_line (1.0, 1e-9) && map.is_bar_line (6.0, 1e-9));
  const Bar &pickup = map.bars ().front ();
  fail_unless (pickup.start < 0.0 && std::fabs (pickup.start + pickup.beat / 2) < 1e-9, "pickup from %.4f s",
      pickup.start);
  fail_unless (pickup.beats == 2 && std::fabs (pickup.end () - 1.0) < 1e-9);
  fail_unless (map.level (0) == GridLevel::Eighth);
  check_tempo (map, preferred / 1.25, preferred * 1.25);
  // Re-planned from the start while nothing is played (a cut becomes known): the first bar is planned again.
  fail_unless (planner.plan (0.0, { 1.0, 5.0, 9.0 }, preferred) == 3);
  fail_unless (
      map.is_bar_line (5.0, 1e-9) && map.is_bar_line (9.0, 1e-9) && map.bars ().front ().start < 0.0);
  check_tempo (map, preferred / 1.25, preferred * 1.25);
  // Where whole beats reach the first cut, there is no pickup.
  planner.reset (0.5);
  fail_unless (planner.plan (0.0, { 2.0, 6.0 }, 0.5) == 2);
  fail_unless (map.bars ().front ().start == 0.0 && map.is_bar_line (2.0, 1e-9));
}
GST_END_TEST;

// A cut half a beat off the tempo's bar lines: the bar before it takes a half beat more (here 4.5 beats) and the
// tempo does not bend; the 8ths run on through it.
GST_START_TEST (test_planner_half_beat_bar_keeps_the_tempo)
{
  TempoPlanner planner;
  planner.reset (0.6);
  fail_unless (planner.plan (0.0, { 2.4, 2.4 + 4.5 * 0.6 }, 0.6) == 2);
  const TempoMap &map = planner.map ();
  check_tempo (map, 0.6 / 1.25, 0.6 * 1.25);
  fail_unless (map.is_bar_line (2.4, 1e-9) && map.is_bar_line (5.1, 1e-9));
  bool half = false;
  for (const Bar &b : map.bars ()) {
    fail_unless (std::fabs (b.beat - 0.6) < 1e-9, "bar at %.3f s: beat %.4f s", b.start, b.beat);
    if (b.half_beat) {
      half = true;
      fail_unless (
          std::fabs (b.end () - 5.1) < 1e-9 && std::fabs (b.length_beats () - (b.beats + 0.5)) < 1e-12);
    }
  }
  fail_unless (half, "no bar with a half beat");
  fail_unless (map.level (tick_of (5.1 - 0.3)) == GridLevel::Beat);
  fail_unless (map.level (tick_of (5.1 - 0.15)) == GridLevel::Sixteenth);
  fail_unless (map.level (tick_of (5.1)) == GridLevel::Downbeat);
  const GridPosition p = map.position (5.1 - 0.1);
  fail_unless (p.bar >= 0 && std::fabs (p.phase * p.beat_seconds - 0.2) < 1e-6);
}
GST_END_TEST;

struct Run {
  std::vector<TimedToken> tokens;
  TempoMap map;
};

static Run
compose (const ComposerOptions &o, const std::vector<double> &cuts, double until)
{
  Composer c (GeneratorModel::load (data_path ("tiny_generator.pt")), o);
  for (double t : cuts)
    c.add_cut (t);
  c.set_emotion (0.0, 0.5f, 0.5f);
  Run run;
  c.generate_until (until, run.tokens);
  run.map = c.tempo_map ();
  return run;
}

static const std::vector<double> kCuts = { 1.003, 5.5, 10.217, 14.2535, 18.3 };

GST_START_TEST (test_composer_onsets_on_grid)
{
  ComposerOptions o;
  fail_unless (o.timing == Timing::Grid);
  fail_unless (ComposerOptions::reference ().timing == Timing::Free);
  o.seed = 3 + __i__;
  const Run run = compose (o, kCuts, 20.0);
  fail_if (run.map.empty ());
  int ons = 0;
  std::map<std::pair<int64_t, int>, int> per_step; // (tick, instrument) -> note-ons
  for (const TimedToken &t : run.tokens) {
    if (!vocab::is_note_token (t.token) || !vocab::note_is_on (t.token))
      continue;
    ++ons;
    const int64_t tick = tick_of (t.time_seconds);
    const GridLevel l = run.map.level (tick);
    fail_unless (
        l != GridLevel::Off && l != GridLevel::PreGrid, "note-on at %.3f s off the grid", t.time_seconds);
    ++per_step[{ tick, vocab::instrument_index (vocab::note_instrument (t.token)) }];
  }
  fail_unless (ons > 20, "only %d note-ons", ons);
  // The per-step cap, apart from the forced chords at the cuts (bar lines).
  for (const auto &[key, count] : per_step)
    if (!run.map.is_bar_tick (key.first))
      fail_unless (
          count <= (key.second == vocab::instrument_index (vocab::Instrument::Drums) ? o.max_step_drum_ons
                                                                                     : o.max_step_note_ons),
          "%d note-ons of instrument %d at tick %ld", count, key.second, static_cast<long> (key.first));
  // Time shifts land on grid points or the tick before one.
  for (const TimedToken &t : run.tokens)
    if (vocab::is_time_shift (t.token))
      fail_if (run.map.level (tick_of (t.time_seconds)) == GridLevel::Off);
}
GST_END_TEST;

GST_START_TEST (test_composer_bars_on_bar_lines)
{
  ComposerOptions o;
  o.seed = 11;
  const Run run = compose (o, kCuts, 16.0);
  std::vector<int64_t> bar_tokens;
  for (const TimedToken &t : run.tokens)
    if (t.token == vocab::kBarToken)
      bar_tokens.push_back (tick_of (t.time_seconds));
  std::vector<int64_t> bar_lines;
  for (const Bar &b : run.map.bars ())
    if (b.start > 0.0 && b.start < 16.0 - 0.01)
      bar_lines.push_back (tick_of (b.start));
  fail_unless (
      bar_tokens == bar_lines, "%zu <BAR> tokens for %zu bar lines", bar_tokens.size (), bar_lines.size ());
}
GST_END_TEST;

GST_START_TEST (test_composer_hard_sync_chords_on_downbeats)
{
  ComposerOptions o;
  o.seed = 5 + __i__;
  const Run run = compose (o, kCuts, 20.0);
  for (double cut : kCuts) {
    bool found = false;
    for (const TimedToken &t : run.tokens)
      if (t.token == vocab::kChordToken && std::fabs (t.time_seconds - cut) <= 0.04) {
        found = true;
        fail_unless (run.map.is_bar_tick (tick_of (t.time_seconds)), "chord at %.3f s is not on a downbeat",
            t.time_seconds);
      }
    fail_unless (found, "no <CHORD> within 40 ms of the cut at %.4f s", cut);
  }
}
GST_END_TEST;

// The grid-level prior (ComposerOptions::grid_level_prior): onsets go mostly to beats and 8ths, rarely to 16ths
// and triplets; with a flat prior the weak positions take a much larger share (the tiny model, two seeds).
static double
weak_onset_share (const std::array<float, 6> &prior)
{
  int ons = 0, weak = 0;
  for (uint64_t seed : { 3, 4 }) {
    ComposerOptions o;
    o.seed = seed;
    o.grid_level_prior = prior;
    const Run run = compose (o, kCuts, 20.0);
    int64_t last = -1;
    for (const TimedToken &t : run.tokens) {
      if (!vocab::is_note_token (t.token) || !vocab::note_is_on (t.token) || tick_of (t.time_seconds) == last)
        continue;
      last = tick_of (t.time_seconds);
      const GridLevel l = run.map.level (last);
      ++ons;
      weak += l == GridLevel::Sixteenth || l == GridLevel::Triplet;
    }
  }
  fail_unless (ons > 40, "only %d onsets", ons);
  return static_cast<double> (weak) / ons;
}

GST_START_TEST (test_composer_grid_prior_favours_strong_positions)
{
  const double shipped = weak_onset_share (ComposerOptions{}.grid_level_prior);
  const double flat = weak_onset_share ({ 0, 0, 0, 0, 0, 0 });
  fail_unless (shipped < 0.15 && shipped < flat / 3,
      "onsets on 16ths and triplets: %.1f %% (flat prior %.1f %%)", 100 * shipped, 100 * flat);
}
GST_END_TEST;

static Suite *
grid_suite (void)
{
  Suite *s = suite_create ("grid");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_tempo_follows_arousal);
  tcase_add_test (tc, test_grid_levels);
  tcase_add_test (tc, test_planner_cuts_on_downbeats);
  tcase_add_test (tc, test_planner_holds_tempo_without_cuts);
  tcase_add_test (tc, test_planner_replans_after_cursor_on_a_new_cut);
  tcase_add_loop_test (tc, test_composer_onsets_on_grid, 0, 2);
  tcase_add_test (tc, test_composer_bars_on_bar_lines);
  tcase_add_test (tc, test_planner_cut_at_the_anchor_stays_a_cut);
  tcase_add_test (tc, test_planner_pickup_for_an_early_cut);
  tcase_add_test (tc, test_planner_half_beat_bar_keeps_the_tempo);
  tcase_add_test (tc, test_composer_grid_prior_favours_strong_positions);
  tcase_add_loop_test (tc, test_composer_hard_sync_chords_on_downbeats, 0, 2);
  return s;
}

GST_CHECK_MAIN (grid);
