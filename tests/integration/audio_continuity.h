/* Audio continuity of a live run, counted in an appsink's new-sample callback (F32LE stereo): buffers, gaps or
 * overlaps of more than 1 ms between consecutive buffers, DISCONT flags after the first buffer, samples; and the
 * bus loop's message handling of such a run. Shared by live_check and the soak (tests/lifecycle/soak_check.c);
 * read the figures once the pipeline has stopped. */
#ifndef EMSYNC_TESTS_AUDIO_CONTINUITY_H
#define EMSYNC_TESTS_AUDIO_CONTINUITY_H

#include <gst/gst.h>
#include <gst/app/gstappsink.h>

typedef struct {
  GstClockTime next_pts;
  guint64 buffers, gaps, discont_after_start;
  GstClockTime max_gap;
  guint64 samples;
  gint rate;
} AudioStats;

static inline GstFlowReturn
on_sample (GstAppSink *sink, gpointer data)
{
  AudioStats *st = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  GstBuffer *buf = gst_sample_get_buffer (sample);
  if (!st->rate) {
    GstStructure *s = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
    gst_structure_get_int (s, "rate", &st->rate);
  }
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (st->buffers > 0) {
    GstClockTimeDiff d = GST_CLOCK_DIFF (st->next_pts, pts);
    if (ABS (d) > GST_MSECOND) { /* more than a millisecond off: a gap or an overlap */
      st->gaps++;
      st->max_gap = MAX (st->max_gap, (GstClockTime) ABS (d));
    }
    if (GST_BUFFER_FLAG_IS_SET (buf, GST_BUFFER_FLAG_DISCONT))
      st->discont_after_start++;
  }
  st->next_pts = pts + GST_BUFFER_DURATION (buf);
  st->samples += gst_buffer_get_size (buf) / 8;
  st->buffers++;
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

/* One bus message of a live run: counts the audio sink's QoS (late) messages; returns FALSE once the run is over
 * (EOS, or an error, which is printed and clears *ok). Takes the message. */
static inline gboolean
live_run_message (GstMessage *msg, GstElement *asink, guint *late, gboolean *ok)
{
  gboolean go_on = TRUE;
  GstMessageType t = GST_MESSAGE_TYPE (msg);
  if (t == GST_MESSAGE_QOS && GST_MESSAGE_SRC (msg) == GST_OBJECT (asink)) {
    (*late)++;
  } else if (t == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gst_message_parse_error (msg, &e, NULL);
    g_printerr ("error from %s: %s\n", GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), e->message);
    g_error_free (e);
    *ok = FALSE;
    go_on = FALSE;
  } else if (t == GST_MESSAGE_EOS) {
    go_on = FALSE;
  }
  gst_message_unref (msg);
  return go_on;
}

#endif
