/* Runs a live source through emsyncbin at 1x speed and checks what a broadcaster cares about:
 *  - the pipeline latency equals the generator's lookahead + its processing headroom (+ upstream);
 *  - the audio is continuous (no gap between consecutive buffers, no DISCONT after the first);
 *  - no audio buffer reaches the sink late (QoS messages from the audio sink).
 * Usage: live_check SECONDS [MODEL [WIDTHxHEIGHT@FPS [LATE_MS]]] — prints the figures, exits 0 when all hold
 * (MODEL "" for the shipped one; the video 320x240@25 unless given). The sinks keep their default max-lateness
 * (they never drop, so their QoS count stays 0 unless that changes); with LATE_MS every buffer is also timed as
 * it reaches a sink, and one that arrives more than LATE_MS after the clock time it is due at counts as late
 * (and fails the run). Used by the test suite (short run), bench/live/run.sh (10 minutes) and bench/scale/run.sh
 * (several at once, 1280x720@30, 20 ms: the lateness GStreamer's video sinks drop at). */
#include <stdio.h>

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/base/gstbasesink.h>

#include "audio_continuity.h"

/* Arrival times at one sink: how many buffers came later than `threshold` after their due time, the worst. */
typedef struct {
  GstElement *pipeline, *sink;
  GstClockTimeDiff threshold, worst;
  guint late, timed;
} Arrivals;

static GstPadProbeReturn
on_sink_buffer (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  Arrivals *a = (Arrivals *) data;
  GstBuffer *buf = GST_PAD_PROBE_INFO_BUFFER (info);
  GstClock *clock = gst_element_get_clock (a->pipeline);
  GstEvent *seg_event = gst_pad_get_sticky_event (pad, GST_EVENT_SEGMENT, 0);
  if (clock && seg_event && GST_BUFFER_PTS_IS_VALID (buf)) {
    const GstSegment *seg;
    gst_event_parse_segment (seg_event, &seg);
    guint64 running = gst_segment_to_running_time (seg, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
    /* Due: when the sink renders it, base time + running time + the latency the pipeline gave the sinks. */
    GstClockTime latency = gst_base_sink_get_latency (GST_BASE_SINK (a->sink));
    GstClockTime due = gst_element_get_base_time (a->pipeline) + running + latency;
    GstClockTimeDiff lateness = GST_CLOCK_DIFF (due, gst_clock_get_time (clock));
    /* Not timed: a sink's first buffer in a live pipeline, which it holds as its preroll until the pipeline has
     * set the latency (none yet when it arrives). */
    if (GST_CLOCK_TIME_IS_VALID (running) && latency > 0) {
      a->timed++;
      if (a->timed == 1 || lateness > a->worst)
        a->worst = lateness;
      if (lateness > a->threshold)
        a->late++;
    }
  }
  if (seg_event)
    gst_event_unref (seg_event);
  if (clock)
    gst_object_unref (clock);
  return GST_PAD_PROBE_OK;
}

static void
time_arrivals (Arrivals *a)
{
  GstPad *pad = gst_element_get_static_pad (a->sink, "sink");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_sink_buffer, a, NULL);
  gst_object_unref (pad);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 12.0;
  const char *model = argc > 2 && argv[2][0] ? argv[2] : NULL;
  int width = 320, height = 240, fps = 25;
  if (argc > 3
      && (sscanf (argv[3], "%dx%d@%d", &width, &height, &fps) != 3 || width < 16 || height < 16 || fps < 1)) {
    g_printerr ("live_check: video '%s': expected WIDTHxHEIGHT@FPS, e.g. 1280x720@30\n", argv[3]);
    return 2;
  }
  gboolean timing = argc > 4;
  GstClockTimeDiff late_after = timing ? g_ascii_strtoll (argv[4], NULL, 10) * GST_MSECOND : 0;
  int frames = (int) (seconds * fps);
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true num-buffers=%d pattern=ball ! "
                                 "video/x-raw,width=%d,height=%d,framerate=%d/1 ! emsyncbin name=s %s%s "
                                 "s.video ! queue ! fakesink name=vsink sync=true qos=true "
                                 "s.audio ! queue ! audioconvert ! audio/x-raw,format=F32LE,channels=2 ! "
                                 "appsink name=asink sync=true qos=true emit-signals=true",
      frames, width, height, fps, model ? "model-file=" : "", model ? model : "");
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("pipeline: %s\n", err->message);
    return 2;
  }
  AudioStats st = { 0 };
  GstElement *asink = gst_bin_get_by_name (GST_BIN (pipeline), "asink");
  g_signal_connect (asink, "new-sample", G_CALLBACK (on_sample), &st);
  GstElement *vsink = gst_bin_get_by_name (GST_BIN (pipeline), "vsink");
  Arrivals audio_arrivals = { pipeline, asink, late_after, 0, 0, 0 };
  Arrivals video_arrivals = { pipeline, vsink, late_after, 0, 0, 0 };
  if (timing) {
    time_arrivals (&audio_arrivals);
    time_arrivals (&video_arrivals);
  }
  GstElement *bin = gst_bin_get_by_name (GST_BIN (pipeline), "s");
  guint64 lookahead = 0;
  g_object_get (bin, "lookahead", &lookahead, NULL);

  gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  guint late = 0, late_video = 0;
  gboolean ok = TRUE, queried = FALSE;
  GstClockTime latency = GST_CLOCK_TIME_NONE;
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop (bus, 200 * GST_MSECOND);
    if (!queried && GST_STATE (pipeline) == GST_STATE_PLAYING) {
      GstQuery *q = gst_query_new_latency ();
      if (gst_element_query (pipeline, q)) {
        gst_query_parse_latency (q, NULL, &latency, NULL);
        queried = TRUE;
      }
      gst_query_unref (q);
    }
    if (!msg)
      continue;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_QOS && GST_MESSAGE_SRC (msg) == GST_OBJECT (vsink))
      late_video++;
    if (!live_run_message (msg, asink, &late, &ok))
      break;
  }
  double wall = (g_get_monotonic_time () - t0) / 1e6;
  gst_element_set_state (pipeline, GST_STATE_NULL);

  GstClockTime expected = lookahead + 250 * GST_MSECOND;
  double audio_seconds = st.rate ? (double) st.samples / st.rate : 0.0;
  g_print ("live run: %.1f s of video, wall %.1f s\n", seconds, wall);
  g_print ("pipeline latency %" GST_TIME_FORMAT " (lookahead %" GST_TIME_FORMAT
           " + 250 ms headroom = %" GST_TIME_FORMAT ")\n",
      GST_TIME_ARGS (latency), GST_TIME_ARGS (lookahead), GST_TIME_ARGS (expected));
  g_print ("audio: %" G_GUINT64_FORMAT " buffers, %.2f s, %" G_GUINT64_FORMAT " gaps (max %" GST_TIME_FORMAT
           "), %" G_GUINT64_FORMAT " discont, %u late (QoS)\n",
      st.buffers, audio_seconds, st.gaps, GST_TIME_ARGS (st.max_gap), st.discont_after_start, late);
  g_print ("video: %dx%d at %d fps, %u late (QoS)\n", width, height, fps, late_video);
  /* On top: the live source's frame (40 ms), emsyncscenecut's lookahead frames and one synth block. */
  ok = ok && queried && latency >= expected && latency <= expected + 300 * GST_MSECOND;
  ok = ok && st.gaps == 0 && st.discont_after_start == 0 && late == 0 && audio_seconds >= seconds - 0.1;
  if (timing) {
    const struct {
      const char *what;
      const Arrivals *a;
    } sinks[] = { { "audio", &audio_arrivals }, { "video", &video_arrivals } };
    for (guint i = 0; i < G_N_ELEMENTS (sinks); i++)
      g_print ("%s arrivals: %u buffers, %u later than %" G_GINT64_FORMAT " ms after due (worst %+.1f ms)\n",
          sinks[i].what, sinks[i].a->timed, sinks[i].a->late, late_after / GST_MSECOND,
          sinks[i].a->worst / 1e6);
    g_print ("without the arrival times: %s\n", ok ? "PASS" : "FAIL");
    ok = ok && audio_arrivals.late == 0 && video_arrivals.late == 0;
  }
  g_print ("%s\n", ok ? "PASS" : "FAIL");
  gst_object_unref (asink);
  gst_object_unref (vsink);
  gst_object_unref (bin);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}
