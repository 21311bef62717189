/* emsync — emsyncemotion element tests (GstHarness): meta on every buffer, analysis interval, quadrants of
 * a dark static and a bright fast-cut clip, events only on moves larger than `step`, rate-limited messages,
 * global mode, formats and odd sizes, flush, error cases, and (when the face model and opencv-doc are
 * installed) per-shot expression results on opencv-doc's Megamind.avi printed to the test log. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/video/video.h>
#include <glib/gstdio.h>

#include <math.h>
#include <string.h>

#include "gst/emsyncevents.h"
#include "gst/emsyncmeta.h"

#define FPS 30
#define FRAME_DUR (GST_SECOND / FPS)

/* Paints a frame of any 8-bit format from an RGB colour, with an optional moving white bar. */
static GstBuffer *
make_frame (GstVideoInfo *info, guint8 r, guint8 g, guint8 b, gint bar_x, guint64 index)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (info), NULL);
  GstVideoFrame frame;
  fail_unless (gst_video_frame_map (&frame, info, buf, GST_MAP_WRITE));
  const GstVideoFormatInfo *finfo = info->finfo;
  gint w = GST_VIDEO_INFO_WIDTH (info), h = GST_VIDEO_INFO_HEIGHT (info);
  /* BT.601 limited range */
  double R = r / 255.0, G = g / 255.0, B = b / 255.0;
  guint8 yuv[3] = { (guint8) lround (16 + 65.481 * R + 128.553 * G + 24.966 * B),
    (guint8) lround (128 - 37.797 * R - 74.203 * G + 112.0 * B),
    (guint8) lround (128 + 112.0 * R - 93.786 * G - 18.214 * B) };
  guint8 rgb[3] = { r, g, b };
  guint8 white_yuv[3] = { 235, 128, 128 }, white_rgb[3] = { 255, 255, 255 };
  gboolean is_yuv = GST_VIDEO_FORMAT_INFO_IS_YUV (finfo);
  for (guint c = 0; c < GST_VIDEO_FORMAT_INFO_N_COMPONENTS (finfo); c++) {
    guint8 *data = (guint8 *) GST_VIDEO_FRAME_COMP_DATA (&frame, c);
    gint stride = GST_VIDEO_FRAME_COMP_STRIDE (&frame, c), ps = GST_VIDEO_FRAME_COMP_PSTRIDE (&frame, c);
    gint cw = GST_VIDEO_FRAME_COMP_WIDTH (&frame, c), ch = GST_VIDEO_FRAME_COMP_HEIGHT (&frame, c);
    gint wsub = GST_VIDEO_FORMAT_INFO_W_SUB (finfo, c);
    for (gint y = 0; y < ch; y++)
      for (gint x = 0; x < cw; x++) {
        gboolean in_bar = bar_x >= 0 && (x << wsub) >= bar_x && (x << wsub) < bar_x + w / 8;
        guint8 v;
        if (c >= 3)
          v = 255;
        else if (GST_VIDEO_FORMAT_INFO_IS_GRAY (finfo))
          v = in_bar ? 255 : (guint8) lround (0.299 * r + 0.587 * g + 0.114 * b);
        else if (is_yuv)
          v = in_bar ? white_yuv[c] : yuv[c];
        else
          v = in_bar ? white_rgb[c] : rgb[c];
        data[y * stride + x * ps] = v;
      }
  }
  (void) h;
  gst_video_frame_unmap (&frame);
  GST_BUFFER_PTS (buf) = index * FRAME_DUR;
  GST_BUFFER_DURATION (buf) = FRAME_DUR;
  return buf;
}

static GstHarness *
new_harness (const gchar *launch, const gchar *format, gint w, gint h, GstVideoInfo *info)
{
  GstHarness *hh = gst_harness_new_parse (launch);
  gchar *caps =
      g_strdup_printf ("video/x-raw,format=%s,width=%d,height=%d,framerate=%d/1", format, w, h, FPS);
  gst_harness_set_src_caps_str (hh, caps);
  GstCaps *c = gst_caps_from_string (caps);
  gst_video_info_from_caps (info, c);
  gst_caps_unref (c);
  g_free (caps);
  return hh;
}

/* Pulls every buffer out and returns the last one's meta values. */
static guint
drain_buffers (GstHarness *h, gfloat *valence, gfloat *arousal, guint *analysed)
{
  guint n = 0;
  GstBuffer *out;
  while ((out = gst_harness_try_pull (h))) {
    EmsyncEmotionMeta *m = emsync_buffer_get_emotion_meta (out);
    fail_unless (m != NULL, "buffer without EmsyncEmotionMeta");
    fail_unless (m->valence >= -1 && m->valence <= 1 && m->arousal >= -1 && m->arousal <= 1);
    fail_unless (m->window_end <= GST_BUFFER_PTS (out) && m->window_start <= m->window_end);
    if (valence)
      *valence = m->valence;
    if (arousal)
      *arousal = m->arousal;
    if (analysed && m->analysed)
      (*analysed)++;
    gst_buffer_unref (out);
    n++;
  }
  return n;
}

GST_START_TEST (test_meta_on_every_buffer)
{
  GstVideoInfo info;
  GstHarness *h = new_harness ("emsyncemotion face-model=none", "I420", 160, 120, &info);
  guint analysed = 0, n = 0;
  for (guint64 i = 0; i < 60; i++) {
    fail_unless_equals_int (
        gst_harness_push (h, make_frame (&info, 100, 120, 140, (i * 4) % 160, i)), GST_FLOW_OK);
    n += drain_buffers (h, NULL, NULL, &analysed);
  }
  fail_unless_equals_int (n, 60);
  /* 2 s at the default 250 ms interval: 8 analysed frames. */
  fail_unless (analysed >= 7 && analysed <= 9, "analysed %u frames", analysed);
  gst_harness_teardown (h);
}
GST_END_TEST;

static void
run_clip (const gchar *launch, gboolean bright_fast_cut, gfloat *valence, gfloat *arousal)
{
  GstVideoInfo info;
  GstHarness *h = new_harness (launch, "I420", 192, 108, &info);
  const guint8 colours[4][3] = { { 250, 220, 40 }, { 40, 220, 250 }, { 250, 60, 200 }, { 120, 250, 60 } };
  for (guint64 i = 0; i < 8 * FPS; i++) {
    GstBuffer *b;
    if (bright_fast_cut) {
      const guint8 *c = colours[(i / 10) % 4]; /* a cut every 1/3 s, a moving bar */
      b = make_frame (&info, c[0], c[1], c[2], (i * 6) % 192, i);
    } else {
      b = make_frame (&info, 18, 16, 24, -1, i);
    }
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
    drain_buffers (h, valence, arousal, NULL);
  }
  gst_harness_teardown (h);
}

GST_START_TEST (test_quadrants)
{
  gfloat dv = 0, da = 0, bv = 0, ba = 0;
  run_clip ("emsyncemotion face-model=none", FALSE, &dv, &da);
  run_clip ("emsyncemotion face-model=none", TRUE, &bv, &ba);
  g_print (
      "element: dark static clip valence %.3f arousal %.3f; bright fast-cut clip valence %.3f arousal %.3f\n",
      dv, da, bv, ba);
  fail_unless (dv < 0 && da < 0, "dark static clip: %f %f", dv, da);
  fail_unless (bv > 0 && ba > 0, "bright fast-cut clip: %f %f", bv, ba);
}
GST_END_TEST;

/* Runs a few static frames of one colour and returns the held value (no smoothing). */
static void
static_colour (const gchar *format, guint8 r, guint8 g, guint8 b, gfloat *v, gfloat *a)
{
  GstVideoInfo info;
  GstHarness *h = new_harness ("emsyncemotion face-model=none smoothing=0", format, 64, 48, &info);
  for (guint64 i = 0; i < 10; i++) {
    gst_harness_push (h, make_frame (&info, r, g, b, -1, i));
    drain_buffers (h, v, a, NULL);
  }
  gst_harness_teardown (h);
}

GST_START_TEST (test_brightness_sweep)
{
  /* Valdez & Mehrabian through the element: brighter (same saturation) -> higher valence, lower arousal. */
  gfloat prev_v = -2, prev_a = 2;
  for (int level = 30; level <= 230; level += 50) {
    gfloat v = 0, a = 0;
    static_colour ("RGB", level, level, level, &v, &a);
    g_print ("grey level %d: valence %.3f arousal %.3f\n", level, v, a);
    fail_unless (v > prev_v && a < prev_a, "brightness %d: valence %f arousal %f", level, v, a);
    prev_v = v;
    prev_a = a;
  }
}
GST_END_TEST;

GST_START_TEST (test_saturation_sweep)
{
  /* More saturated (about the same brightness) -> higher valence and higher arousal. */
  gfloat prev_v = -2, prev_a = -2;
  for (int chroma = 0; chroma <= 120; chroma += 30) {
    gfloat v = 0, a = 0;
    static_colour ("RGB", 128 + chroma, 128 - chroma / 2, 128 - chroma / 2, &v, &a);
    g_print ("chroma %d: valence %.3f arousal %.3f\n", chroma, v, a);
    fail_unless (v > prev_v && a > prev_a, "chroma %d: valence %f arousal %f", chroma, v, a);
    prev_v = v;
    prev_a = a;
  }
}
GST_END_TEST;

static GList *
pull_emotion_events (GstHarness *h)
{
  GList *list = NULL;
  GstEvent *ev;
  while ((ev = gst_harness_try_pull_event (h))) {
    if (emsync_emotion_event_is (ev)) {
      EmsyncEmotion *e = g_new0 (EmsyncEmotion, 1);
      fail_unless (emsync_emotion_event_parse (ev, e));
      list = g_list_append (list, e);
    }
    gst_event_unref (ev);
  }
  return list;
}

GST_START_TEST (test_events_only_on_step)
{
  GstVideoInfo info;
  GstHarness *h = new_harness ("emsyncemotion face-model=none step=0.1 smoothing=1", "I420", 96, 64, &info);
  GList *events = NULL;
  gfloat last_v = 0, last_a = 0;
  /* brightness ramps up and back down over 12 s */
  for (guint64 i = 0; i < 12 * FPS; i++) {
    double phase = (double) i / (12 * FPS);
    int level = (int) (20 + 215 * (phase < 0.5 ? 2 * phase : 2 - 2 * phase));
    gst_harness_push (h, make_frame (&info, level, level, level / 2, -1, i));
    drain_buffers (h, &last_v, &last_a, NULL);
    events = g_list_concat (events, pull_emotion_events (h));
    /* the stream's meta never strays more than a step from the last event */
    EmsyncEmotion *latest = (EmsyncEmotion *) g_list_last (events)->data;
    fail_unless (
        fabs (latest->valence - last_v) <= 0.1 + 1e-6 && fabs (latest->arousal - last_a) <= 0.1 + 1e-6);
  }
  guint n = g_list_length (events);
  g_print ("%u emotion events for a 12 s brightness ramp (step 0.1)\n", n);
  fail_unless (n >= 3 && n < 40, "%u events", n);
  for (GList *l = events; l && l->next; l = l->next) {
    EmsyncEmotion *a = (EmsyncEmotion *) l->data, *b = (EmsyncEmotion *) l->next->data;
    fail_unless (fabs (a->valence - b->valence) > 0.1 || fabs (a->arousal - b->arousal) > 0.1,
        "event without a move > step");
    fail_unless (b->timestamp > a->timestamp);
  }
  g_list_free_full (events, g_free);
  gst_harness_teardown (h);

  /* Constant content: one event only. */
  h = new_harness ("emsyncemotion face-model=none", "I420", 96, 64, &info);
  for (guint64 i = 0; i < 4 * FPS; i++) {
    gst_harness_push (h, make_frame (&info, 120, 120, 120, -1, i));
    drain_buffers (h, NULL, NULL, NULL);
  }
  events = pull_emotion_events (h);
  fail_unless_equals_int (g_list_length (events), 1);
  g_list_free_full (events, g_free);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_messages_rate_limited)
{
  GstVideoInfo info;
  GstHarness *h = new_harness ("emsyncemotion face-model=none interval=0", "I420", 96, 64, &info);
  GstBus *bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  guint analysed = 0;
  for (guint64 i = 0; i < 3 * FPS; i++) {
    gst_harness_push (h, make_frame (&info, (i * 7) % 255, 100, 50, -1, i));
    drain_buffers (h, NULL, NULL, &analysed);
  }
  fail_unless_equals_int (analysed, 3 * FPS); /* interval=0: every frame analysed */
  guint n = 0;
  guint64 prev = 0;
  GstMessage *msg;
  while ((msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT))) {
    const GstStructure *s = gst_message_get_structure (msg);
    if (gst_structure_has_name (s, "emsync-emotion")) {
      guint64 ts;
      gdouble v, a, c;
      fail_unless (gst_structure_get_uint64 (s, "timestamp", &ts));
      fail_unless (gst_structure_get_double (s, "valence", &v) && gst_structure_get_double (s, "arousal", &a)
          && gst_structure_get_double (s, "confidence", &c));
      fail_unless (v >= -1 && v <= 1 && a >= -1 && a <= 1 && c > 0 && c <= 1);
      if (n > 0)
        fail_unless (ts - prev >= 250 * GST_MSECOND, "messages %" G_GUINT64_FORMAT " ns apart", ts - prev);
      prev = ts;
      n++;
    }
    gst_message_unref (msg);
  }
  g_print ("%u messages for 3 s analysed at every frame\n", n);
  fail_unless (n >= 10 && n <= 13, "%u messages", n);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);

  /* post-messages=false: none. */
  h = new_harness ("emsyncemotion face-model=none post-messages=false", "I420", 96, 64, &info);
  bus = gst_bus_new ();
  gst_element_set_bus (h->element, bus);
  for (guint64 i = 0; i < FPS; i++)
    gst_harness_push (h, make_frame (&info, 100, 100, 100, -1, i));
  fail_unless (gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT) == NULL);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

static GString *order;

static GstPadProbeReturn
order_probe (GstPad *pad, GstPadProbeInfo *info, gpointer user_data)
{
  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER)
    g_string_append_c (order, 'B');
  else if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (emsync_emotion_event_is (ev))
      g_string_append_c (order, 'E');
  }
  return GST_PAD_PROBE_OK;
}

GST_START_TEST (test_global_mode)
{
  GstVideoInfo info;
  GstHarness *h = new_harness ("emsyncemotion face-model=none mode=global", "I420", 96, 64, &info);
  order = g_string_new (NULL);
  gst_pad_add_probe (h->sinkpad, GST_PAD_PROBE_TYPE_DATA_DOWNSTREAM, order_probe, NULL, NULL);
  for (guint64 i = 0; i < 4 * FPS; i++) {
    int level = i < 2 * FPS ? 20 : 230;
    fail_unless_equals_int (
        gst_harness_push (h, make_frame (&info, level, level, level, -1, i)), GST_FLOW_OK);
  }
  /* everything is held until EOS */
  fail_unless_equals_int (gst_harness_buffers_received (h), 0);
  fail_unless (strchr (order->str, 'E') == NULL);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 4 * FPS);
  /* one event, before the first frame */
  fail_unless (order->str[0] == 'E', "order %s", order->str);
  fail_unless (strchr (order->str + 1, 'E') == NULL);
  GList *events = pull_emotion_events (h);
  fail_unless_equals_int (g_list_length (events), 1);
  EmsyncEmotion *e = (EmsyncEmotion *) events->data;
  fail_unless_equals_uint64 (e->timestamp, 0);
  GstBuffer *out;
  guint n = 0, analysed = 0;
  while ((out = gst_harness_try_pull (h))) {
    EmsyncEmotionMeta *m = emsync_buffer_get_emotion_meta (out);
    fail_unless (m != NULL);
    fail_unless (fabs (m->valence - e->valence) < 1e-5 && fabs (m->arousal - e->arousal) < 1e-5);
    fail_unless_equals_uint64 (m->window_start, 0);
    fail_unless_equals_uint64 (m->window_end, (4 * FPS - 1) * FRAME_DUR);
    analysed += m->analysed;
    gst_buffer_unref (out);
    n++;
  }
  fail_unless_equals_int (n, 4 * FPS);
  fail_unless (analysed >= 15 && analysed <= 17);
  /* the mean of a dark half and a bright half sits between them */
  g_print ("global mode: valence %.3f arousal %.3f confidence %.2f\n", e->valence, e->arousal, e->confidence);
  g_list_free_full (events, g_free);
  g_string_free (order, TRUE);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_formats_and_sizes)
{
  const gchar *formats[] = { "I420", "NV12", "YUY2", "UYVY", "Y444", "RGB", "BGRx", "ARGB", "GRAY8", "AYUV" };
  gfloat ref_v = 0;
  for (guint f = 0; f < G_N_ELEMENTS (formats); f++) {
    GstVideoInfo info;
    GstHarness *h = new_harness ("emsyncemotion face-model=none smoothing=0", formats[f], 161, 97, &info);
    gfloat v = 0, a = 0;
    for (guint64 i = 0; i < 10; i++) {
      fail_unless_equals_int (gst_harness_push (h, make_frame (&info, 200, 180, 60, -1, i)), GST_FLOW_OK);
      fail_unless_equals_int (drain_buffers (h, &v, &a, NULL), 1);
    }
    if (f == 0)
      ref_v = v;
    /* grey drops the saturation, the others agree */
    if (strcmp (formats[f], "GRAY8") != 0)
      fail_unless (fabs (v - ref_v) < 0.05, "%s: valence %f vs I420 %f", formats[f], v, ref_v);
    gst_harness_teardown (h);
  }
}
GST_END_TEST;

GST_START_TEST (test_flush_restarts)
{
  GstVideoInfo info;
  GstHarness *h = new_harness ("emsyncemotion face-model=none", "I420", 96, 64, &info);
  for (guint64 i = 0; i < 20; i++)
    gst_harness_push (h, make_frame (&info, 30, 30, 30, -1, i));
  drain_buffers (h, NULL, NULL, NULL);
  gst_harness_push_event (h, gst_event_new_flush_start ());
  gst_harness_push_event (h, gst_event_new_flush_stop (TRUE));
  GstSegment seg;
  gst_segment_init (&seg, GST_FORMAT_TIME);
  gst_harness_push_event (h, gst_event_new_segment (&seg));
  gst_harness_push (h, make_frame (&info, 230, 230, 230, -1, 0));
  GstBuffer *out = gst_harness_pull (h);
  EmsyncEmotionMeta *m = emsync_buffer_get_emotion_meta (out);
  fail_unless (m && m->analysed && m->valence > 0, "after a flush the first frame is analysed afresh");
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Runs `launch` and returns the error message text (NULL when it played to EOS without error). */
static gchar *
run_for_error (const gchar *launch)
{
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (launch, &err);
  fail_unless (pipe != NULL && err == NULL);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipe);
  GstMessage *msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND, GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  gchar *text = NULL;
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &e, &dbg);
    text = g_strdup_printf ("%s | %s", e->message, dbg ? dbg : "");
    g_error_free (e);
    g_free (dbg);
  }
  if (msg)
    gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);
  return text;
}

/* Whether this process has libtorch mapped. */
static gboolean
libtorch_loaded (void)
{
  gchar *maps = NULL;
  fail_unless (g_file_get_contents ("/proc/self/maps", &maps, NULL, NULL));
  gboolean loaded = strstr (maps, "libtorch_cpu") != NULL;
  g_free (maps);
  return loaded;
}

/* emsyncemotion (plugin emsyncaffect) runs its face model without libtorch; only `model-file` loads it. */
GST_START_TEST (test_no_libtorch_without_model_file)
{
  if (libtorch_loaded ()) {
    g_print ("SKIP: libtorch already loaded in this process (CK_FORK=no?)\n");
    return;
  }
  gchar *text = run_for_error ("videotestsrc num-buffers=10 ! emsyncemotion ! fakesink");
  fail_unless (text == NULL, "emsyncemotion failed: %s", text);
  fail_if (libtorch_loaded (), "emsyncemotion without model-file loaded libtorch");
  if (!EMSYNC_HAVE_FUSION_MODULE)
    return; /* built without the torch option: no module that would load it */
  gchar *tiny = g_build_filename (EMSYNC_TEST_DATA, "tiny_fusion.pt", NULL);
  gchar *launch =
      g_strdup_printf ("videotestsrc num-buffers=10 ! emsyncemotion model-file=\"%s\" ! fakesink", tiny);
  text = run_for_error (launch);
  fail_unless (text == NULL, "tiny fusion model failed: %s", text);
  fail_unless (libtorch_loaded (), "a fusion model ran without libtorch?");
  g_free (launch);
  g_free (tiny);
}
GST_END_TEST;

/* A fusion model without emsync's TorchScript module is a clear error naming both files. */
GST_START_TEST (test_fusion_module_missing)
{
  if (libtorch_loaded ()) {
    g_print ("SKIP: the fusion module is already open in this process (CK_FORK=no?)\n");
    return;
  }
  const gchar *absent = "/nonexistent/libemsync-fusion-torch.so";
  gchar *old = g_strdup (g_getenv ("EMSYNC_FUSION_MODULE"));
  g_setenv ("EMSYNC_FUSION_MODULE", absent, TRUE);
  gchar *tiny = g_build_filename (EMSYNC_TEST_DATA, "tiny_fusion.pt", NULL);
  gchar *launch =
      g_strdup_printf ("videotestsrc num-buffers=5 ! emsyncemotion face-model=none model-file=\"%s\" "
                       "! fakesink",
          tiny);
  gchar *text = run_for_error (launch);
  fail_unless (text != NULL, "no error without the fusion module");
  g_print ("fusion module error: %s\n", text);
  fail_unless (strstr (text, tiny) != NULL && strstr (text, absent) != NULL,
      "error does not name the files: %s", text);
  if (old)
    g_setenv ("EMSYNC_FUSION_MODULE", old, TRUE);
  else
    g_unsetenv ("EMSYNC_FUSION_MODULE");
  g_free (old);
  g_free (text);
  g_free (launch);
  g_free (tiny);
}
GST_END_TEST;

GST_START_TEST (test_errors)
{
  gchar *dir = g_dir_make_tmp ("emsync-emotion-XXXXXX", NULL);
  gchar *missing = g_build_filename (dir, "absent", "emotion.json", NULL);
  gchar *broken = g_build_filename (dir, "broken.json", NULL);
  g_file_set_contents (broken, "{ not json", -1, NULL);
  gchar *missing_pt = g_build_filename (dir, "absent.pt", NULL);
  gchar *corrupt_pt = g_build_filename (EMSYNC_TEST_DATA, "corrupt_fusion.pt", NULL);
  const gchar *files[] = { missing, broken };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *launch =
        g_strdup_printf ("videotestsrc num-buffers=5 ! emsyncemotion face-model=\"%s\" ! fakesink", files[i]);
    gchar *text = run_for_error (launch);
    fail_unless (text != NULL, "no error for face-model=%s", files[i]);
    fail_unless (strstr (text, files[i]) != NULL, "error does not name %s: %s", files[i], text);
    g_print ("face-model error: %s\n", text);
    g_free (text);
    g_free (launch);
  }
  const gchar *pts[] = { missing_pt, corrupt_pt };
  for (guint i = 0; i < G_N_ELEMENTS (pts); i++) {
    gchar *launch =
        g_strdup_printf ("videotestsrc num-buffers=5 ! emsyncemotion face-model=none model-file=\"%s\" "
                         "! fakesink",
            pts[i]);
    gchar *text = run_for_error (launch);
    fail_unless (text != NULL && strstr (text, pts[i]) != NULL, "model-file error for %s: %s", pts[i], text);
    g_free (text);
    g_free (launch);
  }
  /* A valid fusion model runs (when the torch option built its module). */
  gchar *tiny = g_build_filename (EMSYNC_TEST_DATA, "tiny_fusion.pt", NULL);
  gchar *launch =
      g_strdup_printf ("videotestsrc num-buffers=20 ! emsyncemotion face-model=none model-file=\"%s\" "
                       "! fakesink",
          tiny);
  gchar *text = run_for_error (launch);
  if (EMSYNC_HAVE_FUSION_MODULE)
    fail_unless (text == NULL, "tiny fusion model failed: %s", text);
  else /* built without the torch option: a clear error naming the module that is not there */
    fail_unless (text != NULL && strstr (text, "libemsync-fusion-torch.so") != NULL,
        "fusion model without the module: %s", text);
  g_free (text);
  g_free (launch);
  g_free (tiny);
  g_unlink (broken);
  g_rmdir (dir);
  g_free (dir);
  g_free (missing);
  g_free (broken);
  g_free (missing_pt);
  g_free (corrupt_pt);
}
GST_END_TEST;

static gchar *
face_model_path (void)
{
  gchar *p = g_build_filename (EMSYNC_SOURCE_ROOT, "third_party", "npm", "node_modules", "@vladmandic",
      "human", "models", "emotion.json", NULL);
  if (g_file_test (p, G_FILE_TEST_EXISTS))
    return p;
  g_free (p);
  return NULL;
}

typedef struct {
  guint64 start;
  guint analyses, with_faces;
  guint expressions[8];
  double valence_sum, arousal_sum;
} Shot;

static const gchar *expression_names[] = { "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
  "none" };

static void
print_shot (const Shot *s, guint64 end)
{
  if (s->analyses == 0)
    return;
  GString *hist = g_string_new (NULL);
  for (int i = 0; i < 7; i++)
    if (s->expressions[i])
      g_string_append_printf (hist, " %s:%u", expression_names[i], s->expressions[i]);
  g_print ("  shot %6.2f-%6.2f s: %2u analyses, %2u with faces;%s; mean valence %+.2f arousal %+.2f\n",
      (double) s->start / GST_SECOND, (double) end / GST_SECOND, s->analyses, s->with_faces,
      hist->len ? hist->str : " no faces", s->valence_sum / s->analyses, s->arousal_sum / s->analyses);
  g_string_free (hist, TRUE);
}

/* Per-shot expression results on a clip that a Debian package ships (opencv-doc). */
GST_START_TEST (test_megamind_per_shot)
{
  const gchar *clip = "/usr/share/doc/opencv-doc/examples/data/Megamind.avi";
  gchar *model = face_model_path ();
  if (!g_file_test (clip, G_FILE_TEST_EXISTS) || !model) {
    g_print (
        "SKIP: needs %s (apt install opencv-doc) and the face model (scripts/install-face-model.sh)\n", clip);
    g_free (model);
    return;
  }
  gchar *launch = g_strdup_printf ("filesrc location=%s ! decodebin ! videoconvert ! emsyncscenecut ! "
                                   "emsyncemotion face-model=\"%s\" smoothing=0 ! fakesink",
      clip, model);
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (launch, &err);
  fail_unless (pipe != NULL, "%s", err ? err->message : "");
  GstBus *bus = gst_element_get_bus (pipe);
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  Shot shot = { 0 };
  guint total = 0, total_faces = 0;
  g_print ("Megamind.avi, per shot (emsyncscenecut shots; expression of the largest face per analysis):\n");
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop_filtered (
        bus, 120 * GST_SECOND, GST_MESSAGE_ELEMENT | GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
    fail_unless (msg != NULL, "timeout");
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *e;
      gst_message_parse_error (msg, &e, NULL);
      fail ("pipeline error: %s", e->message);
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      gst_message_unref (msg);
      break;
    }
    const GstStructure *s = gst_message_get_structure (msg);
    guint64 ts = 0;
    gst_structure_get_uint64 (s, "timestamp", &ts);
    if (gst_structure_has_name (s, "emsync-scene-cut")) {
      print_shot (&shot, ts);
      memset (&shot, 0, sizeof shot);
      shot.start = ts;
    } else if (gst_structure_has_name (s, "emsync-emotion")) {
      const gchar *expr = gst_structure_get_string (s, "expression");
      guint faces = 0;
      gdouble v = 0, a = 0;
      gst_structure_get_uint (s, "faces", &faces);
      gst_structure_get_double (s, "valence", &v);
      gst_structure_get_double (s, "arousal", &a);
      shot.analyses++;
      total++;
      shot.valence_sum += v;
      shot.arousal_sum += a;
      if (faces > 0) {
        shot.with_faces++;
        total_faces++;
        for (int i = 0; i < 7; i++)
          if (g_strcmp0 (expr, expression_names[i]) == 0)
            shot.expressions[i]++;
      }
    }
    gst_message_unref (msg);
  }
  gint64 dur = 0;
  gst_element_query_position (pipe, GST_FORMAT_TIME, &dur);
  print_shot (&shot, (guint64) dur);
  g_print ("Megamind.avi: %u analyses, %u with faces\n", total, total_faces);
  fail_unless (total > 10);
  fail_unless (total_faces > 0, "no face found in Megamind.avi");
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipe);
  g_free (launch);
  g_free (model);
}
GST_END_TEST;

static Suite *
emsyncemotion_suite (void)
{
  Suite *s = suite_create ("emsyncemotion");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_meta_on_every_buffer);
  tcase_add_test (tc, test_quadrants);
  tcase_add_test (tc, test_brightness_sweep);
  tcase_add_test (tc, test_saturation_sweep);
  tcase_add_test (tc, test_events_only_on_step);
  tcase_add_test (tc, test_messages_rate_limited);
  tcase_add_test (tc, test_global_mode);
  tcase_add_test (tc, test_formats_and_sizes);
  tcase_add_test (tc, test_flush_restarts);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_no_libtorch_without_model_file);
  tcase_add_test (tc, test_fusion_module_missing);
  tcase_add_test (tc, test_megamind_per_shot);
  return s;
}

GST_CHECK_MAIN (emsyncemotion);
