/* emsyncmidigen: MIDI out of video timing, chords on cuts (sync=hard), lookahead latency, EOS drain,
 * flush, the output segment after seeks, reproducible seeds, model errors, emsyncbin's forwarded properties.
 * Uses the tiny random generator in tests/data. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include <gst/app/gstappsink.h>
#include <glib/gstdio.h>
#include <math.h>

#include "gst/emsync.h"

#define FPS 25
#define FRAME_NS (GST_SECOND / FPS)

static gchar *
tiny_model (void)
{
  return g_build_filename (EMSYNC_TEST_DATA, "tiny_generator.pt", NULL);
}

/* emotion_guidance < 0: leave the emotion properties at their defaults. */
static GstHarness *
make_harness_full (const gchar *model, guint64 seed, const gchar *sync, gdouble emotion_guidance)
{
  GstElement *e = gst_element_factory_make ("emsyncmidigen", NULL);
  fail_unless (e != NULL);
  gst_util_set_object_arg (G_OBJECT (e), "sync", sync);
  g_object_set (e, "model-file", model, "seed", seed, "lookahead", (guint64) 2 * GST_SECOND, NULL);
  if (emotion_guidance >= 0)
    g_object_set (e, "emotion-guidance", emotion_guidance, "valence", 0.7, "arousal", 0.7, NULL);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=GRAY8,width=16,height=16,framerate=25/1");
  return h;
}

static GstHarness *
make_harness (const gchar *model, guint64 seed, const gchar *sync)
{
  return make_harness_full (model, seed, sync, -1.0);
}

static void
push_frames (GstHarness *h, guint first, guint count, const guint *cut_frames, guint n_cuts)
{
  for (guint i = first; i < first + count; i++) {
    for (guint c = 0; c < n_cuts; c++) {
      if (cut_frames[c] == i) {
        EmsyncSceneCut cut = { i * FRAME_NS, i * FRAME_NS, i * FRAME_NS, 1.0, EMSYNC_CUT_KIND_CUT, c + 1 };
        fail_unless (gst_harness_push_event (h, emsync_scene_cut_event_new (&cut)));
      }
    }
    GstBuffer *buf = gst_harness_create_buffer (h, 16 * 16);
    gst_buffer_memset (buf, 0, (guint8) i, 16 * 16);
    GST_BUFFER_PTS (buf) = i * FRAME_NS;
    GST_BUFFER_DURATION (buf) = FRAME_NS;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
}

typedef struct {
  GstClockTime pts;
  guint8 bytes[3];
  gsize size;
} Msg;

/* Pulls every buffer up to EOS (the harness queues events and buffers separately: once EOS arrived,
 * every buffer pushed before it is already queued); the last segment and the bar lines of "emsync-tempo"
 * events go to last_segment and tempo_pts when given. */
static GArray *
pull_all_full (GstHarness *h, GstSegment *last_segment, GArray *tempo_pts)
{
  GArray *msgs = g_array_new (FALSE, TRUE, sizeof (Msg));
  gboolean eos = FALSE;
  while (!eos) {
    GstEvent *ev;
    while ((ev = gst_harness_try_pull_event (h))) {
      eos |= GST_EVENT_TYPE (ev) == GST_EVENT_EOS;
      if (last_segment && GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT)
        gst_event_copy_segment (ev, last_segment);
      GstClockTime pts;
      EmsyncTempoBar bar;
      if (tempo_pts && emsync_tempo_event_parse (ev, &pts, &bar)) {
        fail_unless_equals_int (bar.index, tempo_pts->len);
        g_array_append_val (tempo_pts, pts);
      }
      gst_event_unref (ev);
    }
    GstBuffer *buf;
    gboolean got = FALSE;
    while ((buf = gst_harness_try_pull (h))) {
      Msg m = { GST_BUFFER_PTS (buf), { 0, 0, 0 }, 0 };
      m.size = gst_buffer_extract (buf, 0, m.bytes, 3);
      g_array_append_val (msgs, m);
      gst_buffer_unref (buf);
      got = TRUE;
    }
    if (!got && !eos)
      g_usleep (1000);
  }
  return msgs;
}

static GArray *
pull_all (GstHarness *h)
{
  return pull_all_full (h, NULL, NULL);
}

/* Drops every buffer and event the harness holds. */
static void
drain (GstHarness *h)
{
  GstBuffer *b;
  while ((b = gst_harness_try_pull (h)))
    gst_buffer_unref (b);
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_event (h)))
    gst_event_unref (ev);
}

static void
push_segment (GstHarness *h, GstClockTime start, GstClockTime base)
{
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  seg.start = seg.time = seg.position = start;
  seg.base = base;
  fail_unless (gst_harness_push_event (h, gst_event_new_segment (&seg)));
}

static guint
count_onsets_near (GArray *msgs, GstClockTime t, GstClockTime tolerance)
{
  guint n = 0;
  for (guint i = 0; i < msgs->len; i++) {
    Msg *m = &g_array_index (msgs, Msg, i);
    gboolean on = (m->bytes[0] & 0xF0) == 0x90 && m->bytes[2] > 0 && (m->bytes[0] & 0x0F) != 9;
    GstClockTimeDiff d = GST_CLOCK_DIFF (t, m->pts);
    if (on && ABS (d) <= (GstClockTimeDiff) tolerance)
      n++;
  }
  return n;
}

GST_START_TEST (test_hard_sync_chords_on_cuts_and_drain)
{
  gchar *model = tiny_model ();
  GstHarness *h = make_harness (model, 3, "hard");
  const guint cuts[] = { 30, 150, 260 }; /* 1.2 s, 6.0 s, 10.4 s */
  push_frames (h, 0, 300, cuts, 3);      /* 12 s of video */
  gst_harness_push_event (h, gst_event_new_eos ());
  GArray *msgs = pull_all (h);

  fail_unless (msgs->len > 100);
  GstClockTime last = 0, last_tick = GST_CLOCK_TIME_NONE;
  guint on = 0, off = 0, ticks = 0;
  for (guint i = 0; i < msgs->len; i++) {
    Msg *m = &g_array_index (msgs, Msg, i);
    fail_unless (GST_CLOCK_TIME_IS_VALID (m->pts));
    fail_unless (m->pts >= last, "timestamps go backwards");
    last = m->pts;
    if (m->bytes[0] == 0xF9) {
      if (GST_CLOCK_TIME_IS_VALID (last_tick))
        fail_unless (m->pts - last_tick <= 10 * GST_MSECOND + GST_USECOND);
      last_tick = m->pts;
      ticks++;
    } else if ((m->bytes[0] & 0xF0) == 0x90 && m->bytes[2] > 0) {
      on++;
    } else if ((m->bytes[0] & 0xF0) == 0x80 || (m->bytes[0] & 0xF0) == 0x90) {
      off++;
    }
  }
  /* Music covers the whole video (12 s), every note is released, ticks every 10 ms. */
  fail_unless (
      last >= 12 * GST_SECOND - 20 * GST_MSECOND, "music ends at %" GST_TIME_FORMAT, GST_TIME_ARGS (last));
  fail_unless (ticks >= 1190);
  fail_unless (on > 0);
  fail_unless_equals_int (on, off);
  /* A chord (>= 3 pitched onsets) within 40 ms of each cut. */
  for (guint c = 0; c < 3; c++)
    fail_unless (
        count_onsets_near (msgs, cuts[c] * FRAME_NS, 40 * GST_MSECOND) >= 3, "no chord at cut %u", c);
  g_array_unref (msgs);
  gst_harness_teardown (h);
  g_free (model);
}
GST_END_TEST;

/* emsyncmidigen (tiny model, sync=hard, seed 3) with the default lookahead (make_harness's is 2 s), on 25 fps
 * video, its messages on a bus of their own. */
static GstHarness *
tempo_harness (GstBus **bus)
{
  gchar *model = tiny_model ();
  GstElement *e = gst_element_factory_make ("emsyncmidigen", NULL);
  fail_unless (e != NULL);
  gst_util_set_object_arg (G_OBJECT (e), "sync", "hard");
  g_object_set (e, "model-file", model, "seed", (guint64) 3, NULL);
  g_free (model);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=GRAY8,width=16,height=16,framerate=25/1");
  *bus = gst_bus_new ();
  gst_element_set_bus (h->element, *bus);
  return h;
}

static void
tempo_harness_teardown (GstHarness *h, GstBus *bus)
{
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}

/* The tempo map on the bus: one "emsync-tempo" message per bar, in order, from 0 up to the end of the video, with
 * a bar line on the kept cut (sync=hard). */
GST_START_TEST (test_tempo_messages)
{
  /* The default lookahead: the cut is known long enough ahead for the tempo to reach it. */
  GstBus *bus;
  GstHarness *h = tempo_harness (&bus);
  const guint cuts[] = { 100 };     /* 4 s */
  push_frames (h, 0, 250, cuts, 1); /* 10 s of video */
  gst_harness_push_event (h, gst_event_new_eos ());
  /* the same bars travel downstream as "emsync-tempo" events (for emsyncmidienc's tempo track) */
  GArray *event_pts = g_array_new (FALSE, FALSE, sizeof (GstClockTime));
  g_array_unref (pull_all_full (h, NULL, event_pts));
  guint bars = 0;
  gboolean bar_on_cut = FALSE;
  GstClockTime last = 0;
  GstMessage *m;
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    EmsyncTempoBar bar;
    if (emsync_tempo_message_parse (m, &bar)) {
      fail_unless_equals_int (bar.index, bars);
      fail_unless (bars == 0 ? bar.stream_time == 0 : bar.stream_time > last);
      fail_unless (bar.stream_time < 10 * GST_SECOND);
      const gdouble bpm = 60.0 * GST_SECOND / bar.beat_duration;
      fail_unless (bpm >= 60.0 && bpm <= 150.0, "%f bpm", bpm);
      fail_unless (bar.beats >= 1 && bar.beats <= 4);
      fail_unless (bars < event_pts->len && g_array_index (event_pts, GstClockTime, bars) == bar.stream_time,
          "bar %u: no event at its time", bars);
      if (bar.on_cut)
        bar_on_cut = bar_on_cut
            || (bar.stream_time > 4 * GST_SECOND - 20 * GST_MSECOND
                && bar.stream_time < 4 * GST_SECOND + 20 * GST_MSECOND);
      last = bar.stream_time;
      bars++;
    }
    gst_message_unref (m);
  }
  /* 10 s at 60-150 bpm in 4/4: 3 to 7 bars. */
  fail_unless (bars >= 3 && bars <= 7, "%u bars", bars);
  fail_unless (bar_on_cut, "no bar line on the cut at 4 s");
  fail_unless_equals_int (event_pts->len, bars);
  g_array_unref (event_pts);
  tempo_harness_teardown (h, bus);
}
GST_END_TEST;

/* A cut's meta rides on the frame released when the detector decided (for a fade up to a second after the cut
 * its event announced): it is the same cut, not a second one. A meta without an event marks the middle of its
 * transition. Seen in the tempo map: bar lines on cuts at 2 s and 8 s, none at the meta's frame (6.2 s). */
GST_START_TEST (test_cut_meta_after_its_event)
{
  GstBus *bus;
  GstHarness *h = tempo_harness (&bus);
  for (guint i = 0; i < 250; i++) {
    if (i == 50) {
      EmsyncSceneCut cut = { i * FRAME_NS, i * FRAME_NS, i * FRAME_NS, 1.0, EMSYNC_CUT_KIND_FADE, 1 };
      fail_unless (gst_harness_push_event (h, emsync_scene_cut_event_new (&cut)));
    }
    GstBuffer *buf = gst_harness_create_buffer (h, 16 * 16);
    gst_buffer_memset (buf, 0, (guint8) i, 16 * 16);
    GST_BUFFER_PTS (buf) = i * FRAME_NS;
    GST_BUFFER_DURATION (buf) = FRAME_NS;
    if (i == 155) /* the event's cut, decided 4.2 s later */
      emsync_buffer_add_scene_cut_meta (buf, 1.0, EMSYNC_CUT_KIND_FADE, 1, 48 * FRAME_NS, 52 * FRAME_NS);
    if (i == 205) /* a cut known only from its meta: the middle of 7.9-8.1 s */
      emsync_buffer_add_scene_cut_meta (
          buf, 1.0, EMSYNC_CUT_KIND_DISSOLVE, 2, 7900 * GST_MSECOND, 8100 * GST_MSECOND);
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  }
  gst_harness_push_event (h, gst_event_new_eos ());
  g_array_unref (pull_all (h));
  gboolean at_2 = FALSE, at_8 = FALSE;
  GstMessage *m;
  while ((m = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    EmsyncTempoBar bar;
    if (emsync_tempo_message_parse (m, &bar) && bar.on_cut) {
      const gdouble t = (gdouble) bar.stream_time / GST_SECOND;
      fail_if (t > 5.5 && t < 7.0, "a bar line on a cut at %.3f s (the meta's frame)", t);
      at_2 = at_2 || fabs (t - 2.0) < 0.02;
      at_8 = at_8 || fabs (t - 8.0) < 0.02;
    }
    gst_message_unref (m);
  }
  fail_unless (at_2, "no bar line on the cut at 2 s");
  fail_unless (at_8, "no bar line on the meta's cut at 8 s");
  tempo_harness_teardown (h, bus);
}
GST_END_TEST;

static GArray *
run_guided (guint64 seed, gdouble guidance)
{
  gchar *model = tiny_model ();
  GstHarness *h = make_harness_full (model, seed, "soft", guidance);
  push_frames (h, 0, 100, NULL, 0);
  gst_harness_push_event (h, gst_event_new_eos ());
  GArray *msgs = pull_all (h);
  gst_harness_teardown (h);
  g_free (model);
  return msgs;
}

static gboolean
same_messages (GArray *a, GArray *b)
{
  if (a->len != b->len)
    return FALSE;
  for (guint i = 0; i < a->len; i++) {
    Msg *x = &g_array_index (a, Msg, i), *y = &g_array_index (b, Msg, i);
    if (x->pts != y->pts || x->size != y->size || memcmp (x->bytes, y->bytes, x->size) != 0)
      return FALSE;
  }
  return TRUE;
}

static GArray *
run_once (guint64 seed)
{
  return run_guided (seed, -1.0);
}

GST_START_TEST (test_seed_reproducible)
{
  GArray *a = run_once (7), *b = run_once (7), *c = run_once (8);
  fail_unless (same_messages (a, b));
  fail_if (same_messages (a, c));
  g_array_unref (a);
  g_array_unref (b);
  g_array_unref (c);
}
GST_END_TEST;

/* emotion-guidance reaches the composer: same seed, different music; still reproducible. */
GST_START_TEST (test_emotion_guidance_property)
{
  GArray *plain = run_guided (7, 0.0), *a = run_guided (7, 1.5), *b = run_guided (7, 1.5);
  fail_unless (plain->len > 0 && a->len > 0);
  fail_if (same_messages (plain, a));
  fail_unless (same_messages (a, b));
  g_array_unref (plain);
  g_array_unref (a);
  g_array_unref (b);
}
GST_END_TEST;

/* 100 frames through an element whose properties are set in the order given ("name=value" strings). */
static GArray *
run_with_args (const gchar *const *args)
{
  gchar *model = tiny_model ();
  GstElement *e = gst_element_factory_make ("emsyncmidigen", NULL);
  g_object_set (e, "model-file", model, "seed", (guint64) 7, "lookahead", (guint64) 2 * GST_SECOND, NULL);
  for (; *args; args++) {
    gchar **kv = g_strsplit (*args, "=", 2);
    gst_util_set_object_arg (G_OBJECT (e), kv[0], kv[1]);
    g_strfreev (kv);
  }
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=GRAY8,width=16,height=16,framerate=25/1");
  const guint cuts[] = { 40 };
  push_frames (h, 0, 100, cuts, 1);
  gst_harness_push_event (h, gst_event_new_eos ());
  GArray *msgs = pull_all (h);
  gst_harness_teardown (h);
  g_free (model);
  return msgs;
}

static gint
enum_prop (GstElement *e, const gchar *name)
{
  gint v = -1;
  g_object_get (e, name, &v, NULL);
  return v;
}

/* preset=reference loads EMSYNC's options (soft sync, no density or mode control); properties set explicitly
 * override it whether they were set before or after it; preset=shipped restores the shipped values. */
GST_START_TEST (test_preset_property)
{
  GstElement *e = gst_element_factory_make ("emsyncmidigen", NULL);
  gst_util_set_object_arg (G_OBJECT (e), "preset", "reference");
  gdouble density = -1, mode = -1;
  g_object_get (e, "density-control", &density, "mode-control", &mode, NULL);
  fail_unless (enum_prop (e, "sync") == 1 && density == 0.0 && mode == 0.0,
      "reference: sync %d, density %g, mode %g", enum_prop (e, "sync"), density, mode);
  gst_util_set_object_arg (G_OBJECT (e), "preset", "shipped");
  g_object_get (e, "density-control", &density, NULL);
  fail_unless (enum_prop (e, "sync") == 0 && density > 0.0);
  gst_object_unref (e);

  e = gst_element_factory_make ("emsyncmidigen", NULL);
  gst_util_set_object_arg (G_OBJECT (e), "sync", "hard");
  gst_util_set_object_arg (G_OBJECT (e), "preset", "reference");
  g_object_get (e, "density-control", &density, NULL);
  fail_unless (enum_prop (e, "sync") == 0 && density == 0.0, "sync set before the preset must stay hard");
  gst_object_unref (e);

  /* The music: the preset with its own values given again, in either order, is the preset; it is not the shipped
   * music, and an explicit override changes it. */
  const gchar *ref[] = { "preset=reference", NULL };
  const gchar *before[] = { "sync=soft", "density-control=0", "mode-control=0", "preset=reference", NULL };
  const gchar *after[] = { "preset=reference", "sync=soft", "density-control=0", "mode-control=0", NULL };
  const gchar *shipped[] = { "sync=soft", "density-control=0", "mode-control=0", NULL };
  const gchar *hard[] = { "preset=reference", "sync=hard", NULL };
  GArray *r = run_with_args (ref), *b = run_with_args (before), *a = run_with_args (after);
  GArray *sh = run_with_args (shipped), *hd = run_with_args (hard);
  fail_unless (r->len > 0);
  fail_unless (same_messages (r, b) && same_messages (r, a), "the preset's own values changed its music");
  fail_if (same_messages (r, sh), "preset=reference composed the shipped procedure");
  fail_if (same_messages (r, hd), "sync=hard did not override the preset");
  g_array_unref (r);
  g_array_unref (b);
  g_array_unref (a);
  g_array_unref (sh);
  g_array_unref (hd);
}
GST_END_TEST;

/* Counts the note-ons of `msgs` whose velocity is not EMSYNC's fixed 80/120, and those off the 8 ms step. */
static void
count_played_notes (GArray *msgs, guint *ons, guint *other_velocity, guint *off_step)
{
  *ons = *other_velocity = *off_step = 0;
  for (guint i = 0; i < msgs->len; i++) {
    Msg *m = &g_array_index (msgs, Msg, i);
    if (m->size != 3 || (m->bytes[0] & 0xF0) != 0x90 || m->bytes[2] == 0)
      continue;
    (*ons)++;
    if (m->bytes[2] != 80 && m->bytes[2] != 120)
      (*other_velocity)++;
    if (m->pts % (8 * GST_MSECOND) != 0)
      (*off_step)++;
  }
}

/* timing, humanize and ending: the shipped values by default, EMSYNC's with preset=reference; humanize=false
 * plays the fixed velocities with every onset on its 8 ms step, and the default does not. */
GST_START_TEST (test_note_level_properties)
{
  GstElement *e = gst_element_factory_make ("emsyncmidigen", NULL);
  gboolean humanize = FALSE, ending = FALSE;
  g_object_get (e, "humanize", &humanize, "ending", &ending, NULL);
  fail_unless (enum_prop (e, "timing") == 0 && humanize && ending, "shipped: grid timing, humanize, ending");
  gst_util_set_object_arg (G_OBJECT (e), "preset", "reference");
  g_object_get (e, "humanize", &humanize, "ending", &ending, NULL);
  fail_unless (
      enum_prop (e, "timing") == 1 && !humanize && !ending, "reference: free timing, no humanize/ending");
  gst_object_unref (e);

  const gchar *shipped[] = { NULL };
  const gchar *plain[] = { "humanize=false", NULL };
  GArray *a = run_with_args (shipped), *b = run_with_args (plain);
  guint ons, velocity, off_step;
  count_played_notes (a, &ons, &velocity, &off_step);
  fail_unless (ons > 10 && velocity > ons / 2 && off_step > ons / 4,
      "humanized: %u of %u note-ons with a played velocity, %u off the step", velocity, ons, off_step);
  count_played_notes (b, &ons, &velocity, &off_step);
  fail_unless (ons > 10 && velocity == 0 && off_step == 0,
      "humanize=false: %u of %u note-ons with another velocity, %u off the step", velocity, ons, off_step);
  g_array_unref (a);
  g_array_unref (b);
}
GST_END_TEST;

/* emsyncbin's generator properties are emsyncmidigen's: equal pspecs (type, nick, blurb, range, default,
 * flags), and a value set on the bin is the child's. */
static void
check_same_pspec (GParamSpec *outer, GParamSpec *inner)
{
  const gchar *name = g_param_spec_get_name (inner);
  fail_unless (outer != NULL, "emsyncbin lacks %s", name);
  fail_unless (G_PARAM_SPEC_TYPE (outer) == G_PARAM_SPEC_TYPE (inner), "%s: pspec type", name);
  fail_unless (outer->value_type == inner->value_type, "%s: value type", name);
  fail_unless_equals_string (g_param_spec_get_nick (outer), g_param_spec_get_nick (inner));
  fail_unless_equals_string (g_param_spec_get_blurb (outer), g_param_spec_get_blurb (inner));
  fail_unless (outer->flags == inner->flags, "%s: flags", name);
  fail_unless (g_param_values_cmp (
                   inner, g_param_spec_get_default_value (outer), g_param_spec_get_default_value (inner))
          == 0,
      "%s: default", name);
  if (G_IS_PARAM_SPEC_DOUBLE (inner)) {
    GParamSpecDouble *o = G_PARAM_SPEC_DOUBLE (outer), *i = G_PARAM_SPEC_DOUBLE (inner);
    fail_unless (o->minimum == i->minimum && o->maximum == i->maximum, "%s: range", name);
  } else if (G_IS_PARAM_SPEC_UINT64 (inner)) {
    GParamSpecUInt64 *o = G_PARAM_SPEC_UINT64 (outer), *i = G_PARAM_SPEC_UINT64 (inner);
    fail_unless (o->minimum == i->minimum && o->maximum == i->maximum, "%s: range", name);
  }
}

GST_START_TEST (test_bin_forwards_generator_properties)
{
  GstElement *bin = gst_element_factory_make ("emsyncbin", NULL);
  fail_unless (bin != NULL);
  GstElement *gen = gst_bin_get_by_name (GST_BIN (bin), "midigen");
  fail_unless (gen != NULL);
  const gchar *forwarded[] = { "model", "model-file", "lookahead", "min-boundary-gap", "sync", "seed",
    "instruments", "valence", "arousal", "density-control", "mode-control", "emotion-guidance", "preset" };
  for (guint i = 0; i < G_N_ELEMENTS (forwarded); i++) {
    GParamSpec *inner = g_object_class_find_property (G_OBJECT_GET_CLASS (gen), forwarded[i]);
    fail_unless (inner != NULL, "emsyncmidigen lacks %s", forwarded[i]);
    check_same_pspec (g_object_class_find_property (G_OBJECT_GET_CLASS (bin), forwarded[i]), inner);
  }
  const gchar *names[] = { "density-control", "mode-control", "emotion-guidance" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++) {
    const gdouble want = 0.25 + i;
    g_object_set (bin, names[i], want, NULL);
    gdouble in_child = -1.0, in_bin = -1.0;
    g_object_get (gen, names[i], &in_child, NULL);
    g_object_get (bin, names[i], &in_bin, NULL);
    fail_unless (in_child == want && in_bin == want, "%s: child %g, bin %g", names[i], in_child, in_bin);
  }
  gst_util_set_object_arg (G_OBJECT (bin), "model", "tiny");
  GParamSpecEnum *model =
      G_PARAM_SPEC_ENUM (g_object_class_find_property (G_OBJECT_GET_CLASS (gen), "model"));
  gint in_child = -1;
  g_object_get (gen, "model", &in_child, NULL);
  fail_unless (in_child == g_enum_get_value_by_nick (model->enum_class, "tiny")->value);
  gst_util_set_object_arg (G_OBJECT (bin), "preset", "reference");
  fail_unless (
      enum_prop (gen, "preset") == 1 && enum_prop (gen, "sync") == 1, "the bin's preset reaches the child");
  gst_util_set_object_arg (G_OBJECT (bin), "preset", "shipped");
  g_object_set (bin, "lookahead", (guint64) 3 * GST_SECOND, NULL);
  guint64 lookahead = 0;
  g_object_get (gen, "lookahead", &lookahead, NULL);
  fail_unless_equals_uint64 (lookahead, 3 * GST_SECOND);
  gst_object_unref (gen);
  gst_object_unref (bin);
}
GST_END_TEST;

/* The pspec defaults are the shipped generator settings (lib/music's ComposerOptions). */
GST_START_TEST (test_shipped_defaults)
{
  GstElement *gen = gst_element_factory_make ("emsyncmidigen", NULL);
  gdouble temperature, top_p, density, mode, guidance;
  guint64 gap;
  gint threads;
  g_object_get (gen, "temperature", &temperature, "top-p", &top_p, "density-control", &density,
      "mode-control", &mode, "emotion-guidance", &guidance, "min-boundary-gap", &gap, "threads", &threads,
      NULL);
  fail_unless (fabs (temperature - 1.35) < 1e-6 && fabs (top_p - 0.6) < 1e-6, "%g %g", temperature, top_p);
  fail_unless (density == 5.0 && mode == 1.5 && guidance == 0.0, "%g %g %g", density, mode, guidance);
  fail_unless_equals_uint64 (gap, 4 * GST_SECOND);
  fail_unless_equals_int (threads, 1);
  gint sync = -1;
  g_object_get (gen, "sync", &sync, NULL);
  GParamSpecEnum *sync_spec =
      G_PARAM_SPEC_ENUM (g_object_class_find_property (G_OBJECT_GET_CLASS (gen), "sync"));
  fail_unless_equals_string (g_enum_get_value (sync_spec->enum_class, sync)->value_nick, "hard");
  gst_object_unref (gen);
}
GST_END_TEST;

GST_START_TEST (test_latency_is_lookahead)
{
  gchar *model = tiny_model ();
  GstHarness *h = make_harness (model, 0, "hard");
  gst_harness_set_upstream_latency (h, 40 * GST_MSECOND);
  GstClockTime latency = gst_harness_query_latency (h);
  /* lookahead + 250 ms processing headroom + upstream */
  fail_unless_equals_uint64 (latency, 2 * GST_SECOND + 250 * GST_MSECOND + 40 * GST_MSECOND);
  gst_harness_teardown (h);
  g_free (model);
}
GST_END_TEST;

/* The default lookahead is at least 9 s (a slice may run 1 s past it, and the model reads cuts up to 8 s ahead):
 * the latency answer and emsyncbin's queues follow it. */
GST_START_TEST (test_default_lookahead)
{
  gchar *model = tiny_model ();
  GstElement *e = gst_element_factory_make ("emsyncmidigen", NULL);
  g_object_set (e, "model-file", model, NULL);
  guint64 lookahead = 0;
  g_object_get (e, "lookahead", &lookahead, NULL);
  fail_unless (lookahead >= 9 * GST_SECOND, "default lookahead %" G_GUINT64_FORMAT, lookahead);
  GstHarness *h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  gst_harness_set_src_caps_str (h, "video/x-raw,format=GRAY8,width=16,height=16,framerate=25/1");
  gst_harness_set_upstream_latency (h, 40 * GST_MSECOND);
  fail_unless_equals_uint64 (gst_harness_query_latency (h), lookahead + 250 * GST_MSECOND + 40 * GST_MSECOND);
  gst_harness_teardown (h);
  g_free (model);

  GstElement *bin = gst_element_factory_make ("emsyncbin", NULL);
  GstElement *queue = gst_bin_get_by_name (GST_BIN (bin), "video_queue");
  fail_unless (queue != NULL);
  guint64 max_time = 0;
  g_object_get (queue, "max-size-time", &max_time, NULL);
  fail_unless (max_time > lookahead,
      "video queue %" G_GUINT64_FORMAT " ns for a %" G_GUINT64_FORMAT " ns lookahead", max_time, lookahead);
  gst_object_unref (queue);
  gst_object_unref (bin);
}
GST_END_TEST;

GST_START_TEST (test_flush_restarts_cleanly)
{
  gchar *model = tiny_model ();
  GstHarness *h = make_harness (model, 1, "hard");
  push_frames (h, 0, 125, NULL, 0);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  drain (h); /* what came out before the flush */
  push_segment (h, 0, 0);
  push_frames (h, 0, 75, NULL, 0);
  gst_harness_push_event (h, gst_event_new_eos ());
  GArray *msgs = pull_all (h);
  fail_unless (msgs->len > 0);
  /* After the flush the music restarts at 0 and ends with the 3 s of new video. */
  Msg *first = &g_array_index (msgs, Msg, 0);
  Msg *lastm = &g_array_index (msgs, Msg, msgs->len - 1);
  fail_unless (first->pts < 100 * GST_MSECOND);
  fail_unless (
      lastm->pts >= 3 * GST_SECOND - 20 * GST_MSECOND && lastm->pts < 4 * GST_SECOND + 100 * GST_MSECOND);
  g_array_unref (msgs);
  gst_harness_teardown (h);
  g_free (model);
}
GST_END_TEST;

/* After a flushing seek to 30 s the video's segment starts at 30 s: the MIDI output's segment follows it (start,
 * time), so its stream time is the video's, while its running time (the music's) starts again at 0. */
GST_START_TEST (test_output_segment_follows_seek)
{
  gchar *model = tiny_model ();
  GstHarness *h = make_harness (model, 1, "hard");
  push_frames (h, 0, 50, NULL, 0);
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (h, gst_event_new_flush_stop (TRUE)));
  drain (h);
  push_segment (h, 30 * GST_SECOND, 0);
  push_frames (h, 30 * FPS, 3 * FPS, NULL, 0);
  gst_harness_push_event (h, gst_event_new_eos ());
  GstSegment out;
  gst_segment_init (&out, GST_FORMAT_UNDEFINED);
  GArray *msgs = pull_all_full (h, &out, NULL);
  fail_unless (out.format == GST_FORMAT_TIME);
  fail_unless_equals_uint64 (out.start, 30 * GST_SECOND);
  fail_unless_equals_uint64 (out.time, 30 * GST_SECOND);
  fail_unless (msgs->len > 0);
  for (guint i = 0; i < msgs->len; i++) {
    GstClockTime pts = g_array_index (msgs, Msg, i).pts;
    GstClockTime rt = gst_segment_to_running_time (&out, GST_FORMAT_TIME, pts);
    fail_unless (
        rt < 4 * GST_SECOND + 100 * GST_MSECOND, "running time %" GST_TIME_FORMAT, GST_TIME_ARGS (rt));
  }
  GstClockTime first_pts = g_array_index (msgs, Msg, 0).pts;
  GstClockTime last_pts = g_array_index (msgs, Msg, msgs->len - 1).pts;
  fail_unless_equals_uint64 (gst_segment_to_running_time (&out, GST_FORMAT_TIME, first_pts), 0);
  fail_unless_equals_uint64 (gst_segment_to_stream_time (&out, GST_FORMAT_TIME, first_pts), 30 * GST_SECOND);
  fail_unless (
      gst_segment_to_stream_time (&out, GST_FORMAT_TIME, last_pts) >= 33 * GST_SECOND - 20 * GST_MSECOND);
  g_array_unref (msgs);
  gst_harness_teardown (h);
  g_free (model);
}
GST_END_TEST;

/* A new segment without a flush (the video jumps to 30 s after 4 s of playback) reaches the MIDI output when the
 * music, lookahead behind, gets there: the music before it keeps the old segment, running time goes on. */
GST_START_TEST (test_output_segment_change_waits_for_the_music)
{
  gchar *model = tiny_model ();
  GstHarness *h = make_harness (model, 1, "soft");
  push_frames (h, 0, 4 * FPS, NULL, 0);
  push_segment (h, 30 * GST_SECOND, 4 * GST_SECOND);
  push_frames (h, 30 * FPS, 3 * FPS, NULL, 0);
  gst_harness_push_event (h, gst_event_new_eos ());
  /* Buffers and events come out of the harness on separate queues: collect the buffers in order, and find the
   * segment change from the buffers' times. */
  GstSegment out;
  gst_segment_init (&out, GST_FORMAT_UNDEFINED);
  GArray *msgs = pull_all_full (h, &out, NULL);
  fail_unless_equals_uint64 (out.start, 30 * GST_SECOND);
  fail_unless_equals_uint64 (out.base, 4 * GST_SECOND);
  GstClockTime previous = 0;
  guint before = 0, after = 0;
  for (guint i = 0; i < msgs->len; i++) {
    GstClockTime pts = g_array_index (msgs, Msg, i).pts;
    /* in the first segment pts = running time (< 4 s); in the second, 30 s + (running time - 4 s) */
    GstClockTime rt = pts < 30 * GST_SECOND ? pts : pts - 30 * GST_SECOND + 4 * GST_SECOND;
    if (pts < 30 * GST_SECOND) {
      fail_unless (after == 0, "old segment's time after the new segment began");
      fail_unless (pts < 4 * GST_SECOND + 5 * GST_MSECOND);
      before++;
    } else {
      after++;
    }
    fail_unless (rt >= previous, "running time goes back");
    previous = rt;
  }
  fail_unless (before > 100 && after > 100, "%u messages before the change, %u after", before, after);
  fail_unless (previous >= 7 * GST_SECOND - 20 * GST_MSECOND);
  g_array_unref (msgs);
  gst_harness_teardown (h);
  g_free (model);
}
GST_END_TEST;

/* The caps of the output's caps event are held by that event alone (a reference was leaked per stream start). */
GST_START_TEST (test_caps_event_holds_its_caps)
{
  gchar *model = tiny_model ();
  GstHarness *h = make_harness (model, 1, "hard");
  push_frames (h, 0, FPS, NULL, 0);
  gst_harness_push_event (h, gst_event_new_eos ());
  g_array_unref (pull_all (h));
  GstEvent *caps_event = gst_pad_get_sticky_event (h->sinkpad, GST_EVENT_CAPS, 0);
  fail_unless (caps_event != NULL);
  GstCaps *caps;
  gst_event_parse_caps (caps_event, &caps);
  fail_unless_equals_int (GST_MINI_OBJECT_REFCOUNT_VALUE (caps), 1);
  gst_event_unref (caps_event);
  gst_harness_teardown (h);
  g_free (model);
}
GST_END_TEST;

/* Takes videotestsrc ! emsyncmidigen ! fakesink to PAUSED with the given model properties (NULL: left unset);
 * returns the error message posted if that fails, else NULL. */
static gchar *
pause_error (const gchar *model_file, const gchar *model)
{
  GstElement *pipeline = gst_pipeline_new (NULL);
  GstElement *src = gst_element_factory_make ("videotestsrc", NULL);
  GstElement *gen = gst_element_factory_make ("emsyncmidigen", NULL);
  GstElement *sink = gst_element_factory_make ("fakesink", NULL);
  if (model_file)
    g_object_set (gen, "model-file", model_file, NULL);
  if (model)
    gst_util_set_object_arg (G_OBJECT (gen), "model", model);
  gst_bin_add_many (GST_BIN (pipeline), src, gen, sink, NULL);
  fail_unless (gst_element_link_many (src, gen, sink, NULL));
  gchar *message = NULL;
  if (gst_element_set_state (pipeline, GST_STATE_PAUSED) == GST_STATE_CHANGE_FAILURE) {
    GstBus *bus = gst_element_get_bus (pipeline);
    GstMessage *msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    fail_unless (msg != NULL);
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    message = g_strdup (err->message);
    g_error_free (err);
    gst_message_unref (msg);
    gst_object_unref (bus);
  }
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (pipeline);
  return message;
}

static void
expect_model_error (const gchar *path, const gchar *expected)
{
  gchar *message = pause_error (path, NULL);
  fail_unless (message != NULL, "%s loaded", path);
  fail_unless (strstr (message, path) != NULL, "error does not name the file: %s", message);
  fail_unless (strstr (message, expected) != NULL, "unexpected error: %s", message);
  g_free (message);
}

GST_START_TEST (test_model_errors)
{
  gchar *missing = g_build_filename (EMSYNC_TEST_DATA, "no_such_model.pt", NULL);
  gchar *corrupt = g_build_filename (EMSYNC_TEST_DATA, "corrupt_generator.pt", NULL);
  gchar *wrong = g_build_filename (EMSYNC_TEST_DATA, "not_a_generator.pt", NULL);
  gchar *unindexed = g_build_filename (EMSYNC_TEST_DATA, "unindexed_generator.pt", NULL);
  expect_model_error (missing, "not found");
  expect_model_error (corrupt, "TorchScript");
  expect_model_error (wrong, "emsync generator");
  /* The element reads weights without libtorch, through the index that export.py writes; an older export is
   * refused with the command that adds it. */
  expect_model_error (unindexed, "export.py --add-index");
  g_free (unindexed);
  g_free (missing);
  g_free (corrupt);
  g_free (wrong);
}
GST_END_TEST;

/* model=tiny loads emsync-tiny.pt and model=small emsync-small.pt, each looked up first in $EMSYNC_MODEL_DIR:
 * a corrupt emsync-tiny.pt placed there is what model=tiny reports, while model=small (the default) loads the
 * shipped small model from the source tree, past the directory that lacks it. */
GST_START_TEST (test_model_choice)
{
  gchar *dir = g_dir_make_tmp ("emsync-models-XXXXXX", NULL);
  fail_unless (dir != NULL);
  gchar *corrupt = g_build_filename (EMSYNC_TEST_DATA, "corrupt_generator.pt", NULL);
  gchar *tiny = g_build_filename (dir, "emsync-tiny.pt", NULL);
  gchar *bytes = NULL;
  gsize len = 0;
  fail_unless (g_file_get_contents (corrupt, &bytes, &len, NULL));
  fail_unless (g_file_set_contents (tiny, bytes, len, NULL));
  g_setenv ("EMSYNC_MODEL_DIR", dir, TRUE);

  gchar *message = pause_error (NULL, "tiny");
  fail_unless (message != NULL && strstr (message, tiny) != NULL, "model=tiny: %s", message);
  g_free (message);
  message = pause_error (NULL, "small");
  fail_unless (message == NULL, "model=small: %s", message);
  message = pause_error (NULL, NULL);
  fail_unless (message == NULL, "default model: %s", message);

  g_unsetenv ("EMSYNC_MODEL_DIR");
  g_remove (tiny);
  g_rmdir (dir);
  g_free (bytes);
  g_free (tiny);
  g_free (corrupt);
  g_free (dir);
}
GST_END_TEST;

/* With upstream fluiddec (gst-plugins-bad) the MIDI stream plays: non-silent audio of the video's length. */
GST_START_TEST (test_plays_through_fluiddec)
{
  const gchar *sf = "/usr/share/sounds/sf2/TimGM6mb.sf2";
  GstElementFactory *f = gst_element_factory_find ("fluiddec");
  if (!f || !g_file_test (sf, G_FILE_TEST_EXISTS)) {
    g_print ("skipping: fluiddec or TimGM6mb.sf2 not installed\n");
    if (f)
      gst_object_unref (f);
    return;
  }
  gst_object_unref (f);
  gchar *model = tiny_model ();
  gchar *desc =
      g_strdup_printf ("videotestsrc num-buffers=125 ! video/x-raw,framerate=25/1,width=64,height=48 ! "
                       "emsyncmidigen model-file=%s seed=4 ! fluiddec soundfont=%s ! audioconvert ! "
                       "audio/x-raw,format=F32LE,channels=2 ! appsink name=out sync=false",
          model, sf);
  GstElement *pipeline = gst_parse_launch (desc, NULL);
  fail_unless (pipeline != NULL);
  GstElement *out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  double energy = 0.0;
  guint64 frames = 0;
  GstSample *sample;
  while ((sample = gst_app_sink_pull_sample (GST_APP_SINK (out)))) {
    GstMapInfo map;
    GstBuffer *buf = gst_sample_get_buffer (sample);
    gst_buffer_map (buf, &map, GST_MAP_READ);
    const float *x = (const float *) map.data;
    for (gsize i = 0; i < map.size / 4; i++)
      energy += x[i] * x[i];
    frames += map.size / 8;
    gst_buffer_unmap (buf, &map);
    gst_sample_unref (sample);
  }
  fail_unless (energy > 1.0, "silent output");
  fail_unless (frames > 44100 * 4.5, "only %" G_GUINT64_FORMAT " frames", frames);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (out);
  gst_object_unref (pipeline);
  g_free (desc);
  g_free (model);
}
GST_END_TEST;

static Suite *
midigen_suite (void)
{
  Suite *s = suite_create ("emsyncmidigen");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 180);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_hard_sync_chords_on_cuts_and_drain);
  tcase_add_test (tc, test_tempo_messages);
  tcase_add_test (tc, test_cut_meta_after_its_event);
  tcase_add_test (tc, test_seed_reproducible);
  tcase_add_test (tc, test_preset_property);
  tcase_add_test (tc, test_note_level_properties);
  tcase_add_test (tc, test_emotion_guidance_property);
  tcase_add_test (tc, test_bin_forwards_generator_properties);
  tcase_add_test (tc, test_shipped_defaults);
  tcase_add_test (tc, test_model_choice);
  tcase_add_test (tc, test_latency_is_lookahead);
  tcase_add_test (tc, test_default_lookahead);
  tcase_add_test (tc, test_flush_restarts_cleanly);
  tcase_add_test (tc, test_output_segment_follows_seek);
  tcase_add_test (tc, test_output_segment_change_waits_for_the_music);
  tcase_add_test (tc, test_caps_event_holds_its_caps);
  tcase_add_test (tc, test_model_errors);
  tcase_add_test (tc, test_plays_through_fluiddec);
  return s;
}

GST_CHECK_MAIN (midigen);
