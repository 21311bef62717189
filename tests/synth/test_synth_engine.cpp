/* emsync — unit tests of the FluidSynth wrapper (lib/synth), no GStreamer elements involved. */
#include <gst/check/gstcheck.h>

#include "lib/synth/synth.h"

#include <fluidsynth.h>

#include <glib/gstdio.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

using emsync::synth::SoundFontError;
using emsync::synth::Synth;

static const int kRate = 44100;

static std::string
soundfont_or_skip ()
{
  std::string path = emsync::synth::find_default_soundfont ();
  if (path.empty ())
    g_print ("SKIP: no General MIDI SoundFont installed (apt install timgm6mb-soundfont)\n");
  return path;
}

static std::string
write_temp_file (const std::string &contents)
{
  gchar *name = nullptr;
  gint fd = g_file_open_tmp ("emsync-synth-XXXXXX.sf2", &name, nullptr);
  fail_unless (fd >= 0);
  fail_unless (write (fd, contents.data (), contents.size ()) == (ssize_t) contents.size ());
  close (fd);
  std::string path = name;
  g_free (name);
  return path;
}

static float
peak_f32 (const std::vector<float> &buf)
{
  float peak = 0.0f;
  for (float v : buf)
    peak = std::max (peak, std::fabs (v));
  return peak;
}

static std::vector<float>
render_seconds (Synth &synth, double seconds)
{
  std::vector<float> out ((size_t) (seconds * synth.sample_rate ()) * 2);
  synth.render_f32 (out.data (), out.size () / 2);
  return out;
}

static void
note_on (Synth &synth, int channel, int key, int velocity)
{
  const uint8_t msg[] = { (uint8_t) (0x90 | channel), (uint8_t) key, (uint8_t) velocity };
  fail_unless (synth.apply_midi (msg, sizeof msg));
}

static void
note_off (Synth &synth, int channel, int key)
{
  const uint8_t msg[] = { (uint8_t) (0x80 | channel), (uint8_t) key, 0 };
  fail_unless (synth.apply_midi (msg, sizeof msg));
}

GST_START_TEST (test_candidates_order)
{
  g_unsetenv ("EMSYNC_SOUNDFONT");
  auto list = emsync::synth::default_soundfont_candidates ();
  fail_unless (list.size () >= 5);
  fail_unless_equals_string (list[0].c_str (), "/usr/share/sounds/sf2/TimGM6mb.sf2");
  fail_unless_equals_string (list[1].c_str (), "/usr/share/sounds/sf2/FluidR3_GM.sf2");
  fail_unless (
      std::find (list.begin (), list.end (), "/usr/share/sounds/sf3/MuseScore_General.sf3") != list.end ());

  g_setenv ("EMSYNC_SOUNDFONT", "/tmp/mine.sf2", TRUE);
  list = emsync::synth::default_soundfont_candidates ();
  fail_unless_equals_string (list[0].c_str (), "/tmp/mine.sf2");
  /* a candidate that does not exist is skipped */
  std::string found = emsync::synth::find_default_soundfont ();
  fail_if (found == "/tmp/mine.sf2");
  g_unsetenv ("EMSYNC_SOUNDFONT");
}
GST_END_TEST;

static int error_logs = 0;

static void
count_errors (emsync::synth::LogLevel level, const char *message, void *)
{
  if (level != emsync::synth::LogLevel::Debug)
    error_logs++;
}

GST_START_TEST (test_missing_soundfont)
{
  const std::string path = "/nonexistent/emsync/missing.sf2";
  try {
    emsync::synth::check_soundfont_file (path);
    fail ("no exception for a missing file");
  } catch (const SoundFontError &e) {
    fail_unless (e.kind () == SoundFontError::Kind::NotFound);
    fail_unless_equals_string (e.path ().c_str (), path.c_str ());
    fail_unless (
        std::string (e.what ()).find (path) != std::string::npos, "message lacks the path: %s", e.what ());
  }
  try {
    emsync::synth::check_soundfont_file ("/tmp");
    fail ("no exception for a directory");
  } catch (const SoundFontError &e) {
    fail_unless (e.kind () == SoundFontError::Kind::Unreadable);
  }
}
GST_END_TEST;

GST_START_TEST (test_corrupt_soundfont)
{
  /* not RIFF at all: rejected before FluidSynth sees it */
  const std::string garbage = write_temp_file (std::string (4096, '\x5a'));
  try {
    emsync::synth::check_soundfont_file (garbage);
    fail ("no exception for garbage");
  } catch (const SoundFontError &e) {
    fail_unless (e.kind () == SoundFontError::Kind::Corrupt);
    fail_unless (std::string (e.what ()).find (garbage) != std::string::npos);
  }

  /* a plausible header with a body cut short: rejected with the reason */
  std::string body =
      std::string ("RIFF") + std::string ("\x00\x10\x00\x00", 4) + "sfbk" + std::string (64, '\x01');
  const std::string truncated = write_temp_file (body);
  try {
    emsync::synth::check_soundfont_file (truncated);
    fail ("no exception for a truncated SoundFont");
  } catch (const SoundFontError &e) {
    fail_unless (e.kind () == SoundFontError::Kind::Corrupt);
    fail_unless (std::string (e.what ()).find ("truncated") != std::string::npos, "%s", e.what ());
  }

  /* all sections present but empty: passes the structure check, FluidSynth refuses it */
  auto list = [] (const char *type) {
    return std::string ("LIST") + std::string ("\x04\x00\x00\x00", 4) + type;
  };
  std::string sections = list ("INFO") + list ("sdta") + list ("pdta");
  std::string empty_font = std::string ("RIFF") + std::string (1, (char) (4 + sections.size ()))
      + std::string (3, '\0') + "sfbk" + sections;
  const std::string hollow = write_temp_file (empty_font);
  emsync::synth::check_soundfont_file (hollow);
  /* FluidSynth then also offers it to libinstpatch's DLS loader, which emits a GLib critical about it */
  GRegex *ipatch = g_regex_new ("ipatch", (GRegexCompileFlags) 0, (GRegexMatchFlags) 0, nullptr);
  gst_check_add_log_filter (nullptr, G_LOG_LEVEL_CRITICAL, ipatch, nullptr, nullptr, nullptr);
  Synth synth (kRate, {});
  try {
    synth.load_soundfont (hollow);
    fail ("no exception for an empty SoundFont");
  } catch (const SoundFontError &e) {
    fail_unless (e.kind () == SoundFontError::Kind::Corrupt);
    fail_unless (std::string (e.what ()).find (hollow) != std::string::npos);
  }
  fail_unless (synth.soundfont ().empty ());
  gst_check_clear_log_filter ();
  g_unlink (truncated.c_str ());
  g_unlink (hollow.c_str ());
  g_unlink (garbage.c_str ());
  g_unlink (truncated.c_str ());
}
GST_END_TEST;

GST_START_TEST (test_log_routing)
{
  error_logs = 0;
  emsync::synth::set_log_handler (count_errors, nullptr);
  fluid_log (FLUID_WARN, "emsync test message");
  emsync::synth::set_log_handler (nullptr, nullptr);
  fluid_log (FLUID_WARN, "emsync test message, not routed");
  fail_unless_equals_int (error_logs, 1);
}
GST_END_TEST;

GST_START_TEST (test_invalid_rate)
{
  bool thrown = false;
  try {
    Synth synth (8000, {});
  } catch (const std::invalid_argument &) {
    thrown = true;
  }
  fail_unless (thrown);
}
GST_END_TEST;

GST_START_TEST (test_note_renders_and_releases)
{
  const std::string sf = soundfont_or_skip ();
  if (sf.empty ())
    return;
  emsync::synth::Settings settings;
  settings.reverb = false;
  settings.chorus = false;
  Synth synth (kRate, settings);
  synth.load_soundfont (sf);
  fail_unless_equals_string (synth.soundfont ().c_str (), sf.c_str ());

  fail_unless (peak_f32 (render_seconds (synth, 0.1)) == 0.0f, "silence expected before any note");
  fail_unless_equals_int (synth.active_voice_count (), 0);

  note_on (synth, 0, 60, 100);
  fail_unless (synth.active_voice_count () > 0);
  fail_unless (peak_f32 (render_seconds (synth, 0.3)) > 0.01f);

  note_off (synth, 0, 60);
  /* the release still sounds, then every voice ends */
  fail_unless (peak_f32 (render_seconds (synth, 0.05)) > 0.0f);
  for (int i = 0; i < 50 && synth.active_voice_count () > 0; i++)
    render_seconds (synth, 0.1);
  fail_unless_equals_int (synth.active_voice_count (), 0);
}
GST_END_TEST;

GST_START_TEST (test_s16_render)
{
  const std::string sf = soundfont_or_skip ();
  if (sf.empty ())
    return;
  Synth synth (48000, {});
  synth.load_soundfont (sf);
  note_on (synth, 0, 64, 120);
  std::vector<int16_t> out (4800 * 2);
  synth.render_s16 (out.data (), 4800);
  int peak = 0;
  for (int16_t v : out)
    peak = std::max (peak, std::abs ((int) v));
  fail_unless (peak > 100, "peak %d", peak);
}
GST_END_TEST;

GST_START_TEST (test_messages)
{
  const std::string sf = soundfont_or_skip ();
  if (sf.empty ())
    return;
  Synth synth (kRate, {});
  synth.load_soundfont (sf);
  const uint8_t program[] = { 0xc1, 40 };
  const uint8_t control[] = { 0xb1, 7, 90 };
  const uint8_t bend[] = { 0xe1, 0x00, 0x50 };
  const uint8_t pressure[] = { 0xd1, 60 };
  const uint8_t key_pressure[] = { 0xa1, 60, 30 };
  const uint8_t sysex[] = { 0xf0, 0x7e, 0x7f, 0x09, 0x01, 0xf7 };
  const uint8_t tick[] = { 0xf9 };
  const uint8_t running_status[] = { 0x3c, 0x40 };
  fail_unless (synth.apply_midi (program, sizeof program));
  fail_unless (synth.apply_midi (control, sizeof control));
  fail_unless (synth.apply_midi (bend, sizeof bend));
  fail_unless (synth.apply_midi (pressure, sizeof pressure));
  fail_unless (synth.apply_midi (key_pressure, sizeof key_pressure));
  fail_if (synth.apply_midi (sysex, sizeof sysex));
  fail_if (synth.apply_midi (tick, sizeof tick));
  fail_if (synth.apply_midi (running_status, sizeof running_status));
  fail_if (synth.apply_midi (nullptr, 0));
  /* a truncated note-on does not crash (missing data bytes read as 0) */
  const uint8_t short_note[] = { 0x91 };
  synth.apply_midi (short_note, sizeof short_note);
  render_seconds (synth, 0.01);
}
GST_END_TEST;

GST_START_TEST (test_reset_silences)
{
  const std::string sf = soundfont_or_skip ();
  if (sf.empty ())
    return;
  Synth synth (kRate, {}); /* reverb and chorus on: their buffers must be cleared too */
  synth.load_soundfont (sf);
  for (int key = 48; key < 72; key += 4)
    note_on (synth, 0, key, 127);
  fail_unless (peak_f32 (render_seconds (synth, 0.2)) > 0.01f);
  const uint8_t system_reset[] = { 0xff };
  fail_unless (synth.apply_midi (system_reset, sizeof system_reset));
  fail_unless_equals_int (synth.active_voice_count (), 0);
  /* nothing rings on: neither the released notes nor the reverb */
  fail_unless (peak_f32 (render_seconds (synth, 1.0)) < 1e-6f);
  /* and the synth still plays afterwards, with programs back at 0 */
  note_on (synth, 0, 60, 100);
  fail_unless (peak_f32 (render_seconds (synth, 0.1)) > 0.01f);
}
GST_END_TEST;

GST_START_TEST (test_settings)
{
  const std::string sf = soundfont_or_skip ();
  if (sf.empty ())
    return;
  emsync::synth::Settings quiet;
  quiet.gain = 0.05;
  quiet.reverb = false;
  quiet.chorus = false;
  emsync::synth::Settings loud = quiet;
  loud.gain = 0.4;
  Synth a (kRate, quiet), b (kRate, loud);
  a.load_soundfont (sf);
  b.load_soundfont (sf);
  note_on (a, 0, 60, 100);
  note_on (b, 0, 60, 100);
  const float pa = peak_f32 (render_seconds (a, 0.2)), pb = peak_f32 (render_seconds (b, 0.2));
  fail_unless (pb > 6.0f * pa && pb < 10.0f * pa, "gain 8x gave %f vs %f", pb, pa);

  /* polyphony 1: a second note steals the first voice */
  a.set_polyphony (1);
  note_on (a, 0, 64, 100);
  note_on (a, 0, 67, 100);
  render_seconds (a, 0.01);
  fail_unless (a.active_voice_count () <= 1);
  a.set_reverb (true);
  a.set_chorus (true);
  a.set_gain (0.3);
}
GST_END_TEST;

static Suite *
synth_engine_suite (void)
{
  Suite *s = suite_create ("synth-engine");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_candidates_order);
  tcase_add_test (tc, test_missing_soundfont);
  tcase_add_test (tc, test_corrupt_soundfont);
  tcase_add_test (tc, test_log_routing);
  tcase_add_test (tc, test_invalid_rate);
  tcase_add_test (tc, test_note_renders_and_releases);
  tcase_add_test (tc, test_s16_render);
  tcase_add_test (tc, test_messages);
  tcase_add_test (tc, test_reset_silences);
  tcase_add_test (tc, test_settings);
  return s;
}

GST_CHECK_MAIN (synth_engine);
