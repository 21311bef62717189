/* emsync — emsyncsynth element tests: negotiation, timing, GAP, EOS tail, flush, SoundFont errors, midiparse and
 * an energy/length comparison with upstream fluiddec. Tests that need a General MIDI SoundFont print SKIP and
 * return when none is installed. */
#include <gst/audio/audio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <glib/gstdio.h>

#include <math.h>
#include <string.h>
#include <unistd.h>

static const gchar *const soundfont_candidates[] = {
  "/usr/share/sounds/sf2/TimGM6mb.sf2",
  "/usr/share/sounds/sf2/FluidR3_GM.sf2",
  "/usr/share/sounds/sf2/default-GM.sf2",
  "/usr/share/sounds/sf3/default-GM.sf3",
  "/usr/share/sounds/sf3/MuseScore_General.sf3",
};

/* The SoundFont the tests use, or NULL (and a SKIP note) when none is installed. */
static const gchar *
test_soundfont (void)
{
  const gchar *env = g_getenv ("EMSYNC_SOUNDFONT");
  if (env && g_file_test (env, G_FILE_TEST_IS_REGULAR))
    return env;
  for (guint i = 0; i < G_N_ELEMENTS (soundfont_candidates); i++)
    if (g_file_test (soundfont_candidates[i], G_FILE_TEST_IS_REGULAR))
      return soundfont_candidates[i];
  g_print ("SKIP: no General MIDI SoundFont installed (apt install timgm6mb-soundfont)\n");
  return NULL;
}

/* Declares `name` as the test SoundFont, or ends the test (passing, with a SKIP note) when there is none. */
#define REQUIRE_SOUNDFONT(name)                                                                              \
  const gchar *name = test_soundfont ();                                                                     \
  if (!name)                                                                                                 \
  return

/* A harness around emsyncsynth with the given extra properties and (optionally fixed) downstream caps. */
static GstHarness *
new_synth_harness (const gchar *soundfont, const gchar *props, const gchar *sink_caps)
{
  gchar *desc = g_strdup_printf ("emsyncsynth soundfont=\"%s\" %s", soundfont, props ? props : "");
  GstHarness *h = gst_harness_new_parse (desc);
  g_free (desc);
  if (sink_caps)
    gst_harness_set_sink_caps_str (h, sink_caps);
  gst_harness_set_src_caps_str (h, "audio/x-midi-event");
  return h;
}

static GstFlowReturn
push_midi (GstHarness *h, GstClockTime pts, guint8 b0, guint8 b1, guint8 b2, gsize size)
{
  const guint8 bytes[3] = { b0, b1, b2 };
  GstBuffer *buf = gst_buffer_new_memdup (bytes, size);
  GST_BUFFER_PTS (buf) = pts;
  return gst_harness_push (h, buf);
}

#define push_note_on(h, pts, key, vel) push_midi (h, pts, 0x90, key, vel, 3)
#define push_note_off(h, pts, key) push_midi (h, pts, 0x80, key, 0, 3)
#define push_tick(h, pts) push_midi (h, pts, 0xf9, 0, 0, 1)

/* Ticks every 10 ms in [from, to). */
static void
push_ticks (GstHarness *h, GstClockTime from, GstClockTime to)
{
  for (GstClockTime t = from; t < to; t += 10 * GST_MSECOND)
    fail_unless_equals_int (push_tick (h, t), GST_FLOW_OK);
}

/* Everything the harness received so far, as float samples, with a continuity check on the way. */
typedef struct {
  gint rate;
  GstAudioFormat format;
  GArray *samples; /* float, interleaved stereo */
  GstClockTime first_pts;
  GstClockTime end; /* pts + duration of the last buffer */
  guint64 next_offset;
  guint64 first_offset;
  guint buffers;
  guint discont_buffers;
  gboolean first_discont;
} Output;

static void
output_init (Output *out)
{
  memset (out, 0, sizeof *out);
  out->samples = g_array_new (FALSE, FALSE, sizeof (gfloat));
  out->first_pts = GST_CLOCK_TIME_NONE;
}

static void
output_clear (Output *out)
{
  g_array_unref (out->samples);
}

/* Pulls all pending buffers; checks that timestamps follow the sample count exactly (no drift, no holes). */
static void
output_pull (GstHarness *h, Output *out, gboolean keep_samples)
{
  GstBuffer *buf;
  while ((buf = gst_harness_try_pull (h))) {
    if (out->rate == 0) {
      GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
      GstAudioInfo info;
      fail_unless (caps != NULL);
      fail_unless (gst_audio_info_from_caps (&info, caps));
      out->rate = GST_AUDIO_INFO_RATE (&info);
      out->format = GST_AUDIO_INFO_FORMAT (&info);
      gst_caps_unref (caps);
    }
    const gsize bpf = out->format == GST_AUDIO_FORMAT_S16LE ? 4 : 8;
    const gsize frames = gst_buffer_get_size (buf) / bpf;
    const GstClockTime pts = GST_BUFFER_PTS (buf);
    if (out->buffers == 0) {
      out->first_pts = pts;
      out->first_discont = GST_BUFFER_IS_DISCONT (buf);
      out->next_offset = GST_BUFFER_OFFSET (buf);
      out->first_offset = GST_BUFFER_OFFSET (buf);
    } else {
      fail_unless_equals_uint64 (pts, out->end);
      fail_unless_equals_uint64 (GST_BUFFER_OFFSET (buf), out->next_offset);
    }
    if (GST_BUFFER_IS_DISCONT (buf))
      out->discont_buffers++;
    fail_unless_equals_uint64 (GST_BUFFER_OFFSET_END (buf), GST_BUFFER_OFFSET (buf) + frames);
    /* pts = first pts + offset in samples, computed afresh: rounding never accumulates */
    fail_unless_equals_uint64 (pts - out->first_pts,
        gst_util_uint64_scale_int (GST_BUFFER_OFFSET (buf), GST_SECOND, out->rate)
            - gst_util_uint64_scale_int (out->first_offset, GST_SECOND, out->rate));
    out->end = pts + GST_BUFFER_DURATION (buf);
    out->next_offset = GST_BUFFER_OFFSET_END (buf);
    out->buffers++;
    if (keep_samples) {
      GstMapInfo map;
      fail_unless (gst_buffer_map (buf, &map, GST_MAP_READ));
      for (gsize i = 0; i < frames * 2; i++) {
        gfloat v = out->format == GST_AUDIO_FORMAT_S16LE ? ((const gint16 *) map.data)[i] / 32768.0f
                                                         : ((const gfloat *) map.data)[i];
        g_array_append_val (out->samples, v);
      }
      gst_buffer_unmap (buf, &map);
    }
    gst_buffer_unref (buf);
  }
}

/* Peak and RMS of frames [from, to) of the collected output. */
static gdouble
output_peak (const Output *out, gdouble from_s, gdouble to_s)
{
  gsize from = (gsize) (from_s * out->rate) * 2, to = MIN ((gsize) (to_s * out->rate) * 2, out->samples->len);
  gdouble peak = 0.0;
  for (gsize i = from; i < to; i++)
    peak = MAX (peak, fabs (g_array_index (out->samples, gfloat, i)));
  return peak;
}

static gsize
output_frames (const Output *out)
{
  return out->samples->len / 2;
}

GST_START_TEST (test_properties)
{
  GstElement *synth = gst_element_factory_make ("emsyncsynth", NULL);
  gchar *soundfont = (gchar *) "x";
  gdouble gain;
  gint polyphony;
  gboolean reverb, chorus;
  guint64 tail;
  fail_unless (synth != NULL);
  g_object_get (synth, "soundfont", &soundfont, "gain", &gain, "polyphony", &polyphony, "reverb", &reverb,
      "chorus", &chorus, "tail-duration", &tail, NULL);
  fail_unless (soundfont == NULL);
  fail_unless (gain > 0.19 && gain < 0.21);
  fail_unless_equals_int (polyphony, 256);
  fail_unless (reverb && chorus);
  fail_unless_equals_uint64 (tail, 3 * GST_SECOND);
  g_object_set (synth, "soundfont", "/tmp/x.sf2", "tail-duration", (guint64) GST_SECOND, NULL);
  g_object_get (synth, "soundfont", &soundfont, "tail-duration", &tail, NULL);
  fail_unless_equals_string (soundfont, "/tmp/x.sf2");
  fail_unless_equals_uint64 (tail, GST_SECOND);
  g_free (soundfont);
  gst_object_unref (synth);
}
GST_END_TEST;

static void
check_negotiation (const gchar *soundfont, const gchar *sink_caps, gint want_rate, const gchar *want_format)
{
  GstHarness *h = new_synth_harness (soundfont, "reverb=false chorus=false", sink_caps);
  Output out;
  output_init (&out);
  fail_unless_equals_int (push_note_on (h, 0, 64, 110), GST_FLOW_OK);
  push_ticks (h, 10 * GST_MSECOND, 100 * GST_MSECOND);
  fail_unless_equals_int (push_tick (h, 100 * GST_MSECOND), GST_FLOW_OK);
  output_pull (h, &out, TRUE);

  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  GstStructure *s = gst_caps_get_structure (caps, 0);
  gint rate = 0, channels = 0;
  gst_structure_get_int (s, "rate", &rate);
  gst_structure_get_int (s, "channels", &channels);
  fail_unless_equals_int (rate, want_rate);
  fail_unless_equals_int (channels, 2);
  fail_unless_equals_string (gst_structure_get_string (s, "format"), want_format);
  fail_unless_equals_string (gst_structure_get_string (s, "layout"), "interleaved");
  gst_caps_unref (caps);

  /* exactly 100 ms rendered (the last partial block waits for more input), in blocks of rate/100 frames */
  const guint block = (guint) gst_util_uint64_scale_int_ceil (10 * GST_MSECOND, want_rate, GST_SECOND);
  const guint64 wanted = want_rate / 10;
  fail_unless_equals_uint64 (output_frames (&out), (wanted / block) * block);
  fail_unless (out.first_discont);
  fail_unless_equals_uint64 (out.first_pts, 0);
  fail_unless (output_peak (&out, 0.0, 0.1) > 0.01, "no sound at %d Hz %s", want_rate, want_format);
  output_clear (&out);
  gst_harness_teardown (h);
}

GST_START_TEST (test_negotiation_rates)
{
  REQUIRE_SOUNDFONT (sf);
  const gint rates[] = { 22050, 48000, 96000 };
  const gchar *formats[] = { "F32LE", "S16LE" };
  for (guint r = 0; r < G_N_ELEMENTS (rates); r++)
    for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
      gchar *caps = g_strdup_printf (
          "audio/x-raw, format=%s, rate=%d, channels=2, layout=interleaved", formats[f], rates[r]);
      check_negotiation (sf, caps, rates[r], formats[f]);
      g_free (caps);
    }
}
GST_END_TEST;

GST_START_TEST (test_negotiation_preference)
{
  REQUIRE_SOUNDFONT (sf);
  /* downstream accepts anything: 44100 Hz F32LE */
  check_negotiation (sf, NULL, 44100, "F32LE");
  /* downstream wants S16LE in a range: 44100 Hz S16LE */
  check_negotiation (
      sf, "audio/x-raw, format=S16LE, rate=[8000, 192000], channels=2, layout=interleaved", 44100, "S16LE");
  /* downstream offers both formats at 32 kHz: F32LE */
  check_negotiation (
      sf, "audio/x-raw, format={S16LE, F32LE}, rate=32000, channels=2, layout=interleaved", 32000, "F32LE");
}
GST_END_TEST;

GST_START_TEST (test_negotiation_refused)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, NULL, "audio/x-raw, format=S16LE, rate=8000, channels=2");
  fail_unless_equals_int (push_tick (h, 0), GST_FLOW_NOT_NEGOTIATED);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_note_timing)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, NULL, NULL);
  Output out;
  output_init (&out);
  push_ticks (h, 0, 500 * GST_MSECOND);
  fail_unless_equals_int (push_note_on (h, 500 * GST_MSECOND, 60, 100), GST_FLOW_OK);
  push_ticks (h, 500 * GST_MSECOND, 1000 * GST_MSECOND);
  fail_unless_equals_int (push_note_off (h, 1000 * GST_MSECOND, 60), GST_FLOW_OK);
  push_ticks (h, 1000 * GST_MSECOND, 1500 * GST_MSECOND);
  output_pull (h, &out, TRUE);

  fail_unless_equals_int (out.rate, 44100);
  fail_unless (output_frames (&out) >= 44100 * 14 / 10);
  /* (FluidSynth's reverb adds a DC offset of ~1e-8 against denormals: "silent" means below -120 dBFS) */
  fail_unless (output_peak (&out, 0.0, 0.5) < 1e-6,
      "sound before the note-on: %g (%" G_GSIZE_FORMAT " frames)", output_peak (&out, 0.0, 0.5),
      output_frames (&out));
  fail_unless (output_peak (&out, 0.5, 0.52) > 0.001, "the note does not start at its PTS");
  fail_unless (output_peak (&out, 0.6, 1.0) > 0.01);
  /* sample accuracy: the first non-zero sample is the note-on's sample (or within FluidSynth's 64-frame block) */
  gsize first = 0;
  while (first < out.samples->len && fabsf (g_array_index (out.samples, gfloat, first)) < 1e-6f)
    first++;
  fail_unless (
      first / 2 >= 22050 && first / 2 < 22050 + 64, "first sound at frame %" G_GSIZE_FORMAT, first / 2);
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_unstamped_event_applies_now)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, "reverb=false chorus=false", NULL);
  Output out;
  output_init (&out);
  push_ticks (h, 0, 200 * GST_MSECOND);
  fail_unless_equals_int (push_note_on (h, GST_CLOCK_TIME_NONE, 67, 100), GST_FLOW_OK);
  push_ticks (h, 200 * GST_MSECOND, 400 * GST_MSECOND);
  output_pull (h, &out, TRUE);
  fail_unless (output_peak (&out, 0.0, 0.19) < 1e-6);
  fail_unless (output_peak (&out, 0.2, 0.3) > 0.01);
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_settings_while_playing)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, "reverb=false chorus=false", NULL);
  Output out;
  output_init (&out);
  fail_unless_equals_int (push_note_on (h, 0, 60, 110), GST_FLOW_OK);
  push_ticks (h, 10 * GST_MSECOND, 310 * GST_MSECOND);
  GstElement *synth = gst_harness_find_element (h, "emsyncsynth");
  g_object_set (synth, "gain", 0.0, NULL);
  gst_object_unref (synth);
  push_ticks (h, 310 * GST_MSECOND, 600 * GST_MSECOND);
  output_pull (h, &out, TRUE);
  fail_unless (output_peak (&out, 0.1, 0.3) > 0.01);
  fail_unless (
      output_peak (&out, 0.35, 0.59) < 1e-4, "gain=0 not applied: %f", output_peak (&out, 0.35, 0.59));
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_new_segment_restarts_timeline)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, NULL, NULL);
  Output out;
  output_init (&out);
  push_ticks (h, 0, 110 * GST_MSECOND);
  output_pull (h, &out, FALSE);
  fail_unless_equals_int (out.discont_buffers, 1);
  output_clear (&out);
  /* a non-flushing segment (e.g. a segment seek) at 5 s: audio continues from 5 s, marked DISCONT */
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = segment.time = 5 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  output_init (&out);
  push_ticks (h, 5 * GST_SECOND, 5 * GST_SECOND + 110 * GST_MSECOND);
  output_pull (h, &out, FALSE);
  fail_unless (out.buffers > 0);
  /* the partial block of the old segment is pushed before the new segment: skip it */
  fail_unless_equals_uint64 (out.end, 5 * GST_SECOND + 100 * GST_MSECOND);
  fail_unless (out.discont_buffers >= 1);
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_arbitrary_input)
{
  REQUIRE_SOUNDFONT (sf);
  /* random bytes, empty buffers, running-status data, sysex, missing and backwards timestamps: no crash, and the
   * output stays contiguous */
  GstHarness *h = new_synth_harness (sf, NULL, "audio/x-raw, format=S16LE, rate=22050, channels=2");
  Output out;
  output_init (&out);
  GRand *rand = g_rand_new_with_seed (42);
  GstClockTime pts = 0;
  for (guint i = 0; i < 3000; i++) {
    guint8 bytes[16];
    const guint size = g_rand_int_range (rand, 0, sizeof bytes + 1);
    for (guint j = 0; j < size; j++)
      bytes[j] = (guint8) g_rand_int_range (rand, 0, 256);
    GstBuffer *buf = size ? gst_buffer_new_memdup (bytes, size) : gst_buffer_new ();
    const gint32 kind = g_rand_int_range (rand, 0, 10);
    pts += g_rand_int_range (rand, 0, 20) * GST_MSECOND;
    GST_BUFFER_PTS (buf) = kind == 0    ? GST_CLOCK_TIME_NONE
        : kind == 1 && pts > GST_SECOND ? pts - GST_SECOND
                                        : pts;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    output_pull (h, &out, FALSE);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  output_pull (h, &out, FALSE);
  fail_unless (out.end >= pts);
  g_rand_free (rand);
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_long_stream_no_drift)
{
  REQUIRE_SOUNDFONT (sf);
  /* 22050 Hz: a block (221 frames) is not a whole number of nanoseconds, so any rounding drift would show */
  GstHarness *h = new_synth_harness (sf, "reverb=false chorus=false",
      "audio/x-raw, format=F32LE, rate=22050, channels=2, layout=interleaved");
  Output out;
  output_init (&out);
  const GstClockTime length = 600 * GST_SECOND;
  for (GstClockTime t = 0; t < length; t += 10 * GST_MSECOND) {
    GstFlowReturn ret;
    if (t % (5 * GST_SECOND) == 0)
      ret = push_note_on (h, t, 60 + (gint) ((t / GST_SECOND) % 24), 90);
    else if (t % (5 * GST_SECOND) == GST_SECOND)
      ret = push_note_off (h, t, 60 + (gint) ((t / GST_SECOND - 1) % 24));
    else
      ret = push_tick (h, t);
    fail_unless_equals_int (ret, GST_FLOW_OK);
    output_pull (h, &out, FALSE);
  }
  fail_unless_equals_int (push_tick (h, length), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  output_pull (h, &out, FALSE);
  /* every timestamp was checked against the sample count; the total is exact */
  fail_unless (out.end >= length);
  fail_unless (out.next_offset >= 600 * 22050);
  fail_unless_equals_uint64 (out.end, gst_util_uint64_scale_int (out.next_offset, GST_SECOND, 22050));
  fail_unless_equals_int (out.discont_buffers, 1);
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_gap_advances_time)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, NULL, NULL);
  Output out;
  output_init (&out);
  fail_unless_equals_int (push_note_on (h, 0, 48, 100), GST_FLOW_OK);
  fail_unless_equals_int (push_note_off (h, 200 * GST_MSECOND, 48), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_gap (200 * GST_MSECOND, 1800 * GST_MSECOND)));
  output_pull (h, &out, TRUE);
  /* audio up to 2 s (whole blocks), the released note still ringing into the gap */
  fail_unless_equals_uint64 (output_frames (&out), 2 * 44100);
  fail_unless (output_peak (&out, 0.2, 0.3) > 0.001);
  /* the gap itself is covered by audio, not forwarded */
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_event (h))) {
    fail_if (GST_EVENT_TYPE (ev) == GST_EVENT_GAP);
    gst_event_unref (ev);
  }
  /* the next note lands at 2 s */
  fail_unless_equals_int (push_note_on (h, 2 * GST_SECOND, 72, 100), GST_FLOW_OK);
  push_ticks (h, 2 * GST_SECOND + 10 * GST_MSECOND, 2200 * GST_MSECOND);
  output_pull (h, &out, TRUE);
  fail_unless (output_peak (&out, 2.0, 2.1) > 0.01);
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Renders a note released just before EOS; returns the output length in seconds. */
static gdouble
render_note_then_eos (const gchar *sf, const gchar *props, gboolean release, Output *out)
{
  GstHarness *h = new_synth_harness (sf, props, NULL);
  fail_unless_equals_int (push_note_on (h, 0, 60, 110), GST_FLOW_OK);
  push_ticks (h, 10 * GST_MSECOND, 500 * GST_MSECOND);
  GstFlowReturn ret = release ? push_note_off (h, 500 * GST_MSECOND, 60) : push_tick (h, 500 * GST_MSECOND);
  fail_unless_equals_int (ret, GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  output_pull (h, out, TRUE);
  /* EOS arrives after all the audio */
  gboolean eos = FALSE;
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_event (h))) {
    eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
    gst_event_unref (ev);
  }
  fail_unless (eos);
  gst_harness_teardown (h);
  return (gdouble) output_frames (out) / out->rate;
}

GST_START_TEST (test_eos_renders_tail)
{
  REQUIRE_SOUNDFONT (sf);
  Output out;

  /* released right before EOS: the release and reverb are rendered, then it stops once silent */
  output_init (&out);
  gdouble length = render_note_then_eos (sf, NULL, TRUE, &out);
  fail_unless (length > 0.55 && length < 0.5 + 3.0, "length %f", length);
  fail_unless (output_peak (&out, 0.5, 0.55) > 0.001, "no release tail");
  fail_unless (output_peak (&out, length - 0.01, length) < 1e-3, "tail cut off");
  output_clear (&out);

  /* a note still held: bounded by tail-duration */
  output_init (&out);
  length = render_note_then_eos (sf, "tail-duration=200000000", FALSE, &out);
  fail_unless (length >= 0.7 - 1e-6 && length <= 0.71 + 1e-6, "length %f", length);
  fail_unless (output_peak (&out, 0.6, 0.7) > 0.001);
  output_clear (&out);

  /* tail-duration=0: EOS right after the last event, as fluiddec does */
  output_init (&out);
  length = render_note_then_eos (sf, "tail-duration=0", TRUE, &out);
  fail_unless (fabs (length - 0.5) < 1e-6, "length %f", length);
  output_clear (&out);
}
GST_END_TEST;

GST_START_TEST (test_flush_resets)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, NULL, NULL);
  Output out;
  output_init (&out);
  fail_unless_equals_int (push_note_on (h, 0, 60, 127), GST_FLOW_OK);
  fail_unless_equals_int (push_note_on (h, 0, 64, 127), GST_FLOW_OK);
  push_ticks (h, 10 * GST_MSECOND, 500 * GST_MSECOND);
  output_pull (h, &out, TRUE);
  fail_unless (output_peak (&out, 0.1, 0.4) > 0.01);
  output_clear (&out);

  /* a flushing seek to 10 s: nothing carries over, and the first buffer is DISCONT */
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  segment.start = segment.time = 10 * GST_SECOND;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&segment)));
  output_init (&out);
  push_ticks (h, 10 * GST_SECOND, 11 * GST_SECOND);
  output_pull (h, &out, TRUE);
  fail_unless_equals_uint64 (out.first_pts, 10 * GST_SECOND);
  fail_unless (out.first_discont);
  fail_unless_equals_int (out.discont_buffers, 1);
  fail_unless (output_frames (&out) >= 44100 * 9 / 10);
  fail_unless (
      output_peak (&out, 0.0, 1.0) < 1e-6, "sound carried over the flush: %f", output_peak (&out, 0.0, 1.0));
  output_clear (&out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_latency_query)
{
  REQUIRE_SOUNDFONT (sf);
  GstHarness *h = new_synth_harness (sf, NULL, NULL);
  gst_harness_set_upstream_latency (h, 5 * GST_MSECOND);
  push_ticks (h, 0, 50 * GST_MSECOND);
  /* one 10 ms block (441 frames at 44100 Hz) on top of upstream's */
  fail_unless_equals_uint64 (gst_harness_query_latency (h), 15 * GST_MSECOND);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Posts the error of a failed READY→PAUSED and returns it. */
static GError *
start_and_get_error (const gchar *soundfont)
{
  GstElement *synth = gst_element_factory_make ("emsyncsynth", NULL);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (synth, bus);
  g_object_set (synth, "soundfont", soundfont, NULL);
  fail_unless_equals_int (gst_element_set_state (synth, GST_STATE_PAUSED), GST_STATE_CHANGE_FAILURE);
  GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  GError *err = NULL;
  gchar *debug = NULL;
  gst_message_parse_error (msg, &err, &debug);
  GST_INFO ("error: %s (%s)", err->message, debug);
  g_free (debug);
  gst_message_unref (msg);
  /* the element survives and can go back down */
  fail_unless_equals_int (gst_element_set_state (synth, GST_STATE_NULL), GST_STATE_CHANGE_SUCCESS);
  gst_element_set_bus (synth, NULL);
  gst_object_unref (bus);
  gst_object_unref (synth);
  return err;
}

GST_START_TEST (test_missing_soundfont)
{
  const gchar *path = "/nonexistent/emsync/missing.sf2";
  GError *err = start_and_get_error (path);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_NOT_FOUND), "%s", err->message);
  fail_unless (strstr (err->message, path) != NULL, "message does not name the file: %s", err->message);
  g_error_free (err);
}
GST_END_TEST;

GST_START_TEST (test_corrupt_soundfont)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("emsync-corrupt-XXXXXX.sf2", &path, NULL);
  fail_unless (fd >= 0);
  guint8 garbage[8192];
  for (guint i = 0; i < sizeof garbage; i++)
    garbage[i] = (guint8) (i * 131 + 7);
  fail_unless (write (fd, garbage, sizeof garbage) == sizeof garbage);
  close (fd);
  GError *err = start_and_get_error (path);
  fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ), "%s", err->message);
  fail_unless (strstr (err->message, path) != NULL, "message does not name the file: %s", err->message);
  g_error_free (err);

  /* a SoundFont cut short is reported as damaged too */
  const gchar *sf = test_soundfont ();
  if (sf) {
    gchar *contents = NULL;
    gsize size = 0;
    fail_unless (g_file_get_contents (sf, &contents, &size, NULL));
    fail_unless (g_file_set_contents (path, contents, size / 2, NULL));
    g_free (contents);
    err = start_and_get_error (path);
    fail_unless (g_error_matches (err, GST_RESOURCE_ERROR, GST_RESOURCE_ERROR_OPEN_READ), "%s", err->message);
    fail_unless (strstr (err->message, path) != NULL);
    g_error_free (err);
  }
  g_unlink (path);
  g_free (path);
}
GST_END_TEST;

/* ---- pipelines with upstream midiparse (and fluiddec as the oracle) ---- */

static void
append_varlen (GByteArray *a, guint32 v)
{
  guint8 bytes[5];
  gint n = 0;
  bytes[n++] = v & 0x7f;
  while ((v >>= 7))
    bytes[n++] = (v & 0x7f) | 0x80;
  while (n--)
    g_byte_array_append (a, &bytes[n], 1);
}

static void
append_event (GByteArray *a, guint32 delta, guint8 b0, guint8 b1, guint8 b2, guint size)
{
  const guint8 bytes[3] = { b0, b1, b2 };
  append_varlen (a, delta);
  g_byte_array_append (a, bytes, size);
}

/* A 2-second format-0 SMF (120 bpm, 480 ticks per quarter = 0.5 s): piano arpeggio, strings pad, drums. */
static gchar *
write_test_midi_file (gdouble *duration)
{
  GByteArray *trk = g_byte_array_new ();
  const guint8 tempo[] = { 0x00, 0xff, 0x51, 0x03, 0x07, 0xa1, 0x20 };
  g_byte_array_append (trk, tempo, sizeof tempo);
  append_event (trk, 0, 0xc0, 0, 0, 2);  /* piano */
  append_event (trk, 0, 0xc1, 48, 0, 2); /* strings */
  append_event (trk, 0, 0x91, 48, 80, 3);
  append_event (trk, 0, 0x91, 55, 80, 3);
  const guint8 keys[] = { 60, 64, 67, 72 };
  for (guint i = 0; i < 4; i++) {
    append_event (trk, 0, 0x90, keys[i], 100, 3);
    append_event (trk, 0, 0x99, i % 2 ? 38 : 36, 110, 3);
    append_event (trk, 240, 0x89, i % 2 ? 38 : 36, 0, 3);
    append_event (trk, 240, 0x80, keys[i], 0, 3);
  }
  append_event (trk, 0, 0x81, 48, 0, 3);
  append_event (trk, 0, 0x81, 55, 0, 3);
  const guint8 end[] = { 0x00, 0xff, 0x2f, 0x00 };
  g_byte_array_append (trk, end, sizeof end);

  GByteArray *smf = g_byte_array_new ();
  const guint8 header[] = { 'M', 'T', 'h', 'd', 0, 0, 0, 6, 0, 0, 0, 1, 0x01, 0xe0, 'M', 'T', 'r', 'k' };
  g_byte_array_append (smf, header, sizeof header);
  const guint8 len[] = { (guint8) (trk->len >> 24), (guint8) (trk->len >> 16), (guint8) (trk->len >> 8),
    (guint8) trk->len };
  g_byte_array_append (smf, len, 4);
  g_byte_array_append (smf, trk->data, trk->len);

  gchar *path = NULL;
  gint fd = g_file_open_tmp ("emsync-test-XXXXXX.mid", &path, NULL);
  fail_unless (fd >= 0);
  fail_unless (write (fd, smf->data, smf->len) == (gssize) smf->len);
  close (fd);
  g_byte_array_unref (trk);
  g_byte_array_unref (smf);
  *duration = 2.0;
  return path;
}

typedef struct {
  guint64 frames;
  gdouble sum_squares;
  GstClockTime first_pts;
} Energy;

static void
on_handoff (GstElement *sink, GstBuffer *buf, GstPad *pad, gpointer user_data)
{
  Energy *e = (Energy *) user_data;
  GstMapInfo map;
  if (e->frames == 0)
    e->first_pts = GST_BUFFER_PTS (buf);
  gst_buffer_map (buf, &map, GST_MAP_READ);
  const gfloat *s = (const gfloat *) map.data;
  for (gsize i = 0; i < map.size / sizeof (gfloat); i++)
    e->sum_squares += (gdouble) s[i] * s[i];
  e->frames += map.size / (2 * sizeof (gfloat));
  gst_buffer_unmap (buf, &map);
}

/* Runs `filesrc ! midiparse ! <synth> ! fakesink` to EOS at 44100 Hz F32LE and measures its output. */
static Energy
run_midi_pipeline (const gchar *midi_path, const gchar *synth_desc)
{
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! midiparse ! %s ! "
                                 "audio/x-raw,format=F32LE,rate=44100,channels=2 ! "
                                 "fakesink name=sink sync=false signal-handoffs=true",
      midi_path, synth_desc);
  GError *error = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &error);
  fail_unless (pipeline != NULL && error == NULL, "cannot build %s: %s", desc, error ? error->message : "");
  Energy energy = { 0, 0.0, GST_CLOCK_TIME_NONE };
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_signal_connect (sink, "handoff", G_CALLBACK (on_handoff), &energy);
  gst_object_unref (sink);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, 60 * GST_SECOND, (GstMessageType) (GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
  fail_unless (msg != NULL, "timeout running %s", desc);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    fail ("%s failed: %s", desc, err->message);
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  g_free (desc);
  return energy;
}

/* Whether an upstream element the test needs is there (else a SKIP note). */
static gboolean
element_installed (const gchar *name)
{
  GstElementFactory *factory = gst_element_factory_find (name);
  if (!factory) {
    g_print ("SKIP: %s (gstreamer1.0-plugins-bad) is not installed\n", name);
    return FALSE;
  }
  gst_object_unref (factory);
  return TRUE;
}

GST_START_TEST (test_midiparse_pipeline)
{
  REQUIRE_SOUNDFONT (sf);
  if (!element_installed ("midiparse"))
    return;
  gdouble song = 0;
  gchar *midi = write_test_midi_file (&song);
  gchar *synth = g_strdup_printf ("emsyncsynth soundfont=\"%s\"", sf);
  Energy e = run_midi_pipeline (midi, synth);
  const gdouble length = (gdouble) e.frames / 44100;
  fail_unless_equals_uint64 (e.first_pts, 0);
  fail_unless (length >= song && length <= song + 3.0 + 0.01, "length %f", length);
  fail_unless (sqrt (e.sum_squares / (2.0 * e.frames)) > 0.001);
  g_free (synth);
  g_unlink (midi);
  g_free (midi);
}
GST_END_TEST;

GST_START_TEST (test_fluiddec_oracle)
{
  REQUIRE_SOUNDFONT (sf);
  GstElementFactory *fluiddec = gst_element_factory_find ("fluiddec");
  GstElementFactory *midiparse = gst_element_factory_find ("midiparse");
  if (!fluiddec || !midiparse) {
    g_print ("SKIP: fluiddec/midiparse (gstreamer1.0-plugins-bad) not installed\n");
    if (fluiddec)
      gst_object_unref (fluiddec);
    if (midiparse)
      gst_object_unref (midiparse);
    return;
  }
  gst_object_unref (fluiddec);
  gst_object_unref (midiparse);
  gdouble song = 0;
  gchar *midi = write_test_midi_file (&song);
  const guint64 tail = 3 * GST_SECOND;

  gchar *ours_desc =
      g_strdup_printf ("emsyncsynth soundfont=\"%s\" tail-duration=%" G_GUINT64_FORMAT, sf, tail);
  gchar *theirs_desc = g_strdup_printf ("fluiddec soundfont=\"%s\"", sf);
  Energy ours = run_midi_pipeline (midi, ours_desc);
  Energy theirs = run_midi_pipeline (midi, theirs_desc);

  /* fluiddec stops at the last event (no tail); we continue for at most tail-duration */
  const gdouble ours_s = (gdouble) ours.frames / 44100, theirs_s = (gdouble) theirs.frames / 44100;
  GST_INFO ("emsyncsynth %.3f s RMS %.5f, fluiddec %.3f s RMS %.5f", ours_s,
      sqrt (ours.sum_squares / (2.0 * ours.frames)), theirs_s,
      sqrt (theirs.sum_squares / (2.0 * theirs.frames)));
  fail_unless (fabs (theirs_s - song) < 0.02, "fluiddec rendered %f s", theirs_s);
  fail_unless (ours_s >= theirs_s - 0.01 && ours_s <= theirs_s + 3.0 + 0.02,
      "emsyncsynth %f s vs fluiddec %f s", ours_s, theirs_s);
  /* same SoundFont, same defaults: the energies agree (ours adds only the quiet tail, so compare totals over the
   * song and allow 0.5x-2x for the tail and effects) */
  const gdouble ours_rms = sqrt (ours.sum_squares / (2.0 * theirs.frames));
  const gdouble theirs_rms = sqrt (theirs.sum_squares / (2.0 * theirs.frames));
  fail_unless (theirs_rms > 0.001);
  fail_unless (ours_rms > 0.5 * theirs_rms && ours_rms < 2.0 * theirs_rms, "RMS %f vs fluiddec %f", ours_rms,
      theirs_rms);
  g_free (ours_desc);
  g_free (theirs_desc);
  g_unlink (midi);
  g_free (midi);
}
GST_END_TEST;

/* fluiddec's property names set the same settings: a launch line written for fluiddec works with emsyncsynth and
 * renders with those settings (gain 0.6 against the default 0.2 is about 3x the RMS, as it is for fluiddec). */
GST_START_TEST (test_fluiddec_property_names)
{
  REQUIRE_SOUNDFONT (sf);
  GstElement *synth = gst_element_factory_make ("emsyncsynth", NULL);
  g_object_set (
      synth, "synth-gain", 0.6, "synth-polyphony", 64, "synth-reverb", FALSE, "synth-chorus", FALSE, NULL);
  gdouble gain = 0, synth_gain = 0;
  gint polyphony = 0;
  gboolean reverb = TRUE, chorus = TRUE;
  g_object_get (synth, "gain", &gain, "polyphony", &polyphony, "reverb", &reverb, "chorus", &chorus, NULL);
  fail_unless (fabs (gain - 0.6) < 1e-9, "gain %f after synth-gain=0.6", gain);
  fail_unless_equals_int (polyphony, 64);
  fail_unless (!reverb && !chorus);
  g_object_set (synth, "gain", 0.3, NULL);
  g_object_get (synth, "synth-gain", &synth_gain, NULL);
  fail_unless (fabs (synth_gain - 0.3) < 1e-9, "synth-gain %f after gain=0.3", synth_gain);
  gst_object_unref (synth);

  if (!element_installed ("midiparse"))
    return;
  gdouble song = 0;
  gchar *midi = write_test_midi_file (&song);
  const gchar *line =
      "soundfont=\"%s\" synth-gain=%s synth-polyphony=64 synth-reverb=false synth-chorus=false";
  gchar *quiet_props = g_strdup_printf (line, sf, "0.2");
  gchar *loud_props = g_strdup_printf (line, sf, "0.6");
  gchar *quiet_desc = g_strconcat ("emsyncsynth ", quiet_props, NULL);
  gchar *loud_desc = g_strconcat ("emsyncsynth ", loud_props, NULL);
  Energy quiet = run_midi_pipeline (midi, quiet_desc);
  Energy loud = run_midi_pipeline (midi, loud_desc);
  const gdouble ratio = sqrt (loud.sum_squares / loud.frames) / sqrt (quiet.sum_squares / quiet.frames);
  fail_unless (ratio > 2.5 && ratio < 3.5, "synth-gain 0.6 / 0.2: RMS ratio %f", ratio);
  if (element_installed ("fluiddec")) {
    gchar *theirs_desc = g_strconcat ("fluiddec ", loud_props, NULL);
    Energy theirs = run_midi_pipeline (midi, theirs_desc);
    const gdouble ours_rms = sqrt (loud.sum_squares / (2.0 * theirs.frames));
    const gdouble theirs_rms = sqrt (theirs.sum_squares / (2.0 * theirs.frames));
    fail_unless (ours_rms > 0.5 * theirs_rms && ours_rms < 2.0 * theirs_rms, "RMS %f vs fluiddec %f",
        ours_rms, theirs_rms);
    g_free (theirs_desc);
  }
  g_free (quiet_props);
  g_free (loud_props);
  g_free (quiet_desc);
  g_free (loud_desc);
  g_unlink (midi);
  g_free (midi);
}
GST_END_TEST;

static Suite *
emsyncsynth_suite (void)
{
  Suite *s = suite_create ("emsyncsynth");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_negotiation_rates);
  tcase_add_test (tc, test_negotiation_preference);
  tcase_add_test (tc, test_negotiation_refused);
  tcase_add_test (tc, test_note_timing);
  tcase_add_test (tc, test_unstamped_event_applies_now);
  tcase_add_test (tc, test_settings_while_playing);
  tcase_add_test (tc, test_new_segment_restarts_timeline);
  tcase_add_test (tc, test_arbitrary_input);
  tcase_add_test (tc, test_long_stream_no_drift);
  tcase_add_test (tc, test_gap_advances_time);
  tcase_add_test (tc, test_eos_renders_tail);
  tcase_add_test (tc, test_flush_resets);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_missing_soundfont);
  tcase_add_test (tc, test_corrupt_soundfont);
  tcase_add_test (tc, test_midiparse_pipeline);
  tcase_add_test (tc, test_fluiddec_oracle);
  tcase_add_test (tc, test_fluiddec_property_names);
  return s;
}

GST_CHECK_MAIN (emsyncsynth);
