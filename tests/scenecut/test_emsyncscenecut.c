/* emsyncscenecut element tests (GstHarness + Check).
 *
 * Synthetic clips are drawn by the test into each negotiated format (through GstVideoFrame component
 * pointers, so odd widths and padded strides are exercised): textured "shots" made of a few sinusoids,
 * which can pan, cut, cross-dissolve, fade through black or flash. Every boundary must arrive three ways:
 * the meta on the first frame of the new shot, the emsync-scene-cut event right before that frame, and
 * the bus message. The real-footage test uses $EMSYNC_SHARED_DATA/video when present.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gst/emsyncevents.h"
#include "gst/emsyncmeta.h"

#define FPS 25
#define FRAME_NS (GST_SECOND / FPS)

/* ---------- synthetic clips ---------- */

/* What frame i shows: shot a (and b), mixed, faded, brightened, panned. */
typedef struct {
  int shot_a, shot_b;
  double mix;   /* 0 = shot a, 1 = shot b */
  double black; /* 0 = picture, 1 = black */
  double lift;  /* added to luma (a flash) */
  double pan;   /* horizontal offset in pixels */
} FrameSpec;

typedef void (*SpecFunc) (int i, FrameSpec *spec);

static void
shot_yuv (int shot, double x, double y, double *Y, double *U, double *V)
{
  /* Each shot: its own frequencies, phases and colour cast; smooth enough to look like a picture. */
  const double f1 = 0.031 + 0.013 * shot, f2 = 0.047 + 0.007 * (shot % 3), p = 1.3 * shot;
  *Y = 90.0 + fmod (28.0 * shot, 60.0) + 45.0 * sin (f1 * x + 0.6 * f2 * y + p)
      + 25.0 * sin (f2 * y - 0.4 * f1 * x + 2.0 * p) + 10.0 * sin (0.21 * x + 0.17 * y + p);
  *U = 128.0 + 40.0 * cos (1.7 * shot + 0.5) + 12.0 * sin (0.02 * x + p);
  *V = 128.0 + 40.0 * sin (2.3 * shot + 0.2) + 12.0 * cos (0.025 * y + p);
}

static void
spec_yuv (const FrameSpec *s, int x, int y, double *Y, double *U, double *V)
{
  double ya, ua, va, yb, ub, vb;
  shot_yuv (s->shot_a, x + s->pan, y, &ya, &ua, &va);
  if (s->mix > 0.0) {
    shot_yuv (s->shot_b, x + s->pan, y, &yb, &ub, &vb);
    ya = (1 - s->mix) * ya + s->mix * yb;
    ua = (1 - s->mix) * ua + s->mix * ub;
    va = (1 - s->mix) * va + s->mix * vb;
  }
  *Y = (1 - s->black) * ya + s->black * 16.0 + s->lift;
  *U = (1 - s->black) * ua + s->black * 128.0;
  *V = (1 - s->black) * va + s->black * 128.0;
}

static guint8
clamp8 (double v)
{
  return (guint8) (v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
}

/* Draws the frame component by component, so any planar, semi-planar or packed layout works. The picture
 * is computed once per pixel, then each component samples it at its own subsampling. */
static void
draw_frame (GstVideoFrame *frame, const FrameSpec *spec)
{
  const GstVideoFormatInfo *finfo = frame->info.finfo;
  const gboolean rgb = GST_VIDEO_FORMAT_INFO_IS_RGB (finfo);
  const int width = GST_VIDEO_FRAME_WIDTH (frame), height = GST_VIDEO_FRAME_HEIGHT (frame);
  gdouble *pic = g_new (gdouble, (gsize) width * height * 3);
  for (int y = 0; y < height; y++) {
    for (int x = 0; x < width; x++) {
      gdouble *px = pic + ((gsize) y * width + x) * 3;
      spec_yuv (spec, x, y, &px[0], &px[1], &px[2]);
    }
  }
  for (guint c = 0; c < GST_VIDEO_FRAME_N_COMPONENTS (frame); c++) {
    guint8 *data = GST_VIDEO_FRAME_COMP_DATA (frame, c);
    const int stride = GST_VIDEO_FRAME_COMP_STRIDE (frame, c);
    const int pstride = GST_VIDEO_FRAME_COMP_PSTRIDE (frame, c);
    const int w = GST_VIDEO_FRAME_COMP_WIDTH (frame, c), h = GST_VIDEO_FRAME_COMP_HEIGHT (frame, c);
    const int ws = GST_VIDEO_FORMAT_INFO_W_SUB (finfo, c), hs = GST_VIDEO_FORMAT_INFO_H_SUB (finfo, c);
    for (int cy = 0; cy < h; cy++) {
      for (int cx = 0; cx < w; cx++) {
        const int x = MIN (cx << ws, width - 1), y = MIN (cy << hs, height - 1);
        const gdouble *px = pic + ((gsize) y * width + x) * 3;
        const double Y = px[0], U = px[1], V = px[2];
        double v;
        if (c == GST_VIDEO_COMP_A) {
          v = 255;
        } else if (!rgb) {
          v = c == 0 ? Y : c == 1 ? U : V;
        } else {
          const double yy = 1.164 * (Y - 16), uu = U - 128, vv = V - 128;
          v = c == GST_VIDEO_COMP_R   ? yy + 1.596 * vv
              : c == GST_VIDEO_COMP_G ? yy - 0.392 * uu - 0.813 * vv
                                      : yy + 2.017 * uu;
        }
        data[cy * stride + cx * pstride] = clamp8 (v);
      }
    }
  }
  g_free (pic);
}

/* ---------- running the element ---------- */

typedef struct {
  gint frame; /* index of the buffer that carried it */
  EmsyncCutKind kind;
  gdouble score;
  GstClockTime start, end;
} MetaSeen;

typedef struct {
  GArray *metas;    /* MetaSeen */
  GArray *events;   /* EmsyncSceneCut */
  GArray *messages; /* EmsyncSceneCut */
  gint buffers;
  gboolean event_pending;  /* an event arrived and its buffer has not yet */
  gint events_before_meta; /* metas whose buffer came right after an event */
  gint misordered;         /* metas without an event right before them */
  GstClockTime first_pts;
} Observed;

static GstPadProbeReturn
observe_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  Observed *o = (Observed *) user_data;
  if (info->type & GST_PAD_PROBE_TYPE_BUFFER) {
    GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
    if (o->buffers == 0)
      o->first_pts = GST_BUFFER_PTS (buf);
    gpointer state = NULL;
    GstMeta *meta;
    gboolean had_meta = FALSE;
    while ((meta = gst_buffer_iterate_meta_filtered (buf, &state, EMSYNC_SCENE_CUT_META_API_TYPE))) {
      EmsyncSceneCutMeta *m = (EmsyncSceneCutMeta *) meta;
      MetaSeen seen = { o->buffers, m->kind, m->score, m->transition_start, m->transition_end };
      g_array_append_val (o->metas, seen);
      had_meta = TRUE;
    }
    if (had_meta) {
      if (o->event_pending)
        o->events_before_meta++;
      else
        o->misordered++;
    }
    o->event_pending = FALSE;
    o->buffers++;
  } else if (info->type & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    EmsyncSceneCut cut;
    if (emsync_scene_cut_event_parse (ev, &cut)) {
      g_array_append_val (o->events, cut);
      o->event_pending = TRUE;
    }
  }
  return GST_PAD_PROBE_OK;
}

static Observed *
observed_new (void)
{
  Observed *o = g_new0 (Observed, 1);
  o->metas = g_array_new (FALSE, FALSE, sizeof (MetaSeen));
  o->events = g_array_new (FALSE, FALSE, sizeof (EmsyncSceneCut));
  o->messages = g_array_new (FALSE, FALSE, sizeof (EmsyncSceneCut));
  o->first_pts = GST_CLOCK_TIME_NONE;
  return o;
}

static void
observed_free (Observed *o)
{
  g_array_free (o->metas, TRUE);
  g_array_free (o->events, TRUE);
  g_array_free (o->messages, TRUE);
  g_free (o);
}

static void
collect_messages (GstBus *bus, Observed *o)
{
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    EmsyncSceneCut cut;
    if (emsync_scene_cut_message_parse (msg, &cut))
      g_array_append_val (o->messages, cut);
    gst_message_unref (msg);
  }
}

typedef struct {
  GstHarness *h;
  GstBus *bus;
  Observed *o;
  GstVideoInfo info;
  gint pushed;
} Run;

static void
run_start (Run *r, const gchar *props, const gchar *format, int width, int height)
{
  gchar *launch = g_strdup_printf ("emsyncscenecut %s", props ? props : "");
  r->h = gst_harness_new_parse (launch);
  g_free (launch);
  gchar *caps = g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,framerate=%d/1,"
                                 "pixel-aspect-ratio=1/1",
      format, width, height, FPS);
  gst_harness_set_src_caps_str (r->h, caps);
  g_free (caps);
  gst_video_info_set_format (&r->info, gst_video_format_from_string (format), width, height);
  r->bus = gst_bus_new ();
  gst_element_set_bus (r->h->element, r->bus);
  r->o = observed_new ();
  GstPad *src = gst_element_get_static_pad (r->h->element, "src");
  gst_pad_add_probe (src, (GstPadProbeType) (GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      observe_probe, r->o, NULL);
  gst_object_unref (src);
  r->pushed = 0;
}

static void
run_push (Run *r, SpecFunc spec_fn, int n_frames)
{
  for (int i = 0; i < n_frames; i++) {
    FrameSpec spec = { 0, 1, 0.0, 0.0, 0.0, 0.0 };
    spec_fn (r->pushed, &spec);
    GstBuffer *buf = gst_buffer_new_and_alloc (GST_VIDEO_INFO_SIZE (&r->info));
    GstVideoFrame frame;
    fail_unless (gst_video_frame_map (&frame, &r->info, buf, GST_MAP_WRITE));
    draw_frame (&frame, &spec);
    gst_video_frame_unmap (&frame);
    GST_BUFFER_PTS (buf) = (GstClockTime) r->pushed * FRAME_NS;
    GST_BUFFER_DURATION (buf) = FRAME_NS;
    fail_unless_equals_int (gst_harness_push (r->h, buf), GST_FLOW_OK);
    r->pushed++;
  }
}

static void
run_finish (Run *r)
{
  fail_unless (gst_harness_push_event (r->h, gst_event_new_eos ()));
  collect_messages (r->bus, r->o);
  fail_unless_equals_int (r->o->buffers, r->pushed);
}

static void
run_free (Run *r)
{
  gst_element_set_bus (r->h->element, NULL);
  gst_object_unref (r->bus);
  gst_harness_teardown (r->h);
  observed_free (r->o);
}

/* Runs a whole synthetic clip through the element. */
static Observed *
run_clip (const gchar *props, const gchar *format, int width, int height, SpecFunc fn, int n)
{
  Run r;
  run_start (&r, props, format, width, height);
  run_push (&r, fn, n);
  run_finish (&r);
  Observed *o = r.o;
  r.o = observed_new ();
  run_free (&r);
  return o;
}

/* All three outputs agree, and each meta came right after its event. */
static void
assert_consistent (Observed *o)
{
  fail_unless_equals_int (o->events->len, o->metas->len);
  fail_unless_equals_int (o->messages->len, o->metas->len);
  fail_unless_equals_int (o->misordered, 0);
  for (guint i = 0; i < o->events->len; i++) {
    EmsyncSceneCut *ev = &g_array_index (o->events, EmsyncSceneCut, i);
    EmsyncSceneCut *msg = &g_array_index (o->messages, EmsyncSceneCut, i);
    MetaSeen *m = &g_array_index (o->metas, MetaSeen, i);
    fail_unless_equals_uint64 (ev->timestamp, msg->timestamp);
    fail_unless_equals_uint64 (ev->running_time, msg->running_time);
    fail_unless_equals_int (ev->kind, msg->kind);
    fail_unless_equals_int (ev->kind, m->kind);
    fail_unless (ev->index == i + 1);
  }
}

/* Frame index a boundary names (its timestamp), as opposed to the buffer that carried the meta. */
static int
event_frame (Observed *o, guint i)
{
  return (int) ((g_array_index (o->events, EmsyncSceneCut, i).timestamp + FRAME_NS / 2) / FRAME_NS);
}

/* ---------- clips ---------- */

static void
spec_cut_at_40 (int i, FrameSpec *s)
{
  s->shot_a = i < 40 ? 0 : 3;
  s->pan = 0.5 * i;
}

static void
spec_static (int i, FrameSpec *s)
{
  s->shot_a = 2;
}

static void
spec_slow_pan (int i, FrameSpec *s)
{
  s->shot_a = 1;
  s->pan = 3.0 * i;
}

static void
spec_fast_pan (int i, FrameSpec *s)
{
  s->shot_a = 4;
  s->pan = 14.0 * i + 0.3 * i * i;
}

static void
spec_flashes (int i, FrameSpec *s)
{
  s->shot_a = 5;
  s->pan = 0.5 * i;
  if (i == 30 || i == 31 || i == 70)
    s->lift = 90.0;
}

/* Fade out over frames 30..44, black frame 45, fade in over 46..60: one fade, middle at 45. */
static void
spec_fade_through_black (int i, FrameSpec *s)
{
  s->shot_a = i <= 45 ? 0 : 3;
  if (i >= 30 && i <= 45)
    s->black = (i - 29) / 16.0;
  else if (i > 45 && i <= 61)
    s->black = (61 - i) / 16.0;
}

/* Cross-dissolve over frames 30..53 (24 frames): middle ~41.5. */
static void
spec_dissolve (int i, FrameSpec *s)
{
  s->shot_a = 1;
  s->shot_b = 4;
  s->pan = 0.4 * i;
  if (i >= 30 && i < 54)
    s->mix = (i - 29) / 25.0;
  else if (i >= 54)
    s->mix = 1.0;
}

/* Two cuts 0.2 s apart (frames 30 and 35). */
static void
spec_close_cuts (int i, FrameSpec *s)
{
  s->shot_a = i < 30 ? 0 : i < 35 ? 2 : 4;
}

/* ---------- tests ---------- */

GST_START_TEST (test_properties)
{
  GstElement *e = gst_element_factory_make ("emsyncscenecut", NULL);
  fail_unless (e != NULL);
  gint method, lookahead, width;
  gdouble threshold;
  guint64 min_scene;
  gboolean post;
  guint cuts;
  g_object_get (e, "method", &method, "lookahead-frames", &lookahead, "analysis-width", &width, "threshold",
      &threshold, "min-scene-duration", &min_scene, "post-messages", &post, "cuts-detected", &cuts, NULL);
  fail_unless_equals_int (method, 0);
  fail_unless_equals_int (lookahead, 2);
  fail_unless_equals_int (width, 160);
  fail_unless (threshold < 0);
  fail_unless_equals_uint64 (min_scene, GST_SECOND / 2);
  fail_unless (post);
  fail_unless_equals_int (cuts, 0);
  gst_util_set_object_arg (G_OBJECT (e), "method", "ffmpeg");
  g_object_get (e, "method", &method, NULL);
  fail_unless_equals_int (method, 1);
  gst_object_unref (e);
}
GST_END_TEST;

GST_START_TEST (test_hard_cut)
{
  Observed *o = run_clip (NULL, "I420", 320, 240, spec_cut_at_40, 80);
  assert_consistent (o);
  fail_unless_equals_int (o->metas->len, 1);
  MetaSeen *m = &g_array_index (o->metas, MetaSeen, 0);
  fail_unless_equals_int (m->frame, 40);
  fail_unless_equals_int (m->kind, EMSYNC_CUT_KIND_CUT);
  fail_unless_equals_uint64 (m->start, 40 * FRAME_NS);
  EmsyncSceneCut *ev = &g_array_index (o->events, EmsyncSceneCut, 0);
  fail_unless_equals_uint64 (ev->timestamp, 40 * FRAME_NS);
  fail_unless_equals_uint64 (ev->running_time, 40 * FRAME_NS);
  fail_unless_equals_uint64 (ev->stream_time, 40 * FRAME_NS);
  fail_unless (ev->score >= 5.0);
  EmsyncSceneCut *msg = &g_array_index (o->messages, EmsyncSceneCut, 0);
  fail_unless_equals_uint64 (msg->stream_time, 40 * FRAME_NS);
  observed_free (o);
}
GST_END_TEST;

/* The message carries the documented field names (what gst-launch -m prints). */
GST_START_TEST (test_message_fields)
{
  Run r;
  run_start (&r, NULL, "I420", 160, 120);
  run_push (&r, spec_cut_at_40, 60);
  fail_unless (gst_harness_push_event (r.h, gst_event_new_eos ()));
  GstMessage *msg = gst_bus_pop_filtered (r.bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL);
  const GstStructure *s = gst_message_get_structure (msg);
  fail_unless (gst_structure_has_name (s, "emsync-scene-cut"));
  guint64 ts, rt;
  gdouble score;
  fail_unless (gst_structure_get_uint64 (s, "timestamp", &ts));
  fail_unless (gst_structure_get_uint64 (s, "running-time", &rt));
  fail_unless (gst_structure_get_double (s, "score", &score));
  fail_unless_equals_string (gst_structure_get_string (s, "kind"), "cut");
  fail_unless_equals_uint64 (ts, 40 * FRAME_NS);
  GstElement *cut = gst_harness_find_element (r.h, "emsyncscenecut");
  fail_unless (GST_MESSAGE_SRC (msg) == GST_OBJECT (cut));
  gst_message_unref (msg);
  guint cuts;
  g_object_get (cut, "cuts-detected", &cuts, NULL);
  gst_object_unref (cut);
  fail_unless_equals_int (cuts, 1);
  run_free (&r);
}
GST_END_TEST;

GST_START_TEST (test_post_messages_off)
{
  Observed *o = run_clip ("post-messages=false", "I420", 160, 120, spec_cut_at_40, 60);
  fail_unless_equals_int (o->metas->len, 1);
  fail_unless_equals_int (o->events->len, 1);
  fail_unless_equals_int (o->messages->len, 0);
  observed_free (o);
}
GST_END_TEST;

GST_START_TEST (test_no_cut_static_and_motion)
{
  const SpecFunc clips[] = { spec_static, spec_slow_pan, spec_fast_pan };
  for (guint c = 0; c < G_N_ELEMENTS (clips); c++) {
    Observed *o = run_clip (NULL, "I420", 320, 240, clips[c], 90);
    if (o->events->len)
      GST_ERROR ("clip %u: boundary at frame %d", c, event_frame (o, 0));
    fail_unless_equals_int (o->events->len, 0);
    fail_unless_equals_int (o->metas->len, 0);
    observed_free (o);
  }
}
GST_END_TEST;

GST_START_TEST (test_flash_is_not_a_cut)
{
  Observed *o = run_clip (NULL, "I420", 320, 240, spec_flashes, 100);
  fail_unless_equals_int (o->events->len, 0);
  observed_free (o);
  /* The content method has no flash handling: it does see the flashes (so the clip does test something). */
  o = run_clip ("method=content min-scene-duration=0", "I420", 320, 240, spec_flashes, 100);
  fail_unless (o->events->len >= 2);
  observed_free (o);
}
GST_END_TEST;

GST_START_TEST (test_fade_through_black)
{
  Observed *o = run_clip ("lookahead-frames=30", "I420", 320, 240, spec_fade_through_black, 90);
  assert_consistent (o);
  fail_unless_equals_int (o->events->len, 1);
  fail_unless_equals_int (g_array_index (o->events, EmsyncSceneCut, 0).kind, EMSYNC_CUT_KIND_FADE);
  const int f = event_frame (o, 0);
  fail_unless (f >= 43 && f <= 48, "fade placed at frame %d, expected ~45", f);
  /* With enough lookahead the meta sits on the named frame itself, and spans the transition. */
  MetaSeen *m = &g_array_index (o->metas, MetaSeen, 0);
  fail_unless_equals_int (m->frame, f);
  fail_unless (m->start < (GstClockTime) f * FRAME_NS && m->end > (GstClockTime) f * FRAME_NS);
  observed_free (o);
}
GST_END_TEST;

GST_START_TEST (test_dissolve)
{
  Observed *o = run_clip ("lookahead-frames=30", "I420", 320, 240, spec_dissolve, 90);
  assert_consistent (o);
  fail_unless_equals_int (o->events->len, 1);
  fail_unless_equals_int (g_array_index (o->events, EmsyncSceneCut, 0).kind, EMSYNC_CUT_KIND_DISSOLVE);
  const int f = event_frame (o, 0);
  fail_unless (f >= 38 && f <= 45, "dissolve placed at frame %d, expected ~42", f);
  observed_free (o);
}
GST_END_TEST;

/* Too little lookahead: the meta travels with a later frame, the timestamps still name the middle. */
GST_START_TEST (test_late_decision_keeps_timestamp)
{
  Observed *o = run_clip ("lookahead-frames=0", "I420", 320, 240, spec_dissolve, 90);
  assert_consistent (o);
  fail_unless_equals_int (o->events->len, 1);
  const int f = event_frame (o, 0);
  fail_unless (f >= 38 && f <= 45);
  fail_unless (g_array_index (o->metas, MetaSeen, 0).frame > f);
  observed_free (o);
}
GST_END_TEST;

GST_START_TEST (test_min_scene_duration)
{
  Observed *o = run_clip (NULL, "I420", 320, 240, spec_close_cuts, 60);
  fail_unless_equals_int (o->events->len, 1);
  fail_unless_equals_int (event_frame (o, 0), 30);
  observed_free (o);
  o = run_clip ("min-scene-duration=0", "I420", 320, 240, spec_close_cuts, 60);
  fail_unless_equals_int (o->events->len, 2);
  fail_unless_equals_int (event_frame (o, 0), 30);
  fail_unless_equals_int (event_frame (o, 1), 35);
  observed_free (o);
}
GST_END_TEST;

/* Odd sizes (padded strides, odd chroma widths) and every supported layout, each method. */
GST_START_TEST (test_formats_and_strides)
{
  const gchar *formats[] = { "I420", "YV12", "NV12", "NV21", "Y42B", "Y444", "GRAY8", "RGB", "BGR", "RGBx",
    "BGRx", "xRGB", "xBGR", "RGBA", "BGRA", "ARGB", "ABGR" };
  const int sizes[][2] = { { 322, 180 }, { 161, 97 } };
  const gchar *methods[] = { "adaptive", "ffmpeg", "content threshold=10" };
  for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
    for (guint s = 0; s < G_N_ELEMENTS (sizes); s++) {
      for (guint m = 0; m < G_N_ELEMENTS (methods); m++) {
        gchar *props = g_strdup_printf ("method=%s", methods[m]);
        Observed *o = run_clip (props, formats[f], sizes[s][0], sizes[s][1], spec_cut_at_40, 50);
        if (o->metas->len != 1 || g_array_index (o->metas, MetaSeen, 0).frame != 40)
          GST_ERROR (
              "%s %dx%d %s: %u boundaries", formats[f], sizes[s][0], sizes[s][1], methods[m], o->metas->len);
        fail_unless_equals_int (o->metas->len, 1);
        fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 0).frame, 40);
        assert_consistent (o);
        observed_free (o);
        g_free (props);
      }
    }
  }
}
GST_END_TEST;

GST_START_TEST (test_latency_query)
{
  GstHarness *h = gst_harness_new_parse ("emsyncscenecut lookahead-frames=5");
  gst_harness_set_src_caps_str (h, "video/x-raw,format=I420,width=64,height=48,framerate=25/1");
  gst_harness_set_upstream_latency (h, 10 * GST_MSECOND);
  fail_unless_equals_clocktime (gst_harness_query_latency (h), 10 * GST_MSECOND + 5 * FRAME_NS);
  GstElement *cut = gst_harness_find_element (h, "emsyncscenecut");
  g_object_set (cut, "lookahead-frames", 0, NULL);
  gst_object_unref (cut);
  fail_unless_equals_clocktime (gst_harness_query_latency (h), 10 * GST_MSECOND);
  gst_harness_teardown (h);

  h = gst_harness_new_parse ("emsyncscenecut lookahead-frames=3");
  gst_harness_set_src_caps_str (h, "video/x-raw,format=I420,width=64,height=48,framerate=30000/1001");
  gst_harness_set_upstream_latency (h, 0);
  fail_unless_equals_clocktime (
      gst_harness_query_latency (h), gst_util_uint64_scale (3 * GST_SECOND, 1001, 30000));
  gst_harness_teardown (h);
}
GST_END_TEST;

/* lookahead-frames=N holds N frames; EOS pushes them (with pending decisions) before EOS itself. */
GST_START_TEST (test_eos_drains)
{
  Run r;
  run_start (&r, "lookahead-frames=10", "I420", 160, 120);
  run_push (&r, spec_cut_at_40, 45);
  fail_unless_equals_int (r.o->buffers, 35);
  fail_unless_equals_int (gst_harness_buffers_received (r.h), 35);
  /* The cut at 40 is decided (2 frames later) but its frame is still held: no event yet. */
  fail_unless_equals_int (r.o->events->len, 0);
  fail_unless (gst_harness_push_event (r.h, gst_event_new_eos ()));
  fail_unless_equals_int (r.o->buffers, 45);
  fail_unless_equals_int (r.o->metas->len, 1);
  fail_unless_equals_int (g_array_index (r.o->metas, MetaSeen, 0).frame, 40);
  /* EOS came after the held frames. */
  GstEvent *ev;
  gboolean saw_eos = FALSE;
  while ((ev = gst_harness_try_pull_event (r.h))) {
    if (GST_EVENT_TYPE (ev) == GST_EVENT_EOS)
      saw_eos = TRUE;
    gst_event_unref (ev);
  }
  fail_unless (saw_eos);
  run_free (&r);
}
GST_END_TEST;

/* A flush drops the held frames and forgets the past: no cut against pre-flush pictures. */
GST_START_TEST (test_flush)
{
  Run r;
  run_start (&r, "lookahead-frames=10", "I420", 160, 120);
  run_push (&r, spec_static, 20);
  fail_unless_equals_int (r.o->buffers, 10);
  fail_unless (gst_harness_push_event (r.h, gst_event_new_flush_start ()));
  fail_unless (gst_harness_push_event (r.h, gst_event_new_flush_stop (TRUE)));
  GstSegment segment;
  gst_segment_init (&segment, GST_FORMAT_TIME);
  fail_unless (gst_harness_push_event (r.h, gst_event_new_segment (&segment)));
  /* Different picture after the flush (as after a seek): not a cut. */
  run_push (&r, spec_fast_pan, 30);
  fail_unless (gst_harness_push_event (r.h, gst_event_new_eos ()));
  fail_unless_equals_int (r.o->buffers, 10 + 30);
  fail_unless_equals_int (r.o->events->len, 0);
  run_free (&r);
}
GST_END_TEST;

/* New caps: the held frames are pushed before the new caps, then analysis starts over. */
GST_START_TEST (test_caps_change_drains)
{
  Run r;
  run_start (&r, "lookahead-frames=8", "I420", 160, 120);
  run_push (&r, spec_static, 12);
  fail_unless_equals_int (r.o->buffers, 4);
  gst_harness_set_src_caps_str (r.h, "video/x-raw,format=RGB,width=96,height=64,framerate=25/1");
  fail_unless_equals_int (r.o->buffers, 12);
  gst_video_info_set_format (&r.info, GST_VIDEO_FORMAT_RGB, 96, 64);
  run_push (&r, spec_cut_at_40, 40);
  run_finish (&r);
  fail_unless_equals_int (r.o->events->len, 1);
  fail_unless_equals_int (g_array_index (r.o->metas, MetaSeen, 0).frame, 40);
  run_free (&r);
}
GST_END_TEST;

/* The same caps sent again (a renegotiation that changed nothing) keep the held frames and the history. */
GST_START_TEST (test_same_caps_keep_history)
{
  Run r;
  run_start (&r, "lookahead-frames=4", "I420", 160, 120);
  run_push (&r, spec_cut_at_40, 38);
  fail_unless_equals_int (r.o->buffers, 34);
  gchar *caps = g_strdup_printf ("video/x-raw,format=I420,width=160,height=120,framerate=%d/1,"
                                 "pixel-aspect-ratio=1/1",
      FPS);
  GstCaps *same = gst_caps_from_string (caps);
  fail_unless (gst_harness_push_event (r.h, gst_event_new_caps (same)));
  gst_caps_unref (same);
  g_free (caps);
  fail_unless_equals_int (r.o->buffers, 34);
  run_push (&r, spec_cut_at_40, 22);
  run_finish (&r);
  fail_unless_equals_int (r.o->metas->len, 1);
  fail_unless_equals_int (g_array_index (r.o->metas, MetaSeen, 0).frame, 40);
  run_free (&r);
}
GST_END_TEST;

/* Serialized events that arrive between held frames keep their place. */
GST_START_TEST (test_events_keep_order)
{
  GstHarness *h = gst_harness_new_parse ("emsyncscenecut lookahead-frames=3");
  gst_harness_set_src_caps_str (h, "video/x-raw,format=GRAY8,width=32,height=32,framerate=25/1");
  GstVideoInfo info;
  gst_video_info_set_format (&info, GST_VIDEO_FORMAT_GRAY8, 32, 32);
  for (int i = 0; i < 6; i++) {
    GstBuffer *buf = gst_buffer_new_and_alloc (GST_VIDEO_INFO_SIZE (&info));
    gst_buffer_memset (buf, 0, 100, GST_VIDEO_INFO_SIZE (&info));
    GST_BUFFER_PTS (buf) = i * FRAME_NS;
    fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
    if (i == 4) {
      GstTagList *tags = gst_tag_list_new (GST_TAG_TITLE, "marker", NULL);
      fail_unless (gst_harness_push_event (h, gst_event_new_tag (tags)));
    }
  }
  /* Frames 0-2 are out; the tag event waits behind frames 3 and 4. */
  fail_unless_equals_int (gst_harness_buffers_received (h), 3);
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_event (h))) {
    fail_if (GST_EVENT_TYPE (ev) == GST_EVENT_TAG);
    gst_event_unref (ev);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 6);
  gboolean saw_tag = FALSE;
  while ((ev = gst_harness_try_pull_event (h))) {
    saw_tag = saw_tag || GST_EVENT_TYPE (ev) == GST_EVENT_TAG;
    gst_event_unref (ev);
  }
  fail_unless (saw_tag);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* ---------- FFmpeg agreement ---------- */

static gchar *
find_ffmpeg (void)
{
  return g_find_program_in_path ("ffmpeg");
}

/* Writes frames as raw video, has ffmpeg's select filter score them, and compares with method=ffmpeg. */
static void
check_ffmpeg_agreement (const gchar *gst_format, const gchar *ff_format, int width, int height)
{
  gchar *ffmpeg = find_ffmpeg ();
  if (!ffmpeg) {
    printf ("skipping ffmpeg agreement: ffmpeg not installed\n");
    return;
  }
  GstVideoInfo info;
  gst_video_info_set_format (&info, gst_video_format_from_string (gst_format), width, height);
  gchar *dir = g_dir_make_tmp ("emsync-scenecut-XXXXXX", NULL);
  gchar *raw = g_build_filename (dir, "clip.raw", NULL);
  gchar *scores = g_build_filename (dir, "scores.txt", NULL);
  FILE *f = fopen (raw, "wb");
  fail_unless (f != NULL);
  const int n = 60;
  /* The raw file must be packed tightly (ffmpeg's layout): draw into a packed copy of each frame. */
  for (int i = 0; i < n; i++) {
    FrameSpec spec = { i < 20 ? 0 : i < 40 ? 3 : 5, 1, 0, 0, i == 50 ? 40.0 : 0.0, 2.0 * i };
    GstBuffer *buf = gst_buffer_new_and_alloc (GST_VIDEO_INFO_SIZE (&info));
    GstVideoFrame frame;
    fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_WRITE));
    draw_frame (&frame, &spec);
    for (guint p = 0; p < GST_VIDEO_FRAME_N_PLANES (&frame); p++) {
      const guint8 *d = GST_VIDEO_FRAME_PLANE_DATA (&frame, p);
      const int stride = GST_VIDEO_FRAME_PLANE_STRIDE (&frame, p);
      const int comp = GST_VIDEO_FORMAT_INFO_IS_RGB (info.finfo) ? 0 : (int) p;
      const int row = GST_VIDEO_FRAME_COMP_WIDTH (&frame, comp) * GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, comp);
      for (int y = 0; y < GST_VIDEO_FRAME_COMP_HEIGHT (&frame, comp); y++)
        fail_unless (fwrite (d + y * stride, 1, row, f) == (size_t) row);
    }
    gst_video_frame_unmap (&frame);
    gst_buffer_unref (buf);
  }
  fclose (f);

  gchar *cmd = g_strdup_printf ("%s -v error -y -f rawvideo -pix_fmt %s -s %dx%d -r 25 -i %s "
                                "-vf \"select='gte(scene,0)',metadata=print:file=%s\" -f null -",
      ffmpeg, ff_format, width, height, raw, scores);
  gint status = -1;
  fail_unless (g_spawn_command_line_sync (cmd, NULL, NULL, &status, NULL));
  fail_unless (g_spawn_check_wait_status (status, NULL), "ffmpeg failed: %s", cmd);
  gchar *text = NULL;
  fail_unless (g_file_get_contents (scores, &text, NULL, NULL));
  GArray *ff = g_array_new (FALSE, FALSE, sizeof (gdouble));
  for (const gchar *p = text; (p = strstr (p, "lavfi.scene_score=")); p++) {
    gdouble v = g_ascii_strtod (p + strlen ("lavfi.scene_score="), NULL);
    g_array_append_val (ff, v);
  }
  fail_unless_equals_int (ff->len, n);

  /* threshold=0: every frame with a non-zero score becomes a boundary that carries the score. */
  Run r;
  run_start (&r, "method=ffmpeg threshold=0 min-scene-duration=0", gst_format, width, height);
  for (int i = 0; i < n; i++) {
    FrameSpec spec = { i < 20 ? 0 : i < 40 ? 3 : 5, 1, 0, 0, i == 50 ? 40.0 : 0.0, 2.0 * i };
    GstBuffer *buf = gst_buffer_new_and_alloc (GST_VIDEO_INFO_SIZE (&info));
    GstVideoFrame frame;
    fail_unless (gst_video_frame_map (&frame, &info, buf, GST_MAP_WRITE));
    draw_frame (&frame, &spec);
    gst_video_frame_unmap (&frame);
    GST_BUFFER_PTS (buf) = i * FRAME_NS;
    fail_unless_equals_int (gst_harness_push (r.h, buf), GST_FLOW_OK);
    r.pushed++;
  }
  run_finish (&r);
  /* Every frame ffmpeg scores above 0 (printed with 6 decimals) is a boundary of ours, same score. */
  gboolean *ours = g_new0 (gboolean, n);
  int over_027_ours = 0, over_027_ffmpeg = 0;
  for (guint i = 0; i < r.o->events->len; i++) {
    EmsyncSceneCut *ev = &g_array_index (r.o->events, EmsyncSceneCut, i);
    const int frame = (int) (ev->timestamp / FRAME_NS);
    const gdouble expected = g_array_index (ff, gdouble, frame);
    fail_unless (fabs (ev->score - expected) <= 5.01e-7, "%s frame %d: ours %.7f, ffmpeg %.6f", gst_format,
        frame, ev->score, expected);
    over_027_ours += ev->score > 0.27;
    ours[frame] = TRUE;
  }
  for (int i = 0; i < n; i++) {
    const gdouble v = g_array_index (ff, gdouble, i);
    over_027_ffmpeg += v > 0.27;
    fail_unless (
        ours[i] || v < 1e-6, "%s frame %d: ffmpeg scores %.6f, we reported nothing", gst_format, i, v);
  }
  g_free (ours);
  fail_unless_equals_int (over_027_ours, over_027_ffmpeg);
  fail_unless (over_027_ffmpeg >= 2);
  run_free (&r);

  g_array_free (ff, TRUE);
  g_free (text);
  g_free (cmd);
  g_unlink (raw);
  g_unlink (scores);
  g_rmdir (dir);
  g_free (raw);
  g_free (scores);
  g_free (dir);
  g_free (ffmpeg);
}

GST_START_TEST (test_ffmpeg_agreement)
{
  check_ffmpeg_agreement ("I420", "yuv420p", 320, 180);
  check_ffmpeg_agreement ("I420", "yuv420p", 322, 181);
  check_ffmpeg_agreement ("RGB", "rgb24", 322, 180);
  check_ffmpeg_agreement ("GRAY8", "gray", 200, 100);
}
GST_END_TEST;

/* ---------- real footage (optional) ---------- */

typedef struct {
  Observed *o;
  gint fps_n, fps_d;
} FileRun;

static Observed *
run_file (const gchar *path, const gchar *props, gint *fps_n, gint *fps_d)
{
  gchar *desc = g_strdup_printf ("filesrc location=\"%s\" ! decodebin ! videoconvert ! "
                                 "video/x-raw,format=I420 ! emsyncscenecut name=cut %s ! fakesink sync=false",
      path, props ? props : "");
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  fail_unless (pipeline != NULL, "pipeline: %s", err ? err->message : "?");
  GstElement *cut = gst_bin_get_by_name (GST_BIN (pipeline), "cut");
  Observed *o = observed_new ();
  GstPad *src = gst_element_get_static_pad (cut, "src");
  gst_pad_add_probe (src, (GstPadProbeType) (GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      observe_probe, o, NULL);
  fail_unless (gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE);
  GstBus *bus = gst_element_get_bus (pipeline);
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (
        bus, 120 * GST_SECOND, (GstMessageType) (GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT));
    fail_unless (msg != NULL, "timeout");
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *e = NULL;
      gst_message_parse_error (msg, &e, NULL);
      fail ("error: %s", e->message);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    EmsyncSceneCut c;
    if (emsync_scene_cut_message_parse (msg, &c))
      g_array_append_val (o->messages, c);
    gst_message_unref (msg);
  }
  GstCaps *caps = gst_pad_get_current_caps (src);
  const GstStructure *s = gst_caps_get_structure (caps, 0);
  fail_unless (gst_structure_get_fraction (s, "framerate", fps_n, fps_d));
  gst_caps_unref (caps);
  gst_object_unref (src);
  gst_object_unref (bus);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (cut);
  gst_object_unref (pipeline);
  return o;
}

static gchar *
shared_video (const gchar *name)
{
  const gchar *root = g_getenv ("EMSYNC_SHARED_DATA");
  if (!root)
    return NULL;
  gchar *path = g_build_filename (root, "video", name, NULL);
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_free (path);
    return NULL;
  }
  return path;
}

/* Frame index of boundary i, from its timestamp relative to the first frame. */
static int
boundary_frame (Observed *o, guint i, gint fps_n, gint fps_d)
{
  const GstClockTime ts = g_array_index (o->events, EmsyncSceneCut, i).timestamp - o->first_pts;
  return (int) gst_util_uint64_scale_round (ts, fps_n, (guint64) fps_d * GST_SECOND);
}

GST_START_TEST (test_ground_truth_videos)
{
  /* testvideo.mp4: hard cuts 30 and 180; fades 211-240, 331-360, 394-423, 664-692; dissolve 529-558. */
  gchar *path = shared_video ("testvideo.mp4");
  if (!path) {
    printf ("skipping ground-truth videos: $EMSYNC_SHARED_DATA/video not available\n");
    return;
  }
  gint fps_n, fps_d;
  Observed *o = run_file (path, "lookahead-frames=30", &fps_n, &fps_d);
  assert_consistent (o);
  const int spans[][2] = { { 30, 30 }, { 180, 180 }, { 211, 240 }, { 331, 360 }, { 394, 423 }, { 529, 558 },
    { 664, 692 } };
  const EmsyncCutKind kinds[] = { EMSYNC_CUT_KIND_CUT, EMSYNC_CUT_KIND_CUT, EMSYNC_CUT_KIND_FADE,
    EMSYNC_CUT_KIND_FADE, EMSYNC_CUT_KIND_FADE, EMSYNC_CUT_KIND_DISSOLVE, EMSYNC_CUT_KIND_FADE };
  fail_unless_equals_int (o->events->len, G_N_ELEMENTS (spans));
  for (guint i = 0; i < o->events->len; i++) {
    const int f = boundary_frame (o, i, fps_n, fps_d);
    fail_unless (f >= spans[i][0] && f <= spans[i][1], "boundary %u at frame %d", i, f);
    fail_unless_equals_int (g_array_index (o->events, EmsyncSceneCut, i).kind, kinds[i]);
  }
  /* Hard cuts: the meta is on exactly the first frame of the new shot. */
  fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 0).frame, 30);
  fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 1).frame, 180);
  observed_free (o);
  /* EMSYNC's method finds the two hard cuts only. */
  o = run_file (path, "method=ffmpeg", &fps_n, &fps_d);
  fail_unless_equals_int (o->metas->len, 2);
  fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 0).frame, 30);
  fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 1).frame, 180);
  observed_free (o);
  g_free (path);

  /* counter.mp4: background colour changes (chroma, little luma) at frames 10 and 20. */
  path = shared_video ("counter.mp4");
  fail_unless (path != NULL);
  o = run_file (path, NULL, &fps_n, &fps_d);
  fail_unless_equals_int (o->metas->len, 2);
  fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 0).frame, 10);
  fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 1).frame, 20);
  fail_unless_equals_int (g_array_index (o->metas, MetaSeen, 0).kind, EMSYNC_CUT_KIND_CUT);
  observed_free (o);
  g_free (path);

  /* fades.mp4: luminance ramps only; no hard cut (fades may be reported as fades). */
  path = shared_video ("fades.mp4");
  fail_unless (path != NULL);
  o = run_file (path, NULL, &fps_n, &fps_d);
  for (guint i = 0; i < o->events->len; i++)
    fail_unless (g_array_index (o->events, EmsyncSceneCut, i).kind != EMSYNC_CUT_KIND_CUT,
        "hard cut reported in fades.mp4 at frame %d", boundary_frame (o, i, fps_n, fps_d));
  observed_free (o);
  g_free (path);
}
GST_END_TEST;

static Suite *
emsyncscenecut_suite (void)
{
  Suite *s = suite_create ("emsyncscenecut");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_properties);
  tcase_add_test (tc, test_hard_cut);
  tcase_add_test (tc, test_message_fields);
  tcase_add_test (tc, test_post_messages_off);
  tcase_add_test (tc, test_no_cut_static_and_motion);
  tcase_add_test (tc, test_flash_is_not_a_cut);
  tcase_add_test (tc, test_fade_through_black);
  tcase_add_test (tc, test_dissolve);
  tcase_add_test (tc, test_late_decision_keeps_timestamp);
  tcase_add_test (tc, test_min_scene_duration);
  tcase_add_test (tc, test_formats_and_strides);
  tcase_add_test (tc, test_latency_query);
  tcase_add_test (tc, test_eos_drains);
  tcase_add_test (tc, test_flush);
  tcase_add_test (tc, test_caps_change_drains);
  tcase_add_test (tc, test_same_caps_keep_history);
  tcase_add_test (tc, test_events_keep_order);
  tcase_add_test (tc, test_ffmpeg_agreement);
  tcase_add_test (tc, test_ground_truth_videos);
  return s;
}

GST_CHECK_MAIN (emsyncscenecut);
