/* The soak: a live source through emsyncbin at 1x speed for a long time, its pattern changed every few seconds
 * (scene cuts), with the resident memory sampled and the audio checked for continuity:
 *  - RSS every SAMPLE_S seconds; growth = last sample - the sample at the end of the warm-up, and the slope of a
 *    least-squares line through the samples after the warm-up (MB per hour);
 *  - audio: no gap or overlap between consecutive buffers (> 1 ms), no DISCONT after the first, the audio
 *    covering the video; late buffers (QoS messages of the audio sink) are counted and reported.
 * Usage: soak_check SECONDS [BIN-PROPERTIES...] (e.g. model=tiny); prints a report, exits 0 when the memory
 * growth after the warm-up is under 10 MB and the audio is continuous. Used by bench/soak/run.sh. */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>

#include "tests/integration/audio_continuity.h"
#include "tests/lifecycle/lifecycle_common.h"

#define SAMPLE_S 5.0
#define PATTERN_EVERY_S 7.0
#define GROWTH_GOAL_MB 10.0

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc < 2) {
    g_printerr ("usage: soak_check SECONDS [EMSYNCBIN-PROPERTY=VALUE...]\n");
    return 2;
  }
  double seconds = g_ascii_strtod (argv[1], NULL);
  if (!(seconds >= 10.0)) {
    g_printerr ("soak_check: SECONDS must be at least 10 (got %s)\n", argv[1]);
    return 2;
  }
  GString *props = g_string_new ("");
  for (int i = 2; i < argc; i++)
    g_string_append_printf (props, " %s", argv[i]);
  /* Warm-up: the first fifth of the run, at least 30 s (the queues fill in lookahead + 2 s) and at most 5 minutes,
   * never more than half of it (models, pools, caches and the queues filling). */
  double warmup_s = MIN (seconds / 2.0, CLAMP (seconds / 5.0, 30.0, 300.0));
  int frames = (int) (seconds * 25);
  gchar *desc = g_strdup_printf ("videotestsrc name=vsrc is-live=true num-buffers=%d pattern=ball ! "
                                 "video/x-raw,width=320,height=240,framerate=25/1 ! emsyncbin name=s%s "
                                 "s.video ! queue ! fakesink sync=true qos=true "
                                 "s.audio ! queue ! audioconvert ! audio/x-raw,format=F32LE,channels=2 ! "
                                 "appsink name=asink sync=true qos=true emit-signals=true",
      frames, props->str);
  g_string_free (props, TRUE);
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  if (!pipeline || err) {
    g_printerr ("soak_check: pipeline %s: %s\n", desc, err ? err->message : "?");
    return 2;
  }
  g_free (desc);
  AudioStats st = { 0 };
  GstElement *asink = gst_bin_get_by_name (GST_BIN (pipeline), "asink");
  g_signal_connect (asink, "new-sample", G_CALLBACK (on_sample), &st);
  GstElement *vsrc = gst_bin_get_by_name (GST_BIN (pipeline), "vsrc");
  GstElement *bin = gst_bin_get_by_name (GST_BIN (pipeline), "s");
  GstElement *scenecut = gst_bin_get_by_name (GST_BIN (bin), "scenecut");

  /* Patterns that differ enough from each other to read as cuts. */
  static const char *const patterns[] = { "smpte", "ball", "checkers-8", "circular", "pinwheel", "gradient",
    "spokes", "bar", "colors" };
  GArray *t_s = g_array_new (FALSE, FALSE, sizeof (double));
  GArray *rss = g_array_new (FALSE, FALSE, sizeof (double));
  double start_mb = lifecycle_rss_mb ();
  gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  guint late = 0, pattern_changes = 0;
  gboolean ok = TRUE;
  double next_sample = 0.0, next_pattern = PATTERN_EVERY_S;
  for (;;) {
    GstMessage *msg = gst_bus_timed_pop (bus, 200 * GST_MSECOND);
    double now = (g_get_monotonic_time () - t0) / 1e6;
    if (now >= next_sample) {
      double mb = lifecycle_rss_mb ();
      g_array_append_val (t_s, now);
      g_array_append_val (rss, mb);
      next_sample += SAMPLE_S;
    }
    if (now >= next_pattern) {
      gst_util_set_object_arg (
          G_OBJECT (vsrc), "pattern", patterns[pattern_changes % G_N_ELEMENTS (patterns)]);
      pattern_changes++;
      /* 5 to 9 s apart, so the cuts are not periodic. */
      next_pattern += PATTERN_EVERY_S - 2.0 + (pattern_changes * 7 % 5);
    }
    if (!msg)
      continue;
    if (!live_run_message (msg, asink, &late, &ok))
      break;
  }
  double wall = (g_get_monotonic_time () - t0) / 1e6;
  double end_mb = lifecycle_rss_mb ();
  guint cuts = 0;
  g_object_get (scenecut, "cuts-detected", &cuts, NULL);
  gst_element_set_state (pipeline, GST_STATE_NULL);

  /* Memory after the warm-up: the first sample at or after it, the last, the peak and the trend. */
  double warm_mb = end_mb, peak_mb = 0.0;
  double sx = 0, sy = 0, sxx = 0, sxy = 0;
  guint n = 0;
  for (guint i = 0; i < rss->len; i++) {
    double x = g_array_index (t_s, double, i), y = g_array_index (rss, double, i);
    if (x < warmup_s)
      continue;
    if (n == 0)
      warm_mb = y;
    peak_mb = MAX (peak_mb, y);
    sx += x, sy += y, sxx += x * x, sxy += x * y;
    n++;
  }
  double slope_mb_per_h =
      (n > 1 && n * sxx - sx * sx > 0) ? (n * sxy - sx * sy) / (n * sxx - sx * sx) * 3600.0 : 0;
  double growth = end_mb - warm_mb;
  double audio_seconds = st.rate ? (double) st.samples / st.rate : 0.0;

  g_print (
      "soak: %.0f s of live video through emsyncbin, wall %.1f s; %u pattern changes, %u cuts detected\n",
      seconds, wall, pattern_changes, cuts);
  g_print ("RSS (MB) by wall time from the start, sampled every %.0f s:\n", SAMPLE_S);
  /* About 20 rows whatever the length. */
  guint step = MAX (1u, rss->len / 20);
  for (guint i = 0; i < rss->len; i += step)
    g_print ("  t=%6.0f s  %7.1f\n", g_array_index (t_s, double, i), g_array_index (rss, double, i));
  g_print ("  end        %7.1f\n", end_mb);
  g_print ("memory: %.1f MB before start, %.1f MB after the %.0f s warm-up, %.1f MB at the end, peak %.1f MB "
           "after the warm-up: growth %+.1f MB (goal < %.0f), trend %+.2f MB/h over %u samples\n",
      start_mb, warm_mb, warmup_s, end_mb, peak_mb, growth, GROWTH_GOAL_MB, slope_mb_per_h, n);
  g_print ("audio: %" G_GUINT64_FORMAT " buffers, %.2f s, %" G_GUINT64_FORMAT " gaps (max %" GST_TIME_FORMAT
           "), %" G_GUINT64_FORMAT " discont, %u late (QoS)\n",
      st.buffers, audio_seconds, st.gaps, GST_TIME_ARGS (st.max_gap), st.discont_after_start, late);
  ok = ok && growth < GROWTH_GOAL_MB;
  ok = ok && st.gaps == 0 && st.discont_after_start == 0 && audio_seconds >= seconds - 0.1;
  g_print ("%s\n", ok ? "PASS" : "FAIL");
  g_array_free (t_s, TRUE);
  g_array_free (rss, TRUE);
  gst_object_unref (scenecut);
  gst_object_unref (bin);
  gst_object_unref (vsrc);
  gst_object_unref (asink);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}
