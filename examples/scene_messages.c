/* Embedding emsync in an application: score a video file and print the scene cuts and emotion values the
 * elements post on the bus, using the gstreamer-emsync-1.0 helpers.
 *
 *   cc scene_messages.c $(pkg-config --cflags --libs gstreamer-1.0 gstreamer-emsync-1.0) -o scene_messages
 *   ./scene_messages in.mp4 out.mid
 */
#include <gst/gst.h>
#include <gst/emsync.h>

static gboolean
on_message (GstBus *bus, GstMessage *msg, gpointer user_data)
{
  GMainLoop *loop = user_data;
  EmsyncSceneCut cut;
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ELEMENT:
      if (emsync_scene_cut_message_parse (msg, &cut)) {
        g_print ("scene cut #%u at %" GST_TIME_FORMAT " (%s, score %.2f)\n", cut.index,
            GST_TIME_ARGS (cut.stream_time), emsync_cut_kind_to_string (cut.kind), cut.score);
      } else if (gst_structure_has_name (gst_message_get_structure (msg), "emsync-emotion")) {
        const GstStructure *s = gst_message_get_structure (msg);
        guint64 ts = 0;
        gdouble v = 0, a = 0;
        gst_structure_get_uint64 (s, "timestamp", &ts);
        gst_structure_get_double (s, "valence", &v);
        gst_structure_get_double (s, "arousal", &a);
        g_print ("emotion at %" GST_TIME_FORMAT ": valence %+.2f arousal %+.2f\n", GST_TIME_ARGS (ts), v, a);
      }
      break;
    case GST_MESSAGE_ERROR: {
      GError *err = NULL;
      gst_message_parse_error (msg, &err, NULL);
      g_printerr ("error: %s\n", err->message);
      g_error_free (err);
      g_main_loop_quit (loop);
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit (loop);
      break;
    default:
      break;
  }
  return TRUE;
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  if (argc != 3) {
    g_printerr ("usage: %s VIDEO OUT.mid\n", argv[0]);
    return 2;
  }
  gchar *desc = g_strdup_printf ("filesrc name=src ! decodebin ! video/x-raw ! emsyncbin name=s "
                                 "s.midi ! queue ! emsyncmidienc ! filesink name=out");
  GError *err = NULL;
  GstElement *pipeline = gst_parse_launch (desc, &err);
  g_free (desc);
  if (!pipeline) {
    g_printerr ("cannot build the pipeline: %s\n", err->message);
    return 1;
  }
  GstElement *src = gst_bin_get_by_name (GST_BIN (pipeline), "src");
  GstElement *out = gst_bin_get_by_name (GST_BIN (pipeline), "out");
  g_object_set (src, "location", argv[1], NULL);
  g_object_set (out, "location", argv[2], NULL);
  gst_object_unref (src);
  gst_object_unref (out);

  GMainLoop *loop = g_main_loop_new (NULL, FALSE);
  GstBus *bus = gst_element_get_bus (pipeline);
  gst_bus_add_watch (bus, on_message, loop);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  g_main_loop_run (loop);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (pipeline);
  g_main_loop_unref (loop);
  return 0;
}
