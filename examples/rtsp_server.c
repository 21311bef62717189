/* An RTSP server for a scored live stream (gst-rtsp-server): a video source through emsyncbin, H.264 video and
 * Opus music over RTP, one shared pipeline for every viewer.
 *
 *   rtsp_server [--address 0.0.0.0] [--port 8554] [--mount /scored] [--source 'GST-LAUNCH SOURCE'] [--lookahead SECONDS]
 *               [--model small|tiny|FILE] [--bin 'EMSYNCBIN PROPERTIES']
 *   gst-launch-1.0 playbin uri=rtsp://127.0.0.1:8554/scored      (or ffplay / vlc the same URL)
 *
 * The source defaults to a live test pattern; any launch fragment that ends in raw video works, e.g.
 * --source 'v4l2src ! videoconvert' or --source 'srtsrc uri=srt://:7000?mode=listener ! tsdemux ! h264parse !
 * avdec_h264'. --port 0 picks a free port. The URL to open is printed once the server listens; for each
 * pipeline started, the wall-clock time its first frame entered emsyncbin and the latency it reports
 * (lookahead + 0.25 s + the encoder's) are printed too. Ctrl-C stops. */
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <glib-unix.h>
#include <stdio.h>

#define DEFAULT_SOURCE                                                                                       \
  "videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=25/1"

static GstPadProbeReturn
on_first_frame (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  g_print ("first frame into emsyncbin at %" G_GINT64_FORMAT " us (wall clock)\n", g_get_real_time ());
  fflush (stdout);
  return GST_PAD_PROBE_REMOVE;
}

/* The latency of the stream a viewer gets: the largest of the two payloaders' upstream latencies. */
static void
on_prepared (GstRTSPMedia *media, gpointer data)
{
  GstElement *element = gst_rtsp_media_get_element (media);
  GstClockTime latency = 0;
  for (int i = 0; i < 2; i++) {
    gchar *name = g_strdup_printf ("pay%d", i);
    GstElement *pay = gst_bin_get_by_name (GST_BIN (element), name);
    g_free (name);
    if (!pay)
      continue;
    GstPad *pad = gst_element_get_static_pad (pay, "src");
    GstQuery *query = gst_query_new_latency ();
    if (gst_pad_query (pad, query)) {
      GstClockTime min = 0;
      gst_query_parse_latency (query, NULL, &min, NULL);
      latency = MAX (latency, min);
    }
    gst_query_unref (query);
    gst_object_unref (pad);
    gst_object_unref (pay);
  }
  g_print ("stream latency at the server %.3f s\n", (double) latency / GST_SECOND);
  fflush (stdout);
  gst_object_unref (element);
}

/* The server links the payloaders to its RTP sinks when a viewer plays, and the RECONFIGURE this sends upstream
 * would make emsyncbin's analysis elements renegotiate: their allocation query then waits behind the lookahead
 * of video held in emsyncbin's video queue, the source stalls for that long and the music has a hole of about
 * the lookahead. The formats after emsyncbin are fixed (the converters there adapt), so the event stops here. */
static GstPadProbeReturn
keep_reconfigure_downstream (GstPad *pad, GstPadProbeInfo *info, gpointer data)
{
  return GST_EVENT_TYPE (GST_PAD_PROBE_INFO_EVENT (info)) == GST_EVENT_RECONFIGURE ? GST_PAD_PROBE_DROP
                                                                                   : GST_PAD_PROBE_OK;
}

static void
add_probe (GstElement *element, const gchar *pad_name, GstPadProbeType type, GstPadProbeCallback callback)
{
  GstPad *pad = gst_element_get_static_pad (element, pad_name);
  gst_pad_add_probe (pad, type, callback, NULL, NULL);
  gst_object_unref (pad);
}

/* A new pipeline for the mount: time its first frame and report its latency once it runs. */
static void
on_media_configure (GstRTSPMediaFactory *factory, GstRTSPMedia *media, gpointer data)
{
  GstElement *element = gst_rtsp_media_get_element (media);
  GstElement *score = gst_bin_get_by_name (GST_BIN (element), "score");
  if (score) {
    add_probe (score, "sink", GST_PAD_PROBE_TYPE_BUFFER, on_first_frame);
    add_probe (score, "video", GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, keep_reconfigure_downstream);
    add_probe (score, "audio", GST_PAD_PROBE_TYPE_EVENT_UPSTREAM, keep_reconfigure_downstream);
    gst_object_unref (score);
  }
  g_signal_connect (media, "prepared", G_CALLBACK (on_prepared), NULL);
  gst_object_unref (element);
}

static gboolean
on_signal (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  gint port = 8554;
  gchar *address = NULL, *mount = NULL, *source = NULL, *model = NULL, *bin_props = NULL;
  gdouble lookahead = -1;
  int rc = 0;
  GOptionEntry entries[] = { { "address", 0, 0, G_OPTION_ARG_STRING, &address,
                                 "Address to listen on (default 0.0.0.0: all)", "ADDR" },
    { "port", 'p', 0, G_OPTION_ARG_INT, &port, "TCP port to listen on (0: any free port; default 8554)",
        "PORT" },
    { "mount", 0, 0, G_OPTION_ARG_STRING, &mount, "Path of the stream (default /scored)", "PATH" },
    { "source", 0, 0, G_OPTION_ARG_STRING, &source,
        "gst-launch fragment giving raw video (default: a live test "
        "pattern, 640x360 at 25 frames/s)",
        "DESC" },
    { "lookahead", 0, 0, G_OPTION_ARG_DOUBLE, &lookahead,
        "Seconds the music stays behind the video "
        "(emsyncbin lookahead; default the element's). The stream is delayed by this + 0.25 s",
        "SECONDS" },
    { "model", 0, 0, G_OPTION_ARG_STRING, &model, "Generator: small, tiny or a model file", "MODEL" },
    { "bin", 0, 0, G_OPTION_ARG_STRING, &bin_props, "More emsyncbin properties, e.g. 'seed=3 sync=soft'",
        "PROPS" },
    { NULL } };
  GError *err = NULL;
  GOptionContext *ctx = g_option_context_new ("- serve a scored live stream over RTSP");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  gboolean parsed = g_option_context_parse (ctx, &argc, &argv, &err);
  g_option_context_free (ctx);
  if (!parsed) {
    g_printerr ("rtsp_server: %s\n", err->message);
    g_error_free (err);
    return 2;
  }
  if (port < 0 || port > 65535) {
    g_printerr ("rtsp_server: --port expects 0-65535, got %d\n", port);
    goto refused;
  }
  if (lookahead != -1 && (lookahead < 0 || lookahead > 60)) {
    g_printerr ("rtsp_server: --lookahead expects 0-60 seconds, got %g\n", lookahead);
    goto refused;
  }
  if (mount && mount[0] != '/') {
    g_printerr ("rtsp_server: --mount expects a path starting with '/', got '%s'\n", mount);
    goto refused;
  }

  GString *scorer = g_string_new ("emsyncbin name=score");
  if (lookahead >= 0)
    g_string_append_printf (scorer, " lookahead=%" G_GUINT64_FORMAT, (guint64) (lookahead * GST_SECOND));
  if (model && (g_str_equal (model, "small") || g_str_equal (model, "tiny")))
    g_string_append_printf (scorer, " model=%s", model);
  else if (model && g_file_test (model, G_FILE_TEST_IS_REGULAR))
    g_string_append_printf (scorer, " model-file=\"%s\"", model);
  else if (model) {
    g_printerr ("rtsp_server: --model expects small, tiny or a model file, got '%s'\n", model);
    g_string_free (scorer, TRUE);
    goto refused;
  }
  if (bin_props)
    g_string_append_printf (scorer, " %s", bin_props);
  /* The encoders add no delay of their own (x264 zerolatency); a keyframe every 25 frames lets a viewer start
   * within a second. */
  gchar *launch = g_strdup_printf (
      "( %s ! %s "
      "score.video ! queue ! videoconvert ! x264enc tune=zerolatency speed-preset=veryfast key-int-max=25 "
      "bitrate=1500 ! rtph264pay name=pay0 pt=96 config-interval=-1 "
      "score.audio ! queue ! audioconvert ! audioresample ! opusenc bitrate=96000 ! rtpopuspay name=pay1 "
      "pt=97 )",
      source ? source : DEFAULT_SOURCE, scorer->str);
  g_string_free (scorer, TRUE);

  /* Check the description now, so that a typo is reported here and not to the first viewer. */
  GstElement *check = gst_parse_launch_full (launch, NULL, GST_PARSE_FLAG_FATAL_ERRORS, &err);
  if (!check || err) {
    g_printerr ("rtsp_server: bad pipeline: %s\n", err->message);
    g_error_free (err);
    g_free (launch);
    if (check)
      gst_object_unref (check);
    goto refused;
  }
  gst_object_unref (check);

  GstRTSPServer *server = gst_rtsp_server_new ();
  gchar *service = g_strdup_printf ("%d", port);
  gst_rtsp_server_set_service (server, service);
  if (address)
    gst_rtsp_server_set_address (server, address);
  g_free (service);
  GstRTSPMediaFactory *factory = gst_rtsp_media_factory_new ();
  gst_rtsp_media_factory_set_launch (factory, launch);
  gst_rtsp_media_factory_set_shared (factory, TRUE);
  g_signal_connect (factory, "media-configure", G_CALLBACK (on_media_configure), NULL);
  GstRTSPMountPoints *mounts = gst_rtsp_server_get_mount_points (server);
  const gchar *path = mount ? mount : "/scored";
  gst_rtsp_mount_points_add_factory (mounts, path, factory);
  g_object_unref (mounts);

  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  guint attached = gst_rtsp_server_attach (server, NULL);
  if (attached == 0) {
    g_printerr ("rtsp_server: cannot listen on %s port %d\n", address ? address : "0.0.0.0", port);
    rc = 1;
  } else {
    const gchar *host = address && !g_str_equal (address, "0.0.0.0") ? address : "127.0.0.1";
    g_print ("serving rtsp://%s:%d%s\n", host, gst_rtsp_server_get_bound_port (server), path);
    fflush (stdout);
    g_unix_signal_add (SIGINT, on_signal, loop);
    g_unix_signal_add (SIGTERM, on_signal, loop);
    g_main_loop_run (loop);
    g_source_remove (attached);
  }
  g_main_loop_unref (loop);
  g_object_unref (server);
  g_free (launch);
  goto done;

refused: /* a bad option: one line said so, nothing started */
  rc = 2;
done:
  g_free (address);
  g_free (mount);
  g_free (source);
  g_free (model);
  g_free (bin_props);
  return rc;
}
