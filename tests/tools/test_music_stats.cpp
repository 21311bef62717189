// Unit tests of emsync-gen-eval's musical statistics (tools/gen-eval/music_stats.h) on synthetic note lists
// whose answers are known, and the pulse's calibration: music with 60 ms random jitter scores far below the
// same music on time (synthetic here; on real corpus files too when $EMSYNC_SHARED_DATA/midi is present).
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "lib/midi/smf.h"
#include "tools/gen-eval/music_stats.h"

// After the C++ headers: Check defines a fail() macro that clashes with std::ios::fail().
#include <gst/check/gstcheck.h>

using emsync::midi::Instrument;
using emsync::midi::Note;
using gen_eval::compute_music_statistics;
using gen_eval::MusicStatistics;
using gen_eval::MusicStatsOptions;

namespace {

Note
note (Instrument inst, int pitch, double start, double length, int velocity = 80)
{
  Note n;
  n.instrument = inst;
  n.pitch = pitch;
  n.start_seconds = start;
  n.end_seconds = start + length;
  n.velocity = velocity;
  return n;
}

// A groove of 60 s at 120 bpm: kick on every beat, bass on every 8th, a piano chord of 3 notes on beats 1 and 3
// (pitches moving through a C major scale).
std::vector<Note>
groove ()
{
  std::vector<Note> out;
  const int scale[] = { 0, 2, 4, 5, 7, 9, 11 };
  for (int i = 0; i < 240; ++i) {
    const double beat = 0.5 * i;
    out.push_back (note (Instrument::Drums, 36, beat, 0.1));
    out.push_back (note (Instrument::Bass, 36 + scale[i % 7], beat, 0.2));
    out.push_back (note (Instrument::Bass, 43, beat + 0.25, 0.2));
    if (i % 2 == 0)
      for (int k = 0; k < 3; ++k)
        out.push_back (note (Instrument::Piano, 60 + scale[(i / 2 + 2 * k) % 7], beat, 0.9));
  }
  return out;
}

void
jitter (std::vector<Note> &notes, double sd, unsigned seed)
{
  std::mt19937_64 rng (seed);
  gen_eval::jitter_notes (notes, sd, rng);
}

} // namespace

GST_START_TEST (test_metronome_pulse)
{
  std::vector<Note> notes;
  for (int i = 0; i < 120; ++i)
    notes.push_back (note (Instrument::Drums, 42, 0.5 * i, 0.05));
  const MusicStatistics s = compute_music_statistics (notes);
  fail_unless (s.pulse > 0.99, "metronome pulse %f", s.pulse);
  fail_unless (std::fabs (s.modal_gap_seconds - 0.5) < 1e-9, "modal gap %f", s.modal_gap_seconds);
  fail_unless (s.clusters == 120);
  fail_unless (std::isnan (s.smear_share), "no cluster has two onsets");
  // A beat grid spacing that divides the 0.5 s beat (or is it).
  const double ratio = 0.5 / s.grid_seconds;
  fail_unless (std::fabs (ratio - std::round (ratio)) < 0.02, "grid %f", s.grid_seconds);
}
GST_END_TEST;

GST_START_TEST (test_jitter_and_random_lower_the_pulse)
{
  const double steady = compute_music_statistics (groove ()).pulse;
  fail_unless (steady > 0.95, "groove pulse %f", steady);
  std::vector<Note> j30 = groove (), j60 = groove ();
  jitter (j30, 0.030, 1);
  jitter (j60, 0.060, 2);
  const double p30 = compute_music_statistics (j30).pulse, p60 = compute_music_statistics (j60).pulse;
  fail_unless (p30 < steady - 0.2, "30 ms jitter %f vs %f", p30, steady);
  fail_unless (p60 < p30, "60 ms jitter %f vs 30 ms %f", p60, p30);
  fail_unless (p60 < 0.15, "60 ms jitter pulse %f", p60);
  // Onsets placed at random: chance level, about 0.
  std::mt19937_64 rng (3);
  std::uniform_real_distribution<double> u (0.0, 60.0);
  std::vector<Note> random;
  for (int i = 0; i < 400; ++i)
    random.push_back (note (Instrument::Piano, 60, u (rng), 0.2));
  const double pr = compute_music_statistics (random).pulse;
  fail_unless (std::fabs (pr) < 0.1, "random onsets pulse %f", pr);
}
GST_END_TEST;

// A tempo that steps by up to 6 % every 4 bars (as our tempo map bends to land cuts on bar lines) moves a fixed
// grid off the onsets within a 12 s window; in score time, with the beats the tempo map gives, the grid follows.
GST_START_TEST (test_score_pulse_follows_the_tempo_map)
{
  const double beat_of_section[] = { 0.50, 0.53, 0.50, 0.47, 0.50, 0.53, 0.56, 0.53 };
  std::vector<double> beats;
  std::vector<Note> stepped;
  double t = 0.0;
  for (double beat : beat_of_section)
    for (int i = 0; i < 16; ++i, t += beat) {
      beats.push_back (t);
      stepped.push_back (note (Instrument::Drums, 36, t, 0.1));
      stepped.push_back (note (Instrument::Bass, 36 + i % 5, t, 0.2));
      stepped.push_back (note (Instrument::Bass, 43, t + beat / 2, 0.2));
    }
  beats.push_back (t);
  MusicStatsOptions o;
  o.beat_times = beats;
  const MusicStatistics s = compute_music_statistics (stepped, o);
  fail_unless (s.score_pulse > 0.95, "score pulse %f", s.score_pulse);
  fail_unless (s.pulse < s.score_pulse - 0.2, "pulse %f vs score pulse %f", s.pulse, s.score_pulse);
  // Without beats there is no score pulse; at a constant tempo it is the pulse.
  fail_unless (std::isnan (compute_music_statistics (stepped).score_pulse));
  MusicStatsOptions even;
  for (int i = 0; i <= 130; ++i)
    even.beat_times.push_back (0.5 * i);
  const MusicStatistics g = compute_music_statistics (groove (), even);
  fail_unless (std::fabs (g.score_pulse - g.pulse) < 1e-6, "%f vs %f", g.score_pulse, g.pulse);
  // Jitter and random onsets lower it as they lower the pulse.
  std::vector<Note> j60 = stepped;
  jitter (j60, 0.060, 4);
  const double pj = compute_music_statistics (j60, o).score_pulse;
  fail_unless (pj < 0.15, "60 ms jitter score pulse %f", pj);
  std::mt19937_64 rng (5);
  std::uniform_real_distribution<double> u (0.0, t);
  std::vector<Note> random;
  for (int i = 0; i < 400; ++i)
    random.push_back (note (Instrument::Piano, 60, u (rng), 0.2));
  const double pr = compute_music_statistics (random, o).score_pulse;
  fail_unless (std::fabs (pr) < 0.1, "random onsets score pulse %f", pr);
}
GST_END_TEST;

GST_START_TEST (test_smear)
{
  std::vector<Note> together, smeared;
  for (int i = 0; i < 20; ++i)
    for (int k = 0; k < 3; ++k) {
      together.push_back (note (Instrument::Piano, 60 + 4 * k, i * 1.0, 0.5));
      smeared.push_back (
          note (Instrument::Piano, 60 + 4 * k, i * 1.0 + 0.008 * k, 0.5)); // one 8 ms tick apart
    }
  const MusicStatistics a = compute_music_statistics (together), b = compute_music_statistics (smeared);
  fail_unless (a.clusters == 20 && b.clusters == 20);
  fail_unless (a.smear_share == 0.0, "together %f", a.smear_share);
  fail_unless (b.smear_share == 1.0, "smeared %f", b.smear_share);
}
GST_END_TEST;

GST_START_TEST (test_pitch_entropy_and_repeats)
{
  std::vector<Note> chromatic, drone;
  for (int i = 0; i < 48; ++i) {
    chromatic.push_back (note (Instrument::Piano, 60 + i % 12, 0.25 * i, 0.25));
    drone.push_back (note (Instrument::Guitar, 52, 0.25 * i, 0.25));
  }
  const MusicStatistics c = compute_music_statistics (chromatic), d = compute_music_statistics (drone);
  fail_unless (std::fabs (c.pc_entropy - std::log2 (12.0)) < 1e-9, "chromatic entropy %f", c.pc_entropy);
  fail_unless (c.pitched.repeated_pitch_share == 0.0);
  fail_unless (d.pc_entropy == 0.0);
  fail_unless (d.pitched.repeated_pitch_share == 1.0);
  fail_unless (
      d.per_instrument[emsync::midi::instrument_index (Instrument::Guitar)].repeated_pitch_share == 1.0);
  // Repeats count within an instrument: two instruments alternating on one pitch never repeat each other.
  std::vector<Note> two;
  for (int i = 0; i < 20; ++i)
    two.push_back (note (
        i % 2 ? Instrument::Bass : Instrument::Piano, 48 + 12 * (i % 2 == 0) + (i / 2) % 5, 0.5 * i, 0.4));
  fail_unless (compute_music_statistics (two).pitched.repeated_pitch_share == 0.0);
}
GST_END_TEST;

GST_START_TEST (test_note_lengths_restrikes_velocity)
{
  std::vector<Note> notes;
  // 10 notes of 50 ms and 10 of 300 ms, different pitches, 0.5 s apart; velocities alternate 60 / 100.
  for (int i = 0; i < 20; ++i)
    notes.push_back (note (Instrument::Strings, 60 + i, 0.5 * i, i % 2 ? 0.3 : 0.05, i % 2 ? 100 : 60));
  MusicStatistics s = compute_music_statistics (notes);
  fail_unless (s.pitched.short_share == 0.5, "short %f", s.pitched.short_share);
  fail_unless (std::fabs (s.pitched.median_seconds - 0.175) < 1e-9, "median %f", s.pitched.median_seconds);
  fail_unless (s.pitched.restrike_share == 0.0);
  fail_unless (std::fabs (s.velocity_std - 20.0) < 1e-9, "velocity std %f", s.velocity_std);
  // One pitch struck every 40 ms: all but the first re-strike.
  std::vector<Note> buzz;
  for (int i = 0; i < 25; ++i)
    buzz.push_back (note (Instrument::Guitar, 64, 0.04 * i, 0.02));
  s = compute_music_statistics (buzz);
  fail_unless (
      std::fabs (s.pitched.restrike_share - 24.0 / 25.0) < 1e-9, "re-strikes %f", s.pitched.restrike_share);
  fail_unless (s.pitched.short_share == 1.0);
}
GST_END_TEST;

GST_START_TEST (test_key_stability_and_forced_release)
{
  // C major for 48 s, then F# major for 16 s: 6 of the 8 s windows are in the piece's key (C major), 2 not.
  std::vector<Note> notes;
  const int major[] = { 0, 2, 4, 5, 7, 9, 11, 0 };
  for (int i = 0; i < 256; ++i) {
    const int tonic = i < 192 ? 0 : 6;
    notes.push_back (note (Instrument::Piano, 60 + tonic + major[i % 8], 0.25 * i, 0.25));
  }
  const MusicStatistics s = compute_music_statistics (notes);
  fail_unless (std::fabs (s.key_stability - 0.75) < 1e-9, "two keys %f", s.key_stability);
  std::vector<Note> c_only (notes.begin (), notes.begin () + 128);
  fail_unless (compute_music_statistics (c_only).key_stability == 1.0);
  // Forced release: notes held to the limit count.
  MusicStatsOptions o;
  o.forced_release_seconds = 4.0;
  std::vector<Note> held{ note (Instrument::Piano, 60, 0, 4.0), note (Instrument::Piano, 64, 0, 1.0),
    note (Instrument::Piano, 67, 1, 3.0), note (Instrument::Strings, 55, 2, 6.0) };
  fail_unless (compute_music_statistics (held, o).forced_release_share == 0.5);
  fail_unless (std::isnan (compute_music_statistics (held).forced_release_share), "not asked: not reported");
}
GST_END_TEST;

GST_START_TEST (test_downbeats_and_tempo_change)
{
  // Known bars every 2 s: a cut on a bar line and one in the middle of a bar.
  std::vector<Note> notes = groove ();
  MusicStatsOptions o;
  for (int i = 0; i <= 30; ++i)
    o.bar_times.push_back (2.0 * i);
  o.cuts = { 10.0, 13.0, 20.01 };
  MusicStatistics s = compute_music_statistics (notes, o);
  fail_unless (s.cuts == 3);
  fail_unless (std::fabs (s.cuts_on_downbeat - 2.0 / 3.0) < 1e-9, "on bars %f", s.cuts_on_downbeat);
  fail_unless (s.tempo_change == 0.0);
  // Bars of 2 s, 2.2 s, 2 s: |0.2| / 2 and |0.2| / 2.2.
  o.bar_times = { 0, 2.0, 4.2, 6.2 };
  s = compute_music_statistics (notes, o);
  fail_unless (
      std::fabs (s.tempo_change - 0.5 * (0.1 + 0.2 / 2.2)) < 1e-9, "tempo change %f", s.tempo_change);
  // Free timing: bars from the fitted grid. Beats every 0.5 s with a bass note on every 4th: a cut on such a beat
  // is on a downbeat, a cut on the beat after it is not, a cut between beats neither.
  std::vector<Note> beats;
  for (int i = 0; i < 96; ++i) {
    beats.push_back (note (Instrument::Drums, 42, 0.5 * i, 0.05));
    if (i % 4 == 0)
      beats.push_back (note (Instrument::Bass, 40, 0.5 * i, 1.5));
  }
  MusicStatsOptions f;
  f.cuts = { 16.0, 16.5, 30.25 };
  s = compute_music_statistics (beats, f);
  fail_unless (std::fabs (s.cuts_on_downbeat - 1.0 / 3.0) < 1e-9, "fitted downbeats %f (grid %f)",
      s.cuts_on_downbeat, s.grid_seconds);
  fail_unless (s.tempo_change < 1e-6, "steady fitted tempo %f", s.tempo_change);
}
GST_END_TEST;

// The calibration on real music: files of the corpus, as written and with 60 ms random jitter.
GST_START_TEST (test_pulse_calibration_corpus)
{
  namespace fs = std::filesystem;
  const char *root = std::getenv ("EMSYNC_SHARED_DATA");
  std::error_code ec;
  const fs::path dir = root ? fs::path (root) / "midi" / "pop909" : fs::path ();
  if (!root || !fs::is_directory (dir, ec)) {
    std::printf ("skipping: $EMSYNC_SHARED_DATA/midi/pop909 not available\n");
    return;
  }
  std::vector<std::string> files;
  for (auto &e : fs::recursive_directory_iterator (dir, ec))
    if (e.is_regular_file () && e.path ().extension () == ".mid")
      files.push_back (e.path ().string ());
  std::sort (files.begin (), files.end ());
  int tested = 0;
  double steady_sum = 0, jittered_sum = 0;
  for (size_t i = 0; i < files.size () && tested < 4; i += 97) {
    std::vector<Note> notes;
    try {
      notes = emsync::midi::read_notes (files[i]);
    } catch (const std::exception &) {
      continue;
    }
    if (notes.size () < 200)
      continue;
    const double steady = compute_music_statistics (notes).pulse;
    jitter (notes, 0.060, static_cast<unsigned> (i));
    const double jittered = compute_music_statistics (notes).pulse;
    std::fprintf (stderr, "%s: pulse %.2f, with 60 ms jitter %.2f\n", files[i].c_str (), steady, jittered);
    fail_unless (jittered < steady - 0.2, "%s: jittered %f vs %f", files[i].c_str (), jittered, steady);
    steady_sum += steady;
    jittered_sum += jittered;
    ++tested;
  }
  fail_unless (tested > 0, "no readable POP909 file");
  fail_unless (steady_sum / tested > 0.5, "POP909 mean pulse %f", steady_sum / tested);
  fail_unless (
      std::fabs (jittered_sum / tested) < 0.1, "jittered POP909 mean pulse %f", jittered_sum / tested);
}
GST_END_TEST;

static Suite *
music_stats_suite (void)
{
  Suite *s = suite_create ("music-stats");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_metronome_pulse);
  tcase_add_test (tc, test_jitter_and_random_lower_the_pulse);
  tcase_add_test (tc, test_score_pulse_follows_the_tempo_map);
  tcase_add_test (tc, test_smear);
  tcase_add_test (tc, test_pitch_entropy_and_repeats);
  tcase_add_test (tc, test_note_lengths_restrikes_velocity);
  tcase_add_test (tc, test_key_stability_and_forced_release);
  tcase_add_test (tc, test_downbeats_and_tempo_change);
  tcase_add_test (tc, test_pulse_calibration_corpus);
  return s;
}

GST_CHECK_MAIN (music_stats);
