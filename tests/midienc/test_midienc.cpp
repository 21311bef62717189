/* emsync — emsyncmidienc tests: GstHarness (events in, one SMF out, parsed back with lib/midi) and an interop
 * round trip `filesrc ! midiparse ! emsyncmidienc ! filesink` compared with the original file. */
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <tuple>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "lib/midi/program_map.h"
#include "lib/midi/smf.h"
#include "lib/midi/tokenizer.h"
#include "gst/emsyncevents.h"

/* after the C++ headers: Check defines a fail() macro that clashes with std::ios::fail() */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

using namespace emsync::midi;
namespace fs = std::filesystem;

static GstBuffer *
midi_buffer (double seconds, std::initializer_list<int> bytes)
{
  std::vector<guint8> data;
  for (int b : bytes)
    data.push_back (static_cast<guint8> (b));
  GstBuffer *buffer = data.empty () ? gst_buffer_new () : gst_buffer_new_memdup (data.data (), data.size ());
  GST_BUFFER_PTS (buffer) =
      seconds < 0 ? GST_CLOCK_TIME_NONE : (GstClockTime) std::llround (seconds * GST_SECOND);
  return buffer;
}

static GstHarness *
new_harness ()
{
  GstHarness *h = gst_harness_new ("emsyncmidienc");
  gst_harness_set_src_caps_str (h, "audio/x-midi-event");
  return h;
}

/* EOS, then the one file buffer the element pushed, parsed. */
static SmfFile
finish (GstHarness *h, std::vector<uint8_t> *bytes_out = nullptr)
{
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  ck_assert_int_eq (gst_harness_buffers_in_queue (h), 1);
  GstBuffer *buffer = gst_harness_pull (h);
  GstMapInfo map;
  fail_unless (gst_buffer_map (buffer, &map, GST_MAP_READ));
  std::vector<uint8_t> bytes (map.data, map.data + map.size);
  gst_buffer_unmap (buffer, &map);
  gst_buffer_unref (buffer);
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless (caps != NULL);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 0), "audio/midi"));
  gst_caps_unref (caps);
  /* EOS follows the file */
  GstEvent *event;
  bool saw_eos = false;
  while ((event = gst_harness_try_pull_event (h))) {
    saw_eos = saw_eos || GST_EVENT_TYPE (event) == GST_EVENT_EOS;
    gst_event_unref (event);
  }
  fail_unless (saw_eos);
  if (bytes_out)
    *bytes_out = bytes;
  return parse_smf (bytes, "emsyncmidienc output");
}

static void
assert_near (double a, double b, double tolerance, const char *what)
{
  ck_assert_msg (std::fabs (a - b) <= tolerance, "%s: %f vs %f", what, a, b);
}

/* A harness whose stream starts with a segment at 10 s (file time 0 there). */
static GstHarness *
harness_from_10_s (GstSegment *segment)
{
  GstHarness *h = gst_harness_new ("emsyncmidienc");
  gst_harness_set_caps_str (h, "audio/x-midi-event", "audio/midi");
  gst_segment_init (segment, GST_FORMAT_TIME);
  segment->start = 10 * GST_SECOND;
  segment->time = 10 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (segment)));
  return h;
}

GST_START_TEST (test_basic_messages)
{
  GstHarness *h = new_harness ();
  gst_harness_push (h, midi_buffer (0.0, { 0xC0, 25 }));
  gst_harness_push (h, midi_buffer (0.5, { 0x90, 60, 100 }));
  gst_harness_push (h, midi_buffer (0.51, { 0xF9 })); // tick: ignored
  gst_harness_push (h, midi_buffer (0.75, { 0x99, 36, 127 }));
  gst_harness_push (h, midi_buffer (1.0, { 0x99, 36, 0 })); // note-on velocity 0 = off
  gst_harness_push (h, midi_buffer (1.2, { 0xB1, 7, 90 }));
  gst_harness_push (h, midi_buffer (1.3, { 0xE1, 0x00, 0x50 }));
  gst_harness_push (h, midi_buffer (1.5, { 0x80, 60, 64 }));
  SmfFile file = finish (h);
  ck_assert_int_eq (file.format, 1);
  ck_assert_int_eq (file.ticks_per_quarter, 480);
  ck_assert_int_eq (file.track_count, 4); // tempo + channels 1, 2, 10
  ck_assert_str_eq (file.track_names[1].c_str (), "Channel 1");
  ck_assert_str_eq (file.track_names[2].c_str (), "Channel 2");
  ck_assert_str_eq (file.track_names[3].c_str (), "Channel 10");
  ck_assert_int_eq (file.events.size (), 7);
  struct Expected {
    double time;
    int status, data1, data2;
  } expected[] = { { 0.0, 0xC0, 25, 0 }, { 0.5, 0x90, 60, 100 }, { 0.75, 0x99, 36, 127 },
    { 1.0, 0x99, 36, 0 }, { 1.2, 0xB1, 7, 90 }, { 1.3, 0xE1, 0x00, 0x50 }, { 1.5, 0x80, 60, 64 } };
  for (size_t i = 0; i < 7; i++) {
    assert_near (file.events[i].time_seconds, expected[i].time, 1e-9, "event time"); // 1 ms ticks: exact
    ck_assert_int_eq (file.events[i].status, expected[i].status);
    ck_assert_int_eq (file.events[i].data1, expected[i].data1);
    ck_assert_int_eq (file.events[i].data2, expected[i].data2);
  }
  std::vector<Note> notes = notes_from_smf (file);
  ck_assert_int_eq (notes.size (), 2);
  ck_assert (notes[0].instrument == Instrument::Guitar && notes[0].velocity == 100);
  assert_near (notes[0].end_seconds, 1.5, 1e-9, "guitar end");
  ck_assert (notes[1].instrument == Instrument::Drums && notes[1].velocity == 127);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_segment_times)
{
  GstSegment segment;
  GstHarness *h = harness_from_10_s (&segment);
  gst_harness_push (h, midi_buffer (10.5, { 0x90, 60, 100 }));
  gst_harness_push (h, midi_buffer (-1.0, { 0x90, 62, 100 })); // no PTS: time of the previous message
  gst_harness_push (h, midi_buffer (11.0, { 0x80, 60, 0 }));
  /* a second segment continues the running time: base 20 s */
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.base = 20 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  gst_harness_push (h, midi_buffer (1.0, { 0x80, 62, 0 }));
  SmfFile file = finish (h);
  ck_assert_int_eq (file.events.size (), 4);
  assert_near (file.events[0].time_seconds, 0.5, 1e-9, "first");
  assert_near (file.events[1].time_seconds, 0.5, 1e-9, "no pts");
  assert_near (file.events[2].time_seconds, 1.0, 1e-9, "third");
  assert_near (file.events[3].time_seconds, 21.0, 1e-9, "second segment");
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The generator's bars ("emsync-tempo" events, PTS in the stream) become the file's tempo track: each bar line
 * on a whole bar of ticks, times read back as sent. */
GST_START_TEST (test_tempo_events_give_the_bars)
{
  GstSegment segment;
  GstHarness *h = harness_from_10_s (&segment);
  EmsyncTempoBar bar = {};
  bar.beat_duration = 600 * GST_MSECOND;
  bar.beats = 4;
  fail_unless (
      gst_harness_push_event (h, emsync_tempo_event_new (5 * GST_SECOND, &bar))); /* before the segment */
  fail_unless (gst_harness_push_event (h, emsync_tempo_event_new (10 * GST_SECOND, &bar)));
  gst_harness_push (h, midi_buffer (10.0, { 0x90, 60, 100 }));
  gst_harness_push (h, midi_buffer (11.8, { 0x80, 60, 0 }));
  bar.beat_duration = 550 * GST_MSECOND;
  bar.beats = 3;
  bar.on_cut = TRUE;
  fail_unless (gst_harness_push_event (h, emsync_tempo_event_new (12400 * GST_MSECOND, &bar)));
  gst_harness_push (h, midi_buffer (12.4, { 0x90, 62, 100 }));
  gst_harness_push (h, midi_buffer (14.05, { 0x80, 62, 0 }));
  /* other custom events are not ours to take */
  fail_unless (gst_harness_push_event (
      h, gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, gst_structure_new_empty ("someone-else"))));
  bool forwarded = false;
  GstEvent *event;
  while ((event = gst_harness_try_pull_event (h))) {
    const GstStructure *st = gst_event_get_structure (event);
    forwarded = forwarded || (st && gst_structure_has_name (st, "someone-else"));
    fail_if (emsync_tempo_event_parse (event, NULL, NULL), "a tempo event went downstream");
    gst_event_unref (event);
  }
  fail_unless (forwarded);
  SmfFile file = finish (h);
  const auto &changes = file.tempo_map.changes ();
  ck_assert_int_eq (changes.size (), 2);
  ck_assert_int_eq (changes[0].microseconds_per_quarter, 600000);
  ck_assert_int_eq (changes[1].tick, 4 * 480);
  ck_assert_int_eq (changes[1].microseconds_per_quarter, 550000);
  ck_assert_int_eq (file.events.size (), 4);
  ck_assert_int_eq (file.events[2].tick, 4 * 480); /* the second bar line */
  assert_near (file.events[2].time_seconds, 2.4, 1e-6, "second bar");
  assert_near (file.events[3].time_seconds, 4.05, 1e-3, "last note-off");
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_flush_resets)
{
  GstHarness *h = new_harness ();
  gst_harness_push (h, midi_buffer (1.0, { 0x90, 60, 100 }));
  gst_harness_push (h, midi_buffer (2.0, { 0x80, 60, 0 }));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = 5 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  gst_harness_push (h, midi_buffer (5.2, { 0x91, 64, 80 }));
  gst_harness_push (h, midi_buffer (5.7, { 0x81, 64, 0 }));
  SmfFile file = finish (h);
  ck_assert_int_eq (file.events.size (), 2);
  ck_assert_int_eq (file.events[0].status, 0x91);
  assert_near (file.events[0].time_seconds, 0.2, 1e-9, "after flush");
  assert_near (file.events[1].time_seconds, 0.7, 1e-9, "after flush");
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_buffer_parsing_and_sysex)
{
  GstHarness *h = new_harness ();
  /* two note-ons in one buffer with running status, a real-time byte in between */
  gst_harness_push (h, midi_buffer (0.1, { 0x90, 60, 100, 0xF8, 62, 101 }));
  gst_harness_push (h, midi_buffer (0.2, { 0xF0, 0x7E, 0x7F, 0x09, 0x01, 0xF7 }));
  gst_harness_push (
      h, midi_buffer (0.3, { 0xF0, 0x7E, 0x7F, 0x92, 70, 90 })); // unterminated sysex, then a message
  gst_harness_push (h, midi_buffer (0.4, { 0x40, 0x40 }));       // data without status: dropped
  gst_harness_push (h, midi_buffer (0.5, { 0x93, 60 }));         // truncated: dropped
  gst_harness_push (h, midi_buffer (0.6, { 0x94, 0xC0, 10 }));   // bad data byte: dropped
  gst_harness_push (h, midi_buffer (0.7, { 0xF2, 1, 2, 0xF6, 0xC5, 3 })); // system common skipped
  gst_harness_push (h, midi_buffer (0.8, {}));                            // empty buffer
  std::vector<uint8_t> bytes;
  SmfFile file = finish (h, &bytes);
  ck_assert_int_eq (file.track_count, 5); // tempo, System, channels 1, 3, 6
  ck_assert_str_eq (file.track_names[1].c_str (), "System");
  ck_assert_int_eq (file.events.size (), 4);
  ck_assert_int_eq (file.events[0].data1, 60);
  ck_assert_int_eq (file.events[1].data1, 62);
  ck_assert_int_eq (file.events[1].data2, 101);
  ck_assert_int_eq (file.events[2].status, 0x92);
  ck_assert_int_eq (file.events[3].status, 0xC5);
  /* the sysex is in the file */
  const uint8_t sysex[] = { 0xF0, 0x05, 0x7E, 0x7F, 0x09, 0x01, 0xF7 };
  ck_assert (
      std::search (bytes.begin (), bytes.end (), std::begin (sysex), std::end (sysex)) != bytes.end ());
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_empty_stream)
{
  GstHarness *h = new_harness ();
  SmfFile file = finish (h);
  ck_assert_int_eq (file.track_count, 1);
  ck_assert_int_eq (file.events.size (), 0);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_ppq_property)
{
  GstHarness *h = new_harness ();
  g_object_set (h->element, "ppq", 96, NULL);
  gint ppq = 0;
  g_object_get (h->element, "ppq", &ppq, NULL);
  ck_assert_int_eq (ppq, 96);
  gst_harness_push (h, midi_buffer (0.5, { 0x90, 60, 100 }));
  gst_harness_push (h, midi_buffer (0.7523, { 0x80, 60, 0 }));
  SmfFile file = finish (h);
  ck_assert_int_eq (file.ticks_per_quarter, 96);
  assert_near (file.events[0].time_seconds, 0.5, 1e-9, "on");
  assert_near (file.events[1].time_seconds, 0.7523, 0.0025 + 1e-9, "off (5 ms ticks)");
  gst_harness_teardown (h);
}
GST_END_TEST;

/* The generator's path: tokens -> TokenStreamDecoder -> emsyncmidienc -> file = the decoded notes. */
GST_START_TEST (test_token_stream_to_file)
{
  std::mt19937 rng (11);
  std::vector<Note> notes;
  for (int i = 0; i < 200; i++) {
    double start = (rng () % 4000) * 0.005;
    notes.push_back ({ static_cast<Instrument> (rng () % 5), 30 + static_cast<int> (rng () % 60), start,
        start + 0.05 + (rng () % 300) * 0.004, 80 });
  }
  EncodeOptions options;
  options.chord_times = { 1.0, 7.0 };
  std::vector<int> tokens = encode (notes, options);
  TokenStreamDecoder decoder;
  std::vector<MidiEvent> events = decoder.start ();
  for (int t : tokens)
    decoder.push (t, events);
  decoder.flush (decoder.time_seconds () + 1.0, events);

  GstHarness *h = new_harness ();
  for (const MidiEvent &e : events) {
    if (channel_message_data_bytes (e.status) == 1)
      gst_harness_push (h, midi_buffer (e.time_seconds, { e.status, e.data1 }));
    else
      gst_harness_push (h, midi_buffer (e.time_seconds, { e.status, e.data1, e.data2 }));
  }
  std::vector<Note> written = notes_from_smf (finish (h));
  std::vector<Note> expected = decode (tokens);
  ck_assert_int_eq (written.size (), expected.size ());
  auto key = [] (const Note &n) {
    return std::make_tuple (n.start_seconds, instrument_index (n.instrument), n.pitch);
  };
  std::sort (
      written.begin (), written.end (), [&] (const Note &a, const Note &b) { return key (a) < key (b); });
  std::sort (
      expected.begin (), expected.end (), [&] (const Note &a, const Note &b) { return key (a) < key (b); });
  for (size_t i = 0; i < expected.size (); i++) {
    ck_assert (written[i].instrument == expected[i].instrument && written[i].pitch == expected[i].pitch);
    assert_near (written[i].start_seconds, expected[i].start_seconds, 0.0005, "start");
    assert_near (written[i].end_seconds, expected[i].end_seconds, 0.0005, "end");
    ck_assert_int_eq (written[i].velocity, expected[i].velocity);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ---------- interop with upstream midiparse ---------- */

static bool
have_midiparse ()
{
  GstElementFactory *factory = gst_element_factory_find ("midiparse");
  if (!factory) {
    printf ("skipping: midiparse (gstreamer1.0-plugins-bad) is not installed\n");
    return false;
  }
  gst_object_unref (factory);
  return true;
}

/* filesrc ! midiparse ! emsyncmidienc ! filesink; returns the written file. */
static SmfFile
through_midiparse (const std::string &input, const std::string &output)
{
  gchar *description =
      g_strdup_printf ("filesrc location=\"%s\" ! midiparse ! emsyncmidienc ! filesink location=\"%s\"",
          input.c_str (), output.c_str ());
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (description, &error);
  g_free (description);
  ck_assert_msg (pipeline != NULL && error == NULL, "pipeline: %s", error ? error->message : "?");
  ck_assert_int_ne (gst_element_set_state (pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *message = gst_bus_timed_pop_filtered (
      bus, 120 * GST_SECOND, (GstMessageType) (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  ck_assert_msg (message != NULL, "%s: no EOS within 120 s", input.c_str ());
  if (GST_MESSAGE_TYPE (message) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *debug = NULL;
    gst_message_parse_error (message, &err, &debug);
    ck_abort_msg ("%s: pipeline error: %s (%s)", input.c_str (), err->message, debug ? debug : "");
  }
  gst_message_unref (message);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return read_smf_file (output);
}

/* Same notes (per key: sorted starts and ends within 1 ms; velocities) and the same channel messages. */
static void
compare_files (const SmfFile &original, const SmfFile &written, const std::string &name)
{
  ck_assert_msg (original.events.size () == written.events.size (), "%s: %zu channel messages, wrote %zu",
      name.c_str (), original.events.size (), written.events.size ());
  std::vector<Note> a = notes_from_smf (original), b = notes_from_smf (written);
  ck_assert_msg (a.size () == b.size (), "%s: %zu notes, wrote %zu", name.c_str (), a.size (), b.size ());
  std::map<std::tuple<int, int>, std::vector<double>> starts_a, starts_b, ends_a, ends_b;
  std::multiset<std::tuple<int, int, int>> velocities_a, velocities_b;
  for (const Note &n : a) {
    starts_a[{ instrument_index (n.instrument), n.pitch }].push_back (n.start_seconds);
    ends_a[{ instrument_index (n.instrument), n.pitch }].push_back (n.end_seconds);
    velocities_a.insert ({ instrument_index (n.instrument), n.pitch, n.velocity });
  }
  for (const Note &n : b) {
    starts_b[{ instrument_index (n.instrument), n.pitch }].push_back (n.start_seconds);
    ends_b[{ instrument_index (n.instrument), n.pitch }].push_back (n.end_seconds);
    velocities_b.insert ({ instrument_index (n.instrument), n.pitch, n.velocity });
  }
  ck_assert_msg (velocities_a == velocities_b, "%s: velocities or groups differ", name.c_str ());
  double worst = 0.0;
  for (auto &[key, list] : starts_a) {
    auto sa = list, sb = starts_b[key], ea = ends_a[key], eb = ends_b[key];
    std::sort (sa.begin (), sa.end ());
    std::sort (sb.begin (), sb.end ());
    std::sort (ea.begin (), ea.end ());
    std::sort (eb.begin (), eb.end ());
    ck_assert (sa.size () == sb.size () && ea.size () == eb.size ());
    for (size_t i = 0; i < sa.size (); i++)
      worst = std::max ({ worst, std::fabs (sa[i] - sb[i]), std::fabs (ea[i] - eb[i]) });
  }
  printf ("%s: %zu notes, worst time difference %.3f ms\n", name.c_str (), a.size (), worst * 1000);
  ck_assert_msg (worst <= 0.001, "%s: notes moved by %f s", name.c_str (), worst);
}

GST_START_TEST (test_interop_midiparse_generated)
{
  if (!have_midiparse ())
    return;
  gchar *dir = g_dir_make_tmp ("emsync-midienc-XXXXXX", NULL);
  fail_unless (dir != NULL);
  std::string input = std::string (dir) + "/in.mid", output = std::string (dir) + "/out.mid";
  /* five groups, random velocities, 40 s, a 96-ppq file at 100 bpm so times are not on our 1 ms grid */
  std::mt19937 rng (5);
  std::vector<Note> notes;
  for (int i = 0; i < 400; i++) {
    double start = (rng () % 40000) * 0.001;
    Note n{ static_cast<Instrument> (rng () % 5), 30 + static_cast<int> (rng () % 60), start,
      start + 0.05 + (rng () % 2000) * 0.001, 1 + static_cast<int> (rng () % 127) };
    bool clash = false;
    for (const Note &o : notes)
      if (o.instrument == n.instrument && o.pitch == n.pitch && n.start_seconds < o.end_seconds + 0.02
          && o.start_seconds < n.end_seconds + 0.02)
        clash = true;
    if (!clash)
      notes.push_back (n);
  }
  WriteOptions options;
  options.ticks_per_quarter = 96;
  options.microseconds_per_quarter = 600000;
  write_file (input, write_notes_smf (notes, options));
  SmfFile original = read_smf_file (input);
  SmfFile written = through_midiparse (input, output);
  compare_files (original, written, "generated");
  fs::remove_all (dir);
  g_free (dir);
}
GST_END_TEST;

GST_START_TEST (test_interop_midiparse_real)
{
  if (!have_midiparse ())
    return;
  const char *root = std::getenv ("EMSYNC_SHARED_DATA");
  std::error_code ec;
  if (!root || !fs::is_directory (fs::path (root) / "midi", ec)) {
    printf ("skipping: $EMSYNC_SHARED_DATA/midi not available\n");
    return;
  }
  gchar *dir = g_dir_make_tmp ("emsync-midienc-XXXXXX", NULL);
  int tested = 0;
  for (const char *corpus : { "miditok_multitrack", "groove", "debian_free", "pop909" }) {
    fs::path corpus_dir = fs::path (root) / "midi" / corpus;
    if (!fs::is_directory (corpus_dir, ec))
      continue;
    std::vector<std::string> files;
    for (auto &entry : fs::recursive_directory_iterator (corpus_dir))
      if (entry.is_regular_file () && entry.path ().extension () == ".mid")
        files.push_back (entry.path ().string ());
    std::sort (files.begin (), files.end ());
    int from_corpus = 0;
    for (const std::string &path : files) {
      if (from_corpus >= 2)
        break;
      SmfFile original = read_smf_file (path);
      /* midiparse scales every time by the current tempo and has no SMPTE support: one tempo only, metrical,
       * short enough to keep the test quick */
      if (original.ticks_per_quarter == 0 || original.tempo_map.changes ().size () != 1
          || original.duration_seconds > 240.0 || original.events.empty ())
        continue;
      std::string output = std::string (dir) + "/out" + std::to_string (tested) + ".mid";
      compare_files (original, through_midiparse (path, output), path);
      from_corpus++;
      tested++;
    }
  }
  printf ("%d real files through midiparse\n", tested);
  fs::remove_all (dir);
  g_free (dir);
}
GST_END_TEST;

static Suite *
midienc_suite (void)
{
  Suite *s = suite_create ("emsyncmidienc");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 240);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_basic_messages);
  tcase_add_test (tc, test_segment_times);
  tcase_add_test (tc, test_tempo_events_give_the_bars);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_buffer_parsing_and_sysex);
  tcase_add_test (tc, test_empty_stream);
  tcase_add_test (tc, test_ppq_property);
  tcase_add_test (tc, test_token_stream_to_file);
  tcase_add_test (tc, test_interop_midiparse_generated);
  tcase_add_test (tc, test_interop_midiparse_real);
  return s;
}

GST_CHECK_MAIN (midienc);
