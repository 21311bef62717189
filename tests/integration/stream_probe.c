/* Test tool for the streaming recipes in examples/: reads a stream as a player would, or sends a plain live one.
 *
 *   stream_probe receive URI SECONDS   plays URI (rtsp://, srt://, file://...) through uridecodebin into clocked
 *                                      sinks for SECONDS after its first video frame, then prints key=value lines:
 *                                      video_frames, video_size, audio_seconds, audio_peak_db, video_anchor_us,
 *                                      audio_start_after_video_s, audio_max_gap_s (the longest wait between
 *                                      two audio buffers at the clocked sink: a hole in the music)
 *   stream_probe send URI SECONDS      a live 320x240 25 fps test pattern, H.264 in MPEG-TS, to an srtsink URI;
 *                                      prints capture_start_us (wall clock of the first frame)
 *
 * video_anchor_us is the median, over the second half of the frames, of a frame's wall-clock arrival at the sink
 * minus its time since the first frame (by timestamps). A live source captures its first frame at
 * capture_start_us and then one frame per period, so anchor - capture_start is the end-to-end latency (an upper
 * bound: if the first frames were lost on the way it also counts them). Exit status 0, or 1 when no video came
 * within SECONDS + 30 s or the pipeline failed. */
#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FRAMES 100000

typedef struct {
  GMainLoop *loop;
  GstElement *pipeline;
  double seconds;
  gboolean failed, eos;
  guint stop_source;
  /* video */
  guint frames;
  gint width, height;
  GstClockTime first_pts;
  gint64 first_video_us, first_audio_us;  /* wall clock of the first frame / the first audio */
  gint64 last_audio_us, max_audio_gap_us; /* the longest wait between two audio buffers */
  gint64 *anchors;                        /* wall clock (us) of arrival minus time since the first frame */
  /* audio */
  guint64 samples;
  gint rate;
  float peak;
} Probe;

static gboolean
stop (gpointer data)
{
  Probe *p = data;
  p->stop_source = 0;
  g_main_loop_quit (p->loop);
  return G_SOURCE_REMOVE;
}

static GstFlowReturn
on_video (GstAppSink *sink, gpointer data)
{
  Probe *p = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  if (!sample)
    return GST_FLOW_EOS;
  gint64 now = g_get_real_time ();
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstClockTime pts = GST_BUFFER_PTS (buf);
  if (p->frames == 0) {
    GstStructure *s = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
    gst_structure_get_int (s, "width", &p->width);
    gst_structure_get_int (s, "height", &p->height);
    p->first_pts = pts;
    p->first_video_us = now;
    /* Count SECONDS from the first frame, so a slow start (a model loading, a large lookahead) does not eat it. */
    g_source_remove (p->stop_source);
    p->stop_source = g_timeout_add ((guint) (p->seconds * 1000), stop, p);
  }
  if (p->frames < MAX_FRAMES && GST_CLOCK_TIME_IS_VALID (pts) && GST_CLOCK_TIME_IS_VALID (p->first_pts))
    p->anchors[p->frames] = now - (gint64) GST_TIME_AS_USECONDS (pts - p->first_pts);
  p->frames++;
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static GstFlowReturn
on_audio (GstAppSink *sink, gpointer data)
{
  Probe *p = data;
  GstSample *sample = gst_app_sink_pull_sample (sink);
  if (!sample)
    return GST_FLOW_EOS;
  gint64 now = g_get_real_time ();
  if (p->samples == 0)
    p->first_audio_us = now;
  else
    p->max_audio_gap_us = MAX (p->max_audio_gap_us, now - p->last_audio_us);
  p->last_audio_us = now;
  GstStructure *s = gst_caps_get_structure (gst_sample_get_caps (sample), 0);
  gint channels = 1;
  gst_structure_get_int (s, "rate", &p->rate);
  gst_structure_get_int (s, "channels", &channels);
  GstMapInfo map;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  if (gst_buffer_map (buf, &map, GST_MAP_READ)) {
    const float *x = (const float *) map.data;
    gsize n = map.size / sizeof (float);
    for (gsize i = 0; i < n; i++)
      p->peak = MAX (p->peak, fabsf (x[i]));
    p->samples += n / MAX (channels, 1);
    gst_buffer_unmap (buf, &map);
  }
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

/* A clocked appsink branch for one decoded stream. */
static void
add_branch (Probe *p, GstPad *pad, gboolean video)
{
  GstElement *convert = gst_element_factory_make (video ? "identity" : "audioconvert", NULL);
  GstElement *sink = gst_element_factory_make ("appsink", NULL);
  GstAppSinkCallbacks cb = { 0 };
  cb.new_sample = video ? on_video : on_audio;
  gst_app_sink_set_callbacks (GST_APP_SINK (sink), &cb, p, NULL);
  if (!video) {
    GstCaps *caps = gst_caps_from_string ("audio/x-raw,format=F32LE,layout=interleaved");
    g_object_set (sink, "caps", caps, NULL);
    gst_caps_unref (caps);
  }
  g_object_set (sink, "sync", TRUE, "max-buffers", 8, NULL);
  gst_bin_add_many (GST_BIN (p->pipeline), convert, sink, NULL);
  gst_element_link (convert, sink);
  gst_element_sync_state_with_parent (sink);
  gst_element_sync_state_with_parent (convert);
  GstPad *sinkpad = gst_element_get_static_pad (convert, "sink");
  if (gst_pad_link (pad, sinkpad) != GST_PAD_LINK_OK)
    g_printerr ("stream_probe: could not link a %s branch\n", video ? "video" : "audio");
  gst_object_unref (sinkpad);
}

static void
on_pad_added (GstElement *decodebin, GstPad *pad, gpointer data)
{
  Probe *p = data;
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  const gchar *name = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  if (g_str_has_prefix (name, "video/x-raw"))
    add_branch (p, pad, TRUE);
  else if (g_str_has_prefix (name, "audio/x-raw"))
    add_branch (p, pad, FALSE);
  gst_caps_unref (caps);
}

/* A low-latency player: rtspsrc buffers 200 ms (its default is 2 s). */
static void
on_source_setup (GstElement *uridecodebin, GstElement *source, gpointer data)
{
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (source), "latency")
      && g_str_has_prefix (G_OBJECT_TYPE_NAME (source), "GstRTSPSrc"))
    g_object_set (source, "latency", 200, NULL);
}

static gboolean
on_bus (GstBus *bus, GstMessage *msg, gpointer data)
{
  Probe *p = data;
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gst_message_parse_error (msg, &err, NULL);
    g_printerr ("stream_probe: %s: %s\n", GST_OBJECT_NAME (msg->src), err->message);
    g_error_free (err);
    p->failed = TRUE;
    g_main_loop_quit (p->loop);
  } else if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
    p->eos = TRUE;
    g_main_loop_quit (p->loop);
  }
  return G_SOURCE_CONTINUE;
}

static int
compare_gint64 (const void *a, const void *b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;
  return (x > y) - (x < y);
}

static int
receive (const char *uri, double seconds)
{
  Probe p = { 0 };
  p.seconds = seconds;
  p.first_pts = GST_CLOCK_TIME_NONE;
  p.anchors = g_new0 (gint64, MAX_FRAMES);
  p.loop = g_main_loop_new (NULL, FALSE);
  p.pipeline = gst_pipeline_new ("probe");
  GstElement *dec = gst_element_factory_make ("uridecodebin", NULL);
  g_object_set (dec, "uri", uri, NULL);
  g_signal_connect (dec, "pad-added", G_CALLBACK (on_pad_added), &p);
  g_signal_connect (dec, "source-setup", G_CALLBACK (on_source_setup), &p);
  gst_bin_add (GST_BIN (p.pipeline), dec);
  GstBus *bus = gst_element_get_bus (p.pipeline);
  gst_bus_add_watch (bus, on_bus, &p);
  p.stop_source = g_timeout_add ((guint) ((seconds + 30) * 1000), stop, &p);
  gst_element_set_state (p.pipeline, GST_STATE_PLAYING);
  g_main_loop_run (p.loop);
  gst_element_set_state (p.pipeline, GST_STATE_NULL);
  /* Music that stopped before the end of the window is a hole too. */
  if (p.samples && !p.eos)
    p.max_audio_gap_us = MAX (p.max_audio_gap_us, g_get_real_time () - p.last_audio_us);

  guint n = MIN (p.frames, MAX_FRAMES);
  gint64 anchor = 0;
  if (n >= 2) {
    guint half = n / 2;
    qsort (p.anchors + half, n - half, sizeof (gint64), compare_gint64);
    anchor = p.anchors[half + (n - half) / 2];
  }
  g_print ("video_frames=%u\nvideo_size=%dx%d\n", p.frames, p.width, p.height);
  g_print ("audio_seconds=%.2f\naudio_peak_db=%.1f\n", p.rate ? (double) p.samples / p.rate : 0.0,
      p.peak > 0 ? 20 * log10f (p.peak) : -200.0);
  g_print ("video_anchor_us=%" G_GINT64_FORMAT "\n", anchor);
  if (p.samples && p.frames)
    g_print ("audio_start_after_video_s=%.3f\n", (p.first_audio_us - p.first_video_us) / 1e6);
  g_print ("audio_max_gap_s=%.3f\n", p.max_audio_gap_us / 1e6);
  gboolean ok = !p.failed && p.frames > 0;
  if (p.stop_source)
    g_source_remove (p.stop_source);
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
  gst_object_unref (p.pipeline);
  g_main_loop_unref (p.loop);
  g_free (p.anchors);
  return ok ? 0 : 1;
}

static GstPadProbeReturn
on_first_capture (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  g_print ("capture_start_us=%" G_GINT64_FORMAT "\n", g_get_real_time ());
  return GST_PAD_PROBE_REMOVE;
}

static int
send (const char *uri, double seconds)
{
  gchar *desc =
      g_strdup_printf ("videotestsrc name=src is-live=true pattern=smpte num-buffers=%d ! "
                       "video/x-raw,width=320,height=240,framerate=25/1 ! "
                       "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=25 ! h264parse ! "
                       "mpegtsmux alignment=7 ! srtsink name=sink",
          (int) (seconds * 25));
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("stream_probe: %s\n", err->message);
    return 1;
  }
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  g_object_set (sink, "uri", uri, NULL);
  gst_object_unref (sink);
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  GstPad *pad = gst_element_get_static_pad (src, "src");
  gst_pad_add_probe (pad, GST_PAD_PROBE_TYPE_BUFFER, on_first_capture, NULL, NULL);
  gst_object_unref (pad);
  gst_object_unref (src);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  GstBus *bus = gst_element_get_bus (pipeline);
  GstMessage *msg = gst_bus_timed_pop_filtered (
      bus, (GstClockTime) ((seconds + 30) * GST_SECOND), GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  gboolean ok = msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS;
  if (msg && !ok) {
    gst_message_parse_error (msg, &err, NULL);
    g_printerr ("stream_probe: %s\n", err->message);
    g_error_free (err);
  }
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  return ok ? 0 : 1;
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  double seconds = argc == 4 ? g_ascii_strtod (argv[3], NULL) : 0;
  if (argc != 4 || seconds <= 0 || (strcmp (argv[1], "receive") != 0 && strcmp (argv[1], "send") != 0)) {
    g_printerr ("usage: stream_probe receive|send URI SECONDS\n");
    return 2;
  }
  return strcmp (argv[1], "receive") == 0 ? receive (argv[2], seconds) : send (argv[2], seconds);
}
