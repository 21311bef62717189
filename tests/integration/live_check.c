/* Runs a live source through emsyncbin at 1x speed and checks what a broadcaster cares about:
 *  - the pipeline latency equals the generator's lookahead + its processing headroom (+ upstream);
 *  - the audio is continuous (no gap between consecutive buffers, no DISCONT after the first);
 *  - no audio buffer reaches the sink late (QoS messages from the audio sink).
 * Usage: live_check SECONDS [MODEL] — prints the figures, exits 0 when all hold. Used by the test suite
 * (short run) and bench/live/run.sh (10 minutes). */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>

#include "audio_continuity.h"

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  double seconds = argc > 1 ? g_ascii_strtod (argv[1], NULL) : 12.0;
  const char *model = argc > 2 ? argv[2] : NULL;
  int frames = (int) (seconds * 25);
  gchar *desc = g_strdup_printf ("videotestsrc is-live=true num-buffers=%d pattern=ball ! "
                                 "video/x-raw,width=320,height=240,framerate=25/1 ! emsyncbin name=s %s%s "
                                 "s.video ! queue ! fakesink name=vsink sync=true qos=true "
                                 "s.audio ! queue ! audioconvert ! audio/x-raw,format=F32LE,channels=2 ! "
                                 "appsink name=asink sync=true qos=true emit-signals=true",
      frames, model ? "model-file=" : "", model ? model : "");
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
  GstElement *bin = gst_bin_get_by_name (GST_BIN (pipeline), "s");
  guint64 lookahead = 0;
  g_object_get (bin, "lookahead", &lookahead, NULL);

  gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  guint late = 0;
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
  /* On top: the live source's frame (40 ms), emsyncscenecut's lookahead frames and one synth block. */
  ok = ok && queried && latency >= expected && latency <= expected + 300 * GST_MSECOND;
  ok = ok && st.gaps == 0 && st.discont_after_start == 0 && late == 0 && audio_seconds >= seconds - 0.1;
  g_print ("%s\n", ok ? "PASS" : "FAIL");
  gst_object_unref (asink);
  gst_object_unref (bin);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}
