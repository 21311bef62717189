/* Tests for the application-facing library in gst/: metas survive a transform, events and messages
 * round-trip through their new/is/parse helpers. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "gst/emsync.h"

GST_START_TEST (test_scene_cut_event_round_trip)
{
  EmsyncSceneCut cut = { 2 * GST_SECOND, 3 * GST_SECOND, 4 * GST_SECOND, 0.75, EMSYNC_CUT_KIND_DISSOLVE, 7 };
  GstEvent *ev = emsync_scene_cut_event_new (&cut);
  fail_unless (GST_EVENT_IS_SERIALIZED (ev));
  fail_unless (GST_EVENT_IS_DOWNSTREAM (ev));
  fail_unless (emsync_scene_cut_event_is (ev));
  fail_if (emsync_emotion_event_is (ev));

  EmsyncSceneCut parsed;
  memset (&parsed, 0, sizeof parsed);
  fail_unless (emsync_scene_cut_event_parse (ev, &parsed));
  fail_unless_equals_uint64 (parsed.timestamp, 2 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.stream_time, 3 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.running_time, 4 * GST_SECOND);
  fail_unless_equals_float (parsed.score, 0.75);
  fail_unless_equals_int (parsed.kind, EMSYNC_CUT_KIND_DISSOLVE);
  fail_unless_equals_int (parsed.index, 7);
  gst_event_unref (ev);

  /* another custom event is not ours */
  GstEvent *other =
      gst_event_new_custom (GST_EVENT_CUSTOM_DOWNSTREAM, gst_structure_new_empty ("something-else"));
  fail_if (emsync_scene_cut_event_is (other));
  fail_if (emsync_scene_cut_event_parse (other, &parsed));
  gst_event_unref (other);
}
GST_END_TEST;

GST_START_TEST (test_scene_cut_message_uses_stream_time)
{
  EmsyncSceneCut cut = { 10 * GST_SECOND, 12 * GST_SECOND, 11 * GST_SECOND, 0.5, EMSYNC_CUT_KIND_FADE, 1 };
  GstMessage *msg = emsync_scene_cut_message_new (NULL, &cut);
  const GstStructure *s = gst_message_get_structure (msg);
  fail_unless (gst_structure_has_name (s, "emsync-scene-cut"));
  guint64 ts = 0;
  fail_unless (gst_structure_get_uint64 (s, "timestamp", &ts));
  fail_unless_equals_uint64 (ts, 12 * GST_SECOND);
  fail_unless_equals_string (gst_structure_get_string (s, "kind"), "fade");
  EmsyncSceneCut parsed;
  fail_unless (emsync_scene_cut_message_parse (msg, &parsed));
  fail_unless_equals_uint64 (parsed.timestamp, 10 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.running_time, 11 * GST_SECOND);
  gst_message_unref (msg);
}
GST_END_TEST;

GST_START_TEST (test_tempo_message_round_trip)
{
  EmsyncTempoBar bar = { 2 * GST_SECOND, 3 * GST_SECOND, GST_SECOND / 2, 3, TRUE, 4 };
  GstMessage *msg = emsync_tempo_message_new (NULL, &bar);
  const GstStructure *s = gst_message_get_structure (msg);
  fail_unless (gst_structure_has_name (s, "emsync-tempo"));
  gdouble bpm = 0.0;
  fail_unless (gst_structure_get_double (s, "bpm", &bpm));
  fail_unless_equals_float (bpm, 120.0);
  EmsyncTempoBar parsed;
  fail_unless (emsync_tempo_message_parse (msg, &parsed));
  fail_unless_equals_uint64 (parsed.stream_time, 2 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.running_time, 3 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.beat_duration, GST_SECOND / 2);
  fail_unless_equals_int (parsed.beats, 3);
  fail_unless (parsed.on_cut);
  fail_unless_equals_int (parsed.index, 4);
  gst_message_unref (msg);
  /* Another element message is not a tempo bar. */
  GstMessage *other = gst_message_new_element (NULL, gst_structure_new_empty ("emsync-emotion"));
  fail_if (emsync_tempo_message_parse (other, &parsed));
  gst_message_unref (other);

  /* The same bar as a serialized downstream event, at a PTS of its stream. */
  GstEvent *event = emsync_tempo_event_new (7 * GST_SECOND, &bar);
  fail_unless (GST_EVENT_IS_SERIALIZED (event) && GST_EVENT_IS_DOWNSTREAM (event));
  GstClockTime pts = 0;
  fail_unless (emsync_tempo_event_parse (event, &pts, &parsed));
  fail_unless_equals_uint64 (pts, 7 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.beat_duration, GST_SECOND / 2);
  fail_unless_equals_int (parsed.beats, 3);
  fail_unless (parsed.on_cut);
  fail_unless_equals_int (parsed.index, 4);
  fail_unless (!GST_CLOCK_TIME_IS_VALID (parsed.stream_time));
  gst_event_unref (event);
  fail_unless_equals_float (emsync_tempo_bar_length_beats (&parsed), 3.0);
  parsed.half_beat = TRUE;
  fail_unless_equals_float (emsync_tempo_bar_length_beats (&parsed), 3.5);
  /* A bar of no beats is no bar. */
  bar.beats = 0;
  event = emsync_tempo_event_new (GST_SECOND, &bar);
  fail_if (emsync_tempo_event_parse (event, NULL, NULL));
  gst_event_unref (event);
}
GST_END_TEST;

GST_START_TEST (test_emotion_event_is_sticky)
{
  EmsyncEmotion e = { GST_SECOND, -0.25, 0.5, 0.9 };
  GstEvent *ev = emsync_emotion_event_new (&e);
  fail_unless (GST_EVENT_IS_STICKY (ev));
  fail_unless (emsync_emotion_event_is (ev));
  EmsyncEmotion parsed;
  fail_unless (emsync_emotion_event_parse (ev, &parsed));
  fail_unless_equals_float (parsed.valence, -0.25);
  fail_unless_equals_float (parsed.arousal, 0.5);
  fail_unless_equals_float (parsed.confidence, 0.9);
  fail_unless_equals_uint64 (parsed.timestamp, GST_SECOND);
  gst_event_unref (ev);
}
GST_END_TEST;

GST_START_TEST (test_emotion_message_round_trip)
{
  EmsyncEmotionReport report = { { 10 * GST_SECOND, 0.25, -0.75, 0.6 }, 12 * GST_SECOND, 11 * GST_SECOND, 2,
    "happy" };
  GstMessage *msg = emsync_emotion_message_new (NULL, &report);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_ELEMENT);
  const GstStructure *s = gst_message_get_structure (msg);
  fail_unless (gst_structure_has_name (s, "emsync-emotion"));
  /* the fields gst-launch -m users read: "timestamp" is stream time */
  guint64 ts = 0;
  fail_unless (gst_structure_get_uint64 (s, "timestamp", &ts));
  fail_unless_equals_uint64 (ts, 12 * GST_SECOND);
  fail_unless_equals_string (gst_structure_get_string (s, "expression"), "happy");

  EmsyncEmotionReport parsed;
  memset (&parsed, 0, sizeof parsed);
  fail_unless (emsync_emotion_message_parse (msg, &parsed));
  fail_unless_equals_uint64 (parsed.emotion.timestamp, 10 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.stream_time, 12 * GST_SECOND);
  fail_unless_equals_uint64 (parsed.running_time, 11 * GST_SECOND);
  fail_unless_equals_float (parsed.emotion.valence, 0.25);
  fail_unless_equals_float (parsed.emotion.arousal, -0.75);
  fail_unless_equals_float (parsed.emotion.confidence, 0.6);
  fail_unless_equals_int (parsed.faces, 2);
  fail_unless_equals_string (parsed.expression, "happy");

  /* a scene-cut message is not an emotion message, and the reverse */
  EmsyncSceneCut cut = { 0, 0, 0, 0.5, EMSYNC_CUT_KIND_CUT, 0 };
  GstMessage *cut_msg = emsync_scene_cut_message_new (NULL, &cut);
  fail_if (emsync_emotion_message_parse (cut_msg, &parsed));
  fail_if (emsync_scene_cut_message_parse (msg, &cut));
  gst_message_unref (cut_msg);
  gst_message_unref (msg);
}
GST_END_TEST;

/* Metas registered without tags must be copied by a GstBaseTransform that copies buffers. */
GST_START_TEST (test_metas_survive_transform)
{
  GstHarness *h = gst_harness_new_parse ("videoconvert ! capsfilter caps=video/x-raw,format=RGB");
  gst_harness_set_src_caps_str (h, "video/x-raw,format=I420,width=64,height=48,framerate=25/1");
  GstBuffer *buf = gst_harness_create_buffer (h, 64 * 48 * 3 / 2);
  gst_buffer_memset (buf, 0, 0x80, 64 * 48 * 3 / 2);
  GST_BUFFER_PTS (buf) = 0;
  emsync_buffer_add_scene_cut_meta (buf, 3.5, EMSYNC_CUT_KIND_CUT, 2, 0, 0);
  emsync_buffer_add_emotion_meta (buf, 0.5f, -0.5f, 0.8f, 0, 0, TRUE);
  fail_unless_equals_int (gst_harness_push (h, buf), GST_FLOW_OK);
  GstBuffer *out = gst_harness_pull (h);
  EmsyncSceneCutMeta *cm = emsync_buffer_get_scene_cut_meta (out);
  fail_unless (cm != NULL);
  fail_unless_equals_float (cm->score, 3.5);
  fail_unless_equals_int (cm->index, 2);
  EmsyncEmotionMeta *em = emsync_buffer_get_emotion_meta (out);
  fail_unless (em != NULL);
  fail_unless_equals_float (em->valence, 0.5f);
  fail_unless_equals_float (em->arousal, -0.5f);
  fail_unless (em->analysed);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
gstlib_suite (void)
{
  Suite *s = suite_create ("gstlib");
  TCase *tc = tcase_create ("general");
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_scene_cut_event_round_trip);
  tcase_add_test (tc, test_scene_cut_message_uses_stream_time);
  tcase_add_test (tc, test_emotion_event_is_sticky);
  tcase_add_test (tc, test_tempo_message_round_trip);
  tcase_add_test (tc, test_emotion_message_round_trip);
  tcase_add_test (tc, test_metas_survive_transform);
  return s;
}

GST_CHECK_MAIN (gstlib);
