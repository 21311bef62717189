/* emsync — one command from a video to a scored video.
 *
 *   emsync INPUT -o OUTPUT [--midi out.mid] [--wav out.wav] [--timeline out.png] [--valence V --arousal A]
 *          [--seed N] [--emotion-guidance G] [--density-control K] [--mode-control K] [--threads N] [--soundfont SF2] [--sync hard|soft|none] [--instruments more|less] [--preset shipped|reference]
 *          [--keep-audio LEVEL] [--model small|tiny|FILE]
 *
 * The pipeline: decodebin -> emsyncbin (scene cuts, emotion, generation, synthesis) -> encoder -> muxer. The
 * video stream is copied into OUTPUT from a second, compressed read of the file when the container takes it
 * and the input carries presentation times; otherwise emsyncbin's video is re-encoded (H.264, VP8 for WebM).
 * The generator options are emsyncbin's properties (or its children's, e.g. midigen::threads), checked
 * against their ranges before anything runs; an option not given keeps the element's default.
 *
 * Every file is written under a temporary name beside its target and renamed when the run has succeeded, so
 * a failed or interrupted run leaves no broken file and removes nothing that was there before.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <string>
#include <type_traits>
#include <vector>

#include "cli/timeline.h"
#include "gst/emsync.h"

namespace {

/* How long an interrupted run may take to finish its files (the generator flushes up to its lookahead). */
constexpr guint kInterruptGraceSeconds = 20;
/* Room beyond the generator's lookahead in the queues that wait for the music. */
constexpr GstClockTime kQueueMargin = 10 * GST_SECOND;
/* Bound on reading the input's streams before the run. */
constexpr GstClockTime kDiscoverTimeout = 30 * GST_SECOND;

struct Options {
  gchar *output = nullptr;
  gchar *midi = nullptr;
  gchar *wav = nullptr;
  gchar *timeline = nullptr;
  /* Generator options stay text until emsyncbin's property specs have checked them. */
  gchar *valence = nullptr;
  gchar *arousal = nullptr;
  gchar *seed = nullptr;
  gchar *guidance = nullptr;
  gchar *density_control = nullptr;
  gchar *mode_control = nullptr;
  gchar *threads = nullptr;
  gchar *soundfont = nullptr;
  gchar *sync = nullptr;
  gchar *instruments = nullptr;
  gchar *preset = nullptr;
  gchar *keep_audio = nullptr;
  gchar *model = nullptr;
  gboolean quiet = FALSE;
};

/* What each output extension is written with. */
struct Container {
  const char *extension;
  const char *muxer;
  const char *video_encoder;
  const char *audio_encoder;
};

const Container kContainers[] = {
  { ".mp4", "mp4mux", "x264enc", "avenc_aac" },
  { ".m4v", "mp4mux", "x264enc", "avenc_aac" },
  { ".mov", "qtmux", "x264enc", "avenc_aac" },
  { ".mkv", "matroskamux", "x264enc", "opusenc" },
  { ".webm", "webmmux", "vp8enc", "opusenc" },
};
const char *const kContainerList = ".mp4, .m4v, .mov, .mkv or .webm";

/* Input containers whose demuxer gives every video frame a presentation time, which a muxer needs to take
 * the stream as it is (AVI, for one, gives decoding times only: mp4mux fails with "Buffer has no PTS"). */
const char *const kTimedContainers[] = {
  "video/quicktime",
  "video/x-matroska",
  "video/webm",
  "video/mpegts",
  "video/x-flv",
  "application/ogg",
};

/* The file a symbolic link names (it need not exist yet), or NULL for a path that is no link. */
gchar *
resolve_link (const char *path)
{
  gchar *resolved = nullptr;
  for (int hops = 0; hops < 40; hops++) {
    const char *at = resolved ? resolved : path;
    gchar *target = g_file_read_link (at, nullptr);
    if (!target)
      break;
    if (!g_path_is_absolute (target)) {
      gchar *dir = g_path_get_dirname (at);
      gchar *joined = g_build_filename (dir, target, NULL);
      g_free (dir);
      g_free (target);
      target = joined;
    }
    g_free (resolved);
    resolved = target;
  }
  return resolved;
}

/* A file this run writes: the elements write `temp`, renamed over `path` on success. */
struct OutputFile {
  std::string path;
  std::string temp;
};

struct Outputs {
  std::vector<OutputFile> files;

  ~Outputs ()
  {
    discard ();
  }

  /* Creates the temporary file beside `path` (beside the file a symbolic link names, so the link stays);
   * false (errno set) when the folder cannot be written. */
  bool
  add (const char *asked, std::string &temp)
  {
    gchar *resolved = resolve_link (asked);
    const char *path = resolved ? resolved : asked;
    gchar *dir = g_path_get_dirname (path), *base = g_path_get_basename (path);
    gchar *name = g_strdup_printf ("%s.emsync-XXXXXX.part", base);
    gchar *tmpl = g_build_filename (dir, name, NULL);
    int fd = g_mkstemp_full (tmpl, O_RDWR | O_CLOEXEC, 0666);
    bool ok = fd >= 0;
    if (ok) {
      close (fd);
      files.push_back ({ path, tmpl });
      temp = tmpl;
    }
    int saved = errno;
    g_free (resolved);
    g_free (dir);
    g_free (base);
    g_free (name);
    g_free (tmpl);
    errno = saved;
    return ok;
  }

  /* Renames every file to its name; on the first failure removes what is left and says why. */
  bool
  commit (std::string &why)
  {
    bool ok = true;
    for (auto &f : files) {
      if (ok && rename (f.temp.c_str (), f.path.c_str ()) != 0) {
        why = "cannot write '" + f.path + "': " + g_strerror (errno);
        ok = false;
      }
      if (!ok)
        unlink (f.temp.c_str ());
    }
    files.clear ();
    return ok;
  }

  /* Removes what this run created; files that were there before are untouched. */
  void
  discard ()
  {
    for (auto &f : files)
      unlink (f.temp.c_str ());
    files.clear ();
  }
};

struct App {
  Options opt;
  std::string input;
  const Container *container = nullptr;
  GMainLoop *loop = nullptr;
  GstElement *pipeline = nullptr;
  GstElement *analysis_head = nullptr; /* queue in front of emsyncbin */
  GstElement *mux = nullptr;
  GstElement *original_audio_head = nullptr;
  bool have_video = false;
  bool linked_copy = false;
  bool failed = false;
  std::string error;
  int interrupted = 0; /* the signal that stopped the run */
  bool progress = false;
  gint64 started_us = 0;
  GstClockTime duration = GST_CLOCK_TIME_NONE;
  GstClockTime wait_time = 0; /* the generator's lookahead plus a margin */
  std::atomic<gint64> analysed_ns{ 0 };
  GstSegment midi_segment;
  emsync::cli::TimelineData timeline;
};

void
fail (App &app, const std::string &message)
{
  if (!app.failed) {
    app.failed = true;
    app.error = message;
  }
  if (app.loop)
    g_main_loop_quit (app.loop);
}

GstElement *
make (const char *factory, const char *name = nullptr)
{
  GstElement *e = gst_element_factory_make (factory, name);
  if (!e)
    g_printerr ("emsync: error: GStreamer element '%s' is missing (run 'make deps' or install its plugin)\n",
        factory);
  return e;
}

bool
has_suffix (const std::string &s, const char *suffix)
{
  std::string lower = s;
  for (auto &c : lower)
    c = g_ascii_tolower (c);
  return g_str_has_suffix (lower.c_str (), suffix);
}

void
limit_by_time (GstElement *queue, GstClockTime max_time)
{
  g_object_set (queue, "max-size-time", (guint64) max_time, "max-size-buffers", 0, "max-size-bytes", 0, NULL);
}

/* ---- options ---- */

/* Parses `text` as a value of `pspec` and checks it against the spec's range or values; false with a
 * one-line reason otherwise. */
bool
value_from_text (GParamSpec *pspec, const char *text, GValue *value, std::string &why)
{
  g_value_init (value, pspec->value_type);
  bool ok = true;
  /* Integers of either sign, parsed whole (no wrapping of "-1" into an unsigned range). */
  auto integer = [&] (auto min, auto max) -> decltype (min) {
    bool parsed;
    decltype (min) n = 0;
    if constexpr (std::is_signed<decltype (min)>::value) {
      gint64 v = 0;
      parsed = g_ascii_string_to_signed (text, 10, min, max, &v, nullptr);
      n = v;
    } else {
      guint64 v = 0;
      parsed = g_ascii_string_to_unsigned (text, 10, min, max, &v, nullptr);
      n = v;
    }
    if (!parsed) {
      why = "expected an integer in [" + std::to_string (min) + ", " + std::to_string (max) + "]";
      ok = false;
    }
    return n;
  };
  switch (G_TYPE_FUNDAMENTAL (pspec->value_type)) {
    case G_TYPE_INT:
      g_value_set_int (value, integer (G_PARAM_SPEC_INT (pspec)->minimum, G_PARAM_SPEC_INT (pspec)->maximum));
      break;
    case G_TYPE_INT64:
      g_value_set_int64 (
          value, integer (G_PARAM_SPEC_INT64 (pspec)->minimum, G_PARAM_SPEC_INT64 (pspec)->maximum));
      break;
    case G_TYPE_UINT:
      g_value_set_uint (
          value, integer (G_PARAM_SPEC_UINT (pspec)->minimum, G_PARAM_SPEC_UINT (pspec)->maximum));
      break;
    case G_TYPE_UINT64:
      g_value_set_uint64 (
          value, integer (G_PARAM_SPEC_UINT64 (pspec)->minimum, G_PARAM_SPEC_UINT64 (pspec)->maximum));
      break;
    case G_TYPE_DOUBLE: {
      GParamSpecDouble *d = G_PARAM_SPEC_DOUBLE (pspec);
      gchar *end = nullptr;
      double x = g_ascii_strtod (text, &end);
      if (!*text || *end || !std::isfinite (x) || x < d->minimum || x > d->maximum) {
        char range[64];
        g_snprintf (range, sizeof range, "[%g, %g]", d->minimum, d->maximum);
        why = std::string ("expected a number in ") + range;
        ok = false;
      }
      g_value_set_double (value, x);
      break;
    }
    case G_TYPE_ENUM: {
      GEnumClass *klass = G_ENUM_CLASS (g_type_class_ref (pspec->value_type));
      GEnumValue *v = g_enum_get_value_by_nick (klass, text);
      if (v) {
        g_value_set_enum (value, v->value);
      } else {
        why = "expected one of:";
        for (guint i = 0; i < klass->n_values; i++)
          why += std::string (i ? ", " : " ") + klass->values[i].value_nick;
        ok = false;
      }
      g_type_class_unref (klass);
      break;
    }
    case G_TYPE_STRING:
      g_value_set_string (value, text);
      break;
    default:
      why = "cannot be set from the command line";
      ok = false;
  }
  return ok;
}

/* Sets `property` of emsyncbin (or "child::property" of one of its children) from an option's text. */
bool
set_from_option (GstElement *bin, const char *option, const char *property, const char *text)
{
  GObject *target = nullptr;
  GParamSpec *pspec = nullptr;
  if (!gst_child_proxy_lookup (GST_CHILD_PROXY (bin), property, &target, &pspec)) {
    g_printerr (
        "emsync: error: --%s: this emsyncbin has no property '%s' (mismatched plugins?)\n", option, property);
    return false;
  }
  GValue value = G_VALUE_INIT;
  std::string why;
  bool ok = value_from_text (pspec, text, &value, why);
  if (ok)
    g_object_set_property (target, pspec->name, &value);
  else
    g_printerr ("emsync: error: --%s %s: %s\n", option, text, why.c_str ());
  g_value_unset (&value);
  g_object_unref (target);
  return ok;
}

/* --keep-audio is the CLI's own: a mixing level. */
bool
parse_level (const char *text, double &level)
{
  gchar *end = nullptr;
  level = g_ascii_strtod (text, &end);
  if (!*text || *end || !std::isfinite (level) || level < 0.0 || level > 1.0) {
    g_printerr ("emsync: error: --keep-audio %s: expected a level in [0, 1]\n", text);
    return false;
  }
  return true;
}

bool
same_file (const struct stat &a, const char *path)
{
  struct stat b;
  return stat (path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* ---- the input ---- */

struct InputInfo {
  bool has_audio = false;
  bool copy_video = false; /* the container takes the compressed video as it is */
  GstClockTime duration = GST_CLOCK_TIME_NONE;
};

/* Whether `muxer` has a video sink pad that takes `caps`. */
bool
muxer_takes (const char *muxer, GstCaps *caps)
{
  GstElementFactory *factory = gst_element_factory_find (muxer);
  if (!factory)
    return false;
  bool takes = false;
  for (const GList *l = gst_element_factory_get_static_pad_templates (factory); l && !takes; l = l->next) {
    GstStaticPadTemplate *t = (GstStaticPadTemplate *) l->data;
    if (t->direction != GST_PAD_SINK || !g_str_has_prefix (t->name_template, "video"))
      continue;
    GstCaps *tc = gst_static_pad_template_get_caps (t);
    takes = gst_caps_can_intersect (tc, caps);
    gst_caps_unref (tc);
  }
  gst_object_unref (factory);
  return takes;
}

/* Reads the input's streams (GstDiscoverer) so that a file that is not a video is refused with its name
 * before anything is written, and the run knows whether there is audio to keep and video to copy. */
bool
inspect_input (const App &app, InputInfo &out)
{
  const char *path = app.input.c_str ();
  GError *err = nullptr;
  gchar *uri = gst_filename_to_uri (path, &err);
  GstDiscoverer *discoverer = uri ? gst_discoverer_new (kDiscoverTimeout, &err) : nullptr;
  GstDiscovererInfo *info = discoverer ? gst_discoverer_discover_uri (discoverer, uri, &err) : nullptr;
  bool ok = false;
  GstDiscovererResult result = info ? gst_discoverer_info_get_result (info) : GST_DISCOVERER_ERROR;
  if (result == GST_DISCOVERER_TIMEOUT) {
    g_printerr ("emsync: error: input '%s': no stream found within %d s (expected a video file)\n", path,
        (int) (kDiscoverTimeout / GST_SECOND));
  } else if (result == GST_DISCOVERER_MISSING_PLUGINS) {
    const gchar **missing = gst_discoverer_info_get_missing_elements_installer_details (info);
    gchar *what = missing ? g_strjoinv (", ", (gchar **) missing) : g_strdup ("unknown");
    g_printerr ("emsync: error: input '%s': a GStreamer plugin to decode it is missing (%s)\n", path, what);
    g_free (what);
  } else if (result != GST_DISCOVERER_OK) {
    std::string why = err ? err->message : "unreadable";
    if (!why.empty () && why.back () == '.')
      why.pop_back ();
    g_printerr (
        "emsync: error: input '%s' is not a video file GStreamer can read (%s)\n", path, why.c_str ());
  } else {
    GList *videos = gst_discoverer_info_get_video_streams (info);
    GList *audios = gst_discoverer_info_get_audio_streams (info);
    if (!videos) {
      g_printerr ("emsync: error: %s has no video stream\n", path);
    } else if (gst_discoverer_video_info_is_image (GST_DISCOVERER_VIDEO_INFO (videos->data))) {
      g_printerr ("emsync: error: input '%s' is a still image; expected a video file\n", path);
    } else {
      ok = true;
      out.has_audio = audios != nullptr;
      out.duration = gst_discoverer_info_get_duration (info);
      GstDiscovererStreamInfo *top = gst_discoverer_info_get_stream_info (info);
      GstCaps *top_caps = top ? gst_discoverer_stream_info_get_caps (top) : nullptr;
      bool timed = false;
      if (top_caps && GST_IS_DISCOVERER_CONTAINER_INFO (top))
        for (const char *name : kTimedContainers)
          timed = timed || gst_structure_has_name (gst_caps_get_structure (top_caps, 0), name);
      GstCaps *caps = gst_discoverer_stream_info_get_caps (GST_DISCOVERER_STREAM_INFO (videos->data));
      out.copy_video = timed && caps && muxer_takes (app.container->muxer, caps);
      if (caps)
        gst_caps_unref (caps);
      if (top_caps)
        gst_caps_unref (top_caps);
      if (top)
        gst_discoverer_stream_info_unref (top);
    }
    gst_discoverer_stream_info_list_free (videos);
    gst_discoverer_stream_info_list_free (audios);
  }
  g_clear_error (&err);
  if (info)
    gst_discoverer_info_unref (info);
  if (discoverer)
    g_object_unref (discoverer);
  g_free (uri);
  return ok;
}

/* ---- the running pipeline ---- */

/* decodebin: the first video stream feeds the analysis chain; audio optionally goes under the music. */
void
on_decoded_pad (GstElement *, GstPad *pad, App *app)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  const gchar *media = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GstElement *target = nullptr;
  if (g_str_has_prefix (media, "video/") && !app->have_video) {
    app->have_video = true;
    target = app->analysis_head;
  } else if (g_str_has_prefix (media, "audio/") && app->original_audio_head) {
    target = app->original_audio_head;
    app->original_audio_head = nullptr;
  }
  if (target) {
    GstPad *sink = gst_element_get_static_pad (target, "sink");
    if (gst_pad_link (pad, sink) != GST_PAD_LINK_OK)
      fail (*app, "could not link the decoded " + std::string (media) + " stream");
    gst_object_unref (sink);
  }
  gst_caps_unref (caps);
}

void
on_decoded_no_more_pads (GstElement *, App *app)
{
  if (!app->have_video)
    fail (*app, app->input + " has no video stream");
  else if (app->original_audio_head)
    /* The mixer would wait for it forever. */
    fail (*app, app->input + ": no audio stream to keep (--keep-audio)");
}

/* parsebin: the compressed video goes straight into the muxer (the input was checked to allow it). */
void
on_parsed_pad (GstElement *, GstPad *pad, App *app)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  bool is_video = g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps, 0)), "video/");
  if (!is_video || app->linked_copy) {
    gst_caps_unref (caps);
    return; /* unlinked pads of a parsebin are fine: their data is dropped */
  }
  app->linked_copy = true;
  GstPad *mux_pad = gst_element_get_compatible_pad (app->mux, pad, caps);
  GstElement *queue = make ("queue");
  /* The muxer takes video only as far as the music has come: the read waits here, not in memory. */
  limit_by_time (queue, app->wait_time);
  gst_bin_add (GST_BIN (app->pipeline), queue);
  gst_element_sync_state_with_parent (queue);
  GstPad *qsink = gst_element_get_static_pad (queue, "sink");
  gst_pad_link (pad, qsink);
  gst_object_unref (qsink);
  GstPad *src = gst_element_get_static_pad (queue, "src");
  if (!mux_pad || gst_pad_link (src, mux_pad) != GST_PAD_LINK_OK)
    fail (*app, "could not put the video stream into " + std::string (app->opt.output));
  gst_object_unref (src);
  if (mux_pad)
    gst_object_unref (mux_pad);
  gst_caps_unref (caps);
}

/* The analysed position, for the progress bar. */
GstPadProbeReturn
on_analysed_buffer (GstPad *, GstPadProbeInfo *info, App *app)
{
  GstClockTime pts = GST_BUFFER_PTS (GST_PAD_PROBE_INFO_BUFFER (info));
  if (GST_CLOCK_TIME_IS_VALID (pts))
    app->analysed_ns = (gint64) pts;
  return GST_PAD_PROBE_OK;
}

/* Keeps the channel messages of the generated stream for the timeline (one message per buffer from the
 * generator; 0xF9 ticks and other system bytes are skipped). */
void
collect_midi (App *app, GstBuffer *buf)
{
  GstClockTime t = gst_segment_to_stream_time (&app->midi_segment, GST_FORMAT_TIME, GST_BUFFER_PTS (buf));
  if (!GST_CLOCK_TIME_IS_VALID (t))
    return;
  GstMapInfo map;
  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return;
  for (gsize pos = 0; pos < map.size;) {
    guint8 status = map.data[pos];
    gsize count = (gsize) emsync::midi::channel_message_data_bytes (status);
    if (count == 0) {
      pos++;
      continue;
    }
    if (pos + count >= map.size)
      break; /* truncated */
    emsync::midi::MidiEvent e;
    e.time_seconds = (double) t / GST_SECOND;
    e.status = status;
    e.data1 = map.data[pos + 1];
    e.data2 = count == 2 ? map.data[pos + 2] : 0;
    app->timeline.midi.push_back (e);
    pos += 1 + count;
  }
  gst_buffer_unmap (buf, &map);
}

GstPadProbeReturn
on_midi (GstPad *, GstPadProbeInfo *info, App *app)
{
  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    if (GST_EVENT_TYPE (ev) == GST_EVENT_SEGMENT) {
      const GstSegment *segment;
      gst_event_parse_segment (ev, &segment);
      gst_segment_copy_into (segment, &app->midi_segment);
    }
  } else if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_BUFFER_LIST) {
    GstBufferList *list = GST_PAD_PROBE_INFO_BUFFER_LIST (info);
    for (guint i = 0; i < gst_buffer_list_length (list); i++)
      collect_midi (app, gst_buffer_list_get (list, i));
  } else {
    collect_midi (app, GST_PAD_PROBE_INFO_BUFFER (info));
  }
  return GST_PAD_PROBE_OK;
}

gboolean
on_bus (GstBus *, GstMessage *msg, App *app)
{
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR: {
      GError *err = nullptr;
      gchar *dbg = nullptr;
      gst_message_parse_error (msg, &err, &dbg);
      std::string text = err->message;
      if (dbg && !g_str_has_prefix (dbg, "../"))
        text += std::string (" (") + dbg + ")";
      fail (*app, text);
      g_error_free (err);
      g_free (dbg);
      break;
    }
    case GST_MESSAGE_EOS:
      g_main_loop_quit (app->loop);
      break;
    case GST_MESSAGE_ELEMENT: {
      EmsyncSceneCut cut;
      EmsyncEmotionReport report;
      if (emsync_scene_cut_message_parse (msg, &cut)) {
        app->timeline.cuts.push_back (
            { (double) cut.stream_time / GST_SECOND, emsync_cut_kind_to_string (cut.kind) });
      } else if (emsync_emotion_message_parse (msg, &report)) {
        GstClockTime t =
            GST_CLOCK_TIME_IS_VALID (report.stream_time) ? report.stream_time : report.emotion.timestamp;
        app->timeline.emotion.push_back (
            { (double) t / GST_SECOND, report.emotion.valence, report.emotion.arousal });
      }
      break;
    }
    default:
      break;
  }
  return TRUE;
}

gboolean
on_progress (App *app)
{
  if (!GST_CLOCK_TIME_IS_VALID (app->duration) || app->duration == 0)
    return G_SOURCE_CONTINUE;
  double frac = std::min (1.0, (double) app->analysed_ns.load () / (double) app->duration);
  double elapsed = (g_get_monotonic_time () - app->started_us) / 1e6;
  double eta = frac > 0.02 ? elapsed * (1.0 - frac) / frac : 0.0;
  const int width = 30;
  int filled = (int) (frac * width);
  std::string bar (filled, '#');
  bar += std::string (width - filled, ' ');
  g_printerr ("\r[%s] %3d%%  ETA %d:%02d ", bar.c_str (), (int) (frac * 100), (int) eta / 60, (int) eta % 60);
  return G_SOURCE_CONTINUE;
}

gboolean
on_interrupt_timeout (App *app)
{
  fail (*app,
      "the files did not finish within " + std::to_string (kInterruptGraceSeconds) + " s of the interrupt");
  return G_SOURCE_REMOVE;
}

/* SIGINT/SIGTERM: end the stream so the files are finished (bounded); a second signal stops at once. */
gboolean
on_signal (App *app, int signum)
{
  if (app->interrupted) {
    fail (*app, "stopped");
    return G_SOURCE_CONTINUE;
  }
  app->interrupted = signum;
  if (app->progress)
    g_printerr ("\r%60s\r", "");
  g_printerr ("emsync: interrupted: finishing the files (again to stop at once)\n");
  gst_element_send_event (app->pipeline, gst_event_new_eos ());
  g_timeout_add_seconds (kInterruptGraceSeconds, (GSourceFunc) on_interrupt_timeout, app);
  return G_SOURCE_CONTINUE;
}

gboolean
on_sigint (App *app)
{
  return on_signal (app, SIGINT);
}

gboolean
on_sigterm (App *app)
{
  return on_signal (app, SIGTERM);
}

/* ---- setting up ---- */

/* Sets the generator options on emsyncbin; false (message printed) for a bad value. */
bool
configure_score (const Options &o, GstElement *score)
{
  struct {
    const char *option;
    const gchar *text;
    const char *property;
  } generator_options[] = {
    { "valence", o.valence, "valence" },
    { "arousal", o.arousal, "arousal" },
    { "seed", o.seed, "seed" },
    { "emotion-guidance", o.guidance, "emotion-guidance" },
    { "density-control", o.density_control, "density-control" },
    { "mode-control", o.mode_control, "mode-control" },
    { "threads", o.threads, "midigen::threads" },
    { "soundfont", o.soundfont, "soundfont" },
    { "sync", o.sync, "sync" },
    { "instruments", o.instruments, "instruments" },
    { "preset", o.preset, "preset" },
  };
  for (const auto &g : generator_options)
    if (g.text && !set_from_option (score, g.option, g.property, g.text))
      return false;
  if (o.valence)
    g_object_set (score, "use-emotion", FALSE, NULL);
  if (o.model) {
    /* A shipped model's name, unless a file of that name exists. */
    if (g_file_test (o.model, G_FILE_TEST_EXISTS))
      g_object_set (score, "model-file", o.model, NULL);
    else if (g_str_equal (o.model, "small") || g_str_equal (o.model, "tiny"))
      gst_util_set_object_arg (G_OBJECT (score), "model", o.model);
    else {
      g_printerr ("emsync: error: --model %s: no such model file (or give small or tiny)\n", o.model);
      return false;
    }
  }
  return true;
}

/* No output may be the input or another output (a muxer would truncate the file being read). */
bool
check_outputs (const App &app)
{
  const Options &o = app.opt;
  struct stat input_stat;
  if (stat (app.input.c_str (), &input_stat) != 0)
    return false;
  const char *outputs[] = { o.output, o.midi, o.wav, o.timeline };
  for (size_t i = 0; i < G_N_ELEMENTS (outputs); i++) {
    if (!outputs[i])
      continue;
    struct stat out_stat;
    bool exists = stat (outputs[i], &out_stat) == 0;
    /* Replacing a device or a pipe by renaming a file over it would be worse than failing. */
    const char *problem = same_file (input_stat, outputs[i]) ? "is the input file"
        : exists && S_ISDIR (out_stat.st_mode)               ? "is a folder"
        : exists && !S_ISREG (out_stat.st_mode)              ? "is not a regular file"
                                                             : nullptr;
    for (size_t j = 0; j < i && !problem; j++) {
      struct stat s;
      if (outputs[j]
          && (g_str_equal (outputs[i], outputs[j])
              || (stat (outputs[j], &s) == 0 && same_file (s, outputs[i]))))
        problem = "is given twice";
    }
    if (problem) {
      g_printerr ("emsync: error: output '%s' %s\n", outputs[i], problem);
      return false;
    }
  }
  return true;
}

/* What the elements write: the temporary names of the outputs ("" for one not asked for). */
struct Targets {
  std::string video, midi, wav, timeline;
};

bool
create_outputs (const Options &o, Outputs &files, Targets &t)
{
  struct {
    const char *path;
    std::string *temp;
    const char *what;
  } wanted[] = {
    { o.output, &t.video, "output" },
    { o.midi, &t.midi, "MIDI file" },
    { o.wav, &t.wav, "WAV file" },
    { o.timeline, &t.timeline, "timeline" },
  };
  for (const auto &w : wanted)
    if (w.path && !files.add (w.path, *w.temp)) {
      g_printerr ("emsync: error: cannot write %s '%s': %s\n", w.what, w.path, g_strerror (errno));
      return false;
    }
  return true;
}

/* The video for the muxer: copied from a second, compressed read of the file, or emsyncbin's encoded. */
bool
link_video (App &app, GstElement *score, bool copy)
{
  GstBin *bin = GST_BIN (app.pipeline);
  const Container &c = *app.container;
  if (copy) {
    GstElement *vsrc = make ("filesrc"), *parse = make ("parsebin");
    if (!vsrc || !parse)
      return false;
    gst_bin_add_many (bin, vsrc, parse, NULL);
    g_object_set (vsrc, "location", app.input.c_str (), NULL);
    g_signal_connect (parse, "pad-added", G_CALLBACK (on_parsed_pad), &app);
    return gst_element_link (vsrc, parse);
  }
  /* The container does not take this codec, or the input has no presentation times: encode emsyncbin's
   * video (it is the decoded input, passed through). The queue holds the lookahead of encoded video. */
  GstElement *conv = make ("videoconvert"), *capsf = make ("capsfilter"), *venc = make (c.video_encoder),
             *vq = make ("queue");
  if (!conv || !capsf || !venc || !vq)
    return false;
  GstCaps *i420 = gst_caps_from_string ("video/x-raw,format=I420");
  g_object_set (capsf, "caps", i420, NULL);
  gst_caps_unref (i420);
  if (g_str_equal (c.video_encoder, "x264enc"))
    gst_util_set_object_arg (G_OBJECT (venc), "speed-preset", "veryfast");
  else
    /* libvpx's default deadline ("best") is far slower than real time; 2 Mb/s is x264enc's default rate */
    g_object_set (venc, "deadline", (gint64) 1, "cpu-used", 4, "target-bitrate", 2000000, NULL);
  limit_by_time (vq, app.wait_time);
  gst_bin_add_many (bin, conv, capsf, venc, vq, NULL);
  if (!app.opt.quiet)
    g_print ("re-encoding the video with %s for %s\n", c.video_encoder, app.opt.output);
  return gst_element_link_pads (score, "video", conv, "sink")
      && gst_element_link_many (conv, capsf, venc, vq, app.mux, NULL);
}

/* emsyncbin's audio, with the original audio under it at `level` when `keep`; returns the element to
 * take the mixed audio from (NULL on failure) and its pad name. */
GstElement *
mix_audio (App &app, GstElement *score, bool keep, double level, const char **pad)
{
  *pad = "audio";
  if (!keep)
    return score;
  /* The mixer works in one format, F32 stereo at 48 kHz (what both AAC and Opus take), which the synth
   * renders directly; only the original audio is converted. */
  GstElement *mixer = make ("audiomixer"), *oq = make ("queue"), *oconv = make ("audioconvert"),
             *ores = make ("audioresample"), *vol = make ("volume"), *ocaps = make ("capsfilter"),
             *mcaps = make ("capsfilter");
  for (GstElement *e : { mixer, oq, oconv, ores, vol, ocaps, mcaps })
    if (!e)
      return nullptr;
  gst_bin_add_many (GST_BIN (app.pipeline), mixer, oq, oconv, ores, vol, ocaps, mcaps, NULL);
  GstCaps *mix_caps =
      gst_caps_from_string ("audio/x-raw,format=F32LE,rate=48000,channels=2,layout=interleaved");
  g_object_set (ocaps, "caps", mix_caps, NULL);
  g_object_set (mcaps, "caps", mix_caps, NULL);
  gst_caps_unref (mix_caps);
  limit_by_time (oq, app.wait_time);
  g_object_set (vol, "volume", level, NULL);
  if (!gst_element_link_pads (score, "audio", mixer, NULL)
      || !gst_element_link_many (oq, oconv, ores, vol, ocaps, mixer, mcaps, NULL))
    return nullptr;
  app.original_audio_head = oq;
  *pad = "src";
  return mcaps;
}

/* The MIDI stream: to the .mid, and (through a probe) to the timeline. */
bool
link_midi (App &app, GstElement *score, const Targets &t)
{
  const Options &o = app.opt;
  GstBin *bin = GST_BIN (app.pipeline);
  bool ok = true;
  if (o.midi) {
    GstElement *mq = make ("queue"), *menc = make ("emsyncmidienc"), *mfile = make ("filesink");
    if (!mq || !menc || !mfile)
      return false;
    gst_bin_add_many (bin, mq, menc, mfile, NULL);
    g_object_set (mfile, "location", t.midi.c_str (), NULL);
    ok = gst_element_link_pads (score, "midi", mq, NULL) && gst_element_link_many (mq, menc, mfile, NULL);
  } else if (o.timeline) {
    GstElement *mnull = make ("fakesink");
    if (!mnull)
      return false;
    g_object_set (mnull, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add (bin, mnull);
    ok = gst_element_link_pads (score, "midi", mnull, NULL);
  }
  if (o.timeline) {
    gst_segment_init (&app.midi_segment, GST_FORMAT_TIME);
    GstPad *midi = gst_element_get_static_pad (score, "midi");
    gst_pad_add_probe (midi,
        (GstPadProbeType) (GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST
            | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
        (GstPadProbeCallback) on_midi, &app, NULL);
    gst_object_unref (midi);
  }
  return ok;
}

/* filesrc ! decodebin ! queue ! emsyncbin, then its audio (encoded, and as WAV), video and MIDI to the files. */
bool
build_pipeline (
    App &app, GstElement *score, const InputInfo &input, bool keep, double level, const Targets &t)
{
  const Options &o = app.opt;
  const Container &c = *app.container;
  app.pipeline = gst_pipeline_new ("emsync");
  GstBin *bin = GST_BIN (app.pipeline);
  GstElement *asrc = make ("filesrc"), *dec = make ("decodebin"), *q1 = make ("queue");
  GstElement *at = make ("tee"), *q3 = make ("queue"), *aconv = make ("audioconvert"),
             *ares = make ("audioresample");
  GstElement *enc = make (c.audio_encoder), *q4 = make ("queue");
  app.mux = make (c.muxer);
  GstElement *sink = make ("filesink");
  for (GstElement *e : { asrc, dec, q1, at, q3, aconv, ares, enc, q4, app.mux, sink })
    if (!e)
      return false;
  gst_bin_add_many (bin, asrc, dec, q1, score, at, q3, aconv, ares, enc, q4, app.mux, sink, NULL);

  g_object_set (asrc, "location", app.input.c_str (), NULL);
  g_object_set (sink, "location", t.video.c_str (), NULL);
  /* FFmpeg's default AAC search (twoloop) cost ~0.9 s of CPU per minute here, as much as a third of video
   * decoding; the fast search is ~2.6x cheaper, and a higher bitrate (twoloop's own output averages ~160
   * kb/s at its 128 kb/s default) keeps the quality of synthesised music. */
  if (g_str_equal (c.audio_encoder, "avenc_aac")) {
    gst_util_set_object_arg (G_OBJECT (enc), "aac-coder", "fast");
    g_object_set (enc, "bitrate", 160000, NULL);
  }
  /* The music comes out `lookahead` behind the analysed video: whatever waits for it beside the video (the
   * muxer's audio, the original audio under the music) must hold that much. */
  guint64 lookahead = 0;
  g_object_get (score, "lookahead", &lookahead, NULL);
  app.wait_time = lookahead + kQueueMargin;
  for (GstElement *q : { q3, q4 })
    limit_by_time (q, app.wait_time);

  app.analysis_head = q1;
  bool ok = gst_element_link (asrc, dec) && gst_element_link (q1, score);
  GstPad *score_sink = gst_element_get_static_pad (score, "sink");
  gst_pad_add_probe (
      score_sink, GST_PAD_PROBE_TYPE_BUFFER, (GstPadProbeCallback) on_analysed_buffer, &app, NULL);
  gst_object_unref (score_sink);
  ok = ok && link_video (app, score, input.copy_video);

  const char *music_pad = nullptr;
  GstElement *music = mix_audio (app, score, keep, level, &music_pad);
  /* The AAC encoder gets 16-bit samples: FFmpeg's coder spends about twice the CPU on float input whose quiet
   * passages (reverb tails) lie far below the 16-bit floor: 1.05 -> 0.59 s for a minute of a sparse piece, no
   * change for dense ones. Opus is given the float samples. */
  GstElement *enc_in = ares;
  if (g_str_equal (c.audio_encoder, "avenc_aac")) {
    GstElement *s16 = make ("capsfilter"), *s16conv = make ("audioconvert");
    GstCaps *caps = gst_caps_from_string ("audio/x-raw,format=S16LE");
    g_object_set (s16, "caps", caps, NULL);
    gst_caps_unref (caps);
    gst_bin_add_many (bin, s16, s16conv, NULL);
    ok = ok && gst_element_link_many (ares, s16, s16conv, NULL);
    enc_in = s16conv;
  }
  ok = ok && music && gst_element_link_pads (music, music_pad, at, NULL)
      && gst_element_link_many (at, q3, aconv, ares, NULL)
      && gst_element_link_many (enc_in, enc, q4, app.mux, NULL) && gst_element_link (app.mux, sink);
  if (o.wav) {
    GstElement *wq = make ("queue"), *wconv = make ("audioconvert"), *wenc = make ("wavenc"),
               *wfile = make ("filesink");
    if (!wq || !wconv || !wenc || !wfile)
      return false;
    gst_bin_add_many (bin, wq, wconv, wenc, wfile, NULL);
    g_object_set (wfile, "location", t.wav.c_str (), NULL);
    ok = ok && gst_element_link_many (at, wq, wconv, wenc, wfile, NULL);
  }
  ok = ok && link_midi (app, score, t);
  g_signal_connect (dec, "pad-added", G_CALLBACK (on_decoded_pad), &app);
  g_signal_connect (dec, "no-more-pads", G_CALLBACK (on_decoded_no_more_pads), &app);
  if (!ok)
    g_printerr ("emsync: error: could not build the pipeline\n");
  return ok;
}

/* Plays the pipeline to its end (or its error, or an interrupt). */
void
run (App &app)
{
  GstBus *bus = gst_element_get_bus (app.pipeline);
  gst_bus_add_watch (bus, (GstBusFunc) on_bus, &app);
  app.progress = !app.opt.quiet && isatty (STDERR_FILENO);
  if (app.progress)
    g_timeout_add (250, (GSourceFunc) on_progress, &app);
  app.started_us = g_get_monotonic_time ();
  if (gst_element_set_state (app.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* An element that refused to start (e.g. a model file that cannot be read) says why on the bus. */
    if (GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) {
      on_bus (bus, m, &app);
      gst_message_unref (m);
    }
    fail (app, "could not start the pipeline");
  }
  if (!app.failed)
    g_main_loop_run (app.loop);
  /* The error message of a failed start is on the bus. */
  while (GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) {
    on_bus (bus, m, &app);
    gst_message_unref (m);
  }
  gst_element_set_state (app.pipeline, GST_STATE_NULL);
  if (app.progress)
    g_printerr ("\r%60s\r", "");
  gst_bus_remove_watch (bus);
  gst_object_unref (bus);
}

} // namespace

int
main (int argc, char **argv)
{
  App app;
  Options &o = app.opt;
  gchar **positional = nullptr;
  GOptionEntry entries[] = {
    { "output", 'o', 0, G_OPTION_ARG_FILENAME, &o.output,
        "Scored video to write (.mp4, .m4v, .mov, .mkv, .webm)", "FILE" },
    { "midi", 0, 0, G_OPTION_ARG_FILENAME, &o.midi, "Also write the music as a Standard MIDI File", "FILE" },
    { "wav", 0, 0, G_OPTION_ARG_FILENAME, &o.wav, "Also write the soundtrack as WAV", "FILE" },
    { "timeline", 0, 0, G_OPTION_ARG_FILENAME, &o.timeline,
        "Draw the emotion curve, scene cuts and chord onsets on one time axis (PNG)", "FILE" },
    { "valence", 0, 0, G_OPTION_ARG_STRING, &o.valence, "Fixed valence in [-1, 1] (default: from the video)",
        "V" },
    { "arousal", 0, 0, G_OPTION_ARG_STRING, &o.arousal, "Fixed arousal in [-1, 1] (default: from the video)",
        "A" },
    { "seed", 0, 0, G_OPTION_ARG_STRING, &o.seed, "Random seed (same seed, same music)", "N" },
    { "threads", 0, 0, G_OPTION_ARG_STRING, &o.threads,
        "Generation threads (1 or 2; 2 suits the official-size model)", "N" },
    { "density-control", 0, 0, G_OPTION_ARG_STRING, &o.density_control,
        "How firmly the note density follows the arousal (0 = the model alone)", "K" },
    { "mode-control", 0, 0, G_OPTION_ARG_STRING, &o.mode_control,
        "How firmly major/minor follows the valence (0 = the model alone)", "K" },
    { "emotion-guidance", 0, 0, G_OPTION_ARG_STRING, &o.guidance,
        "Strengthen the music's response to the video's emotion (0 = EMSYNC's sampling; e.g. 1.5; costs 2x "
        "generation)",
        "G" },
    { "soundfont", 0, 0, G_OPTION_ARG_FILENAME, &o.soundfont,
        "SoundFont for synthesis (default: a GM one installed)", "SF2" },
    { "sync", 0, 0, G_OPTION_ARG_STRING, &o.sync, "Scene-cut sync: hard, soft (EMSYNC), none", "MODE" },
    { "instruments", 0, 0, G_OPTION_ARG_STRING, &o.instruments, "more (>= 3 instruments) or less", "COUNT" },
    { "preset", 0, 0, G_OPTION_ARG_STRING, &o.preset,
        "shipped (default) or reference: EMSYNC's exact procedure (models/FORMAT.md); the options given "
        "override it",
        "NAME" },
    { "keep-audio", 0, 0, G_OPTION_ARG_STRING, &o.keep_audio,
        "Keep the original audio, mixed under the music at this level (0..1)", "LEVEL" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &o.model,
        "Generator: small, tiny (a third of the cost per token, plainer music), or a model file", "MODEL" },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet, "No progress bar", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &positional, NULL, "INPUT" },
    { NULL },
  };
  /* g_option_context_parse hands us the option strings: freed on every return, for every entry. */
  struct OptionStrings {
    const GOptionEntry *entries;
    ~OptionStrings ()
    {
      for (const GOptionEntry *e = entries; e->long_name; e++)
        if (e->arg == G_OPTION_ARG_STRING || e->arg == G_OPTION_ARG_FILENAME)
          g_free (*(gchar **) e->arg_data);
        else if (e->arg == G_OPTION_ARG_STRING_ARRAY || e->arg == G_OPTION_ARG_FILENAME_ARRAY)
          g_strfreev (*(gchar ***) e->arg_data);
    }
  } option_strings{ entries };
  GOptionContext *ctx = g_option_context_new ("INPUT - compose a soundtrack for a video");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  g_option_context_set_description (ctx,
      "Options not given keep the defaults of the emsyncbin element "
      "(gst-inspect-1.0 emsyncbin).\n");
  GError *err = nullptr;
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("emsync: error: %s (see emsync --help)\n", err->message);
    g_error_free (err);
    g_option_context_free (ctx);
    return 2;
  }
  g_option_context_free (ctx);
  if (!positional || !positional[0] || positional[1]) {
    g_printerr ("emsync: error: give exactly one INPUT video (see emsync --help)\n");
    return 2;
  }
  if (!o.output) {
    g_printerr ("emsync: error: no output given: emsync INPUT -o OUTPUT.mp4\n");
    return 2;
  }
  app.input = positional[0];
  if (access (app.input.c_str (), R_OK) != 0 || !g_file_test (app.input.c_str (), G_FILE_TEST_IS_REGULAR)) {
    g_printerr ("emsync: error: cannot read input '%s': %s\n", app.input.c_str (),
        g_file_test (app.input.c_str (), G_FILE_TEST_EXISTS) ? "not a readable file" : "no such file");
    return 1;
  }
  if ((o.valence == nullptr) != (o.arousal == nullptr)) {
    g_printerr ("emsync: error: give --valence and --arousal together\n");
    return 2;
  }
  for (const Container &c : kContainers)
    if (has_suffix (o.output, c.extension))
      app.container = &c;
  if (!app.container) {
    g_printerr ("emsync: error: output '%s' must end in %s\n", o.output, kContainerList);
    return 2;
  }
  double level = 0.0;
  if (o.keep_audio && !parse_level (o.keep_audio, level))
    return 2;
  /* The generator options are checked by the element's own property specs, before anything runs. */
  GstElement *score = make ("emsyncbin", "score");
  if (!score)
    return 1;
  gst_object_ref_sink (score);
  if (!configure_score (o, score) || !check_outputs (app)) {
    gst_object_unref (score);
    return 2;
  }

  InputInfo input;
  if (!inspect_input (app, input)) {
    gst_object_unref (score);
    return 1;
  }
  app.duration = input.duration;
  bool keep = o.keep_audio != nullptr;
  if (keep && !input.has_audio) {
    g_printerr ("emsync: warning: %s has no audio track; --keep-audio ignored\n", app.input.c_str ());
    keep = false;
  }

  /* From here a signal is handled in the main loop (it is dispatched once the loop runs). */
  app.loop = g_main_loop_new (NULL, FALSE);
  guint sigint = g_unix_signal_add (SIGINT, (GSourceFunc) on_sigint, &app);
  guint sigterm = g_unix_signal_add (SIGTERM, (GSourceFunc) on_sigterm, &app);
  Outputs files; /* removes what it created unless committed */
  Targets targets;
  bool built = create_outputs (o, files, targets) && build_pipeline (app, score, input, keep, level, targets);
  gst_object_unref (score); /* the pipeline holds it */
  if (built)
    run (app);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  if (app.pipeline)
    gst_object_unref (app.pipeline);
  g_main_loop_unref (app.loop);
  app.loop = nullptr;
  if (!built)
    return 1;

  int rc = app.interrupted ? 128 + app.interrupted : 0;
  if (app.failed) {
    g_printerr ("emsync: error: %s\n", app.error.c_str ());
    return app.interrupted ? rc : 1;
  }
  if (o.timeline) {
    if (o.valence)
      app.timeline.emotion = { { 0.0, g_ascii_strtod (o.valence, NULL), g_ascii_strtod (o.arousal, NULL) } };
    std::string why;
    if (!emsync::cli::draw_timeline (app.timeline, targets.timeline, why)) {
      g_printerr ("emsync: error: timeline: %s\n", why.c_str ());
      return 1;
    }
  }
  std::string why;
  if (!files.commit (why)) {
    g_printerr ("emsync: error: %s\n", why.c_str ());
    return 1;
  }
  if (app.interrupted)
    g_printerr ("emsync: interrupted: wrote the music so far (%zu scene cuts) to %s\n",
        app.timeline.cuts.size (), o.output);
  else if (!o.quiet) {
    double secs = (g_get_monotonic_time () - app.started_us) / 1e6;
    g_print ("wrote %s (%zu scene cuts, %.1f s)\n", o.output, app.timeline.cuts.size (), secs);
  }
  if (!o.quiet)
    for (const char *extra : { o.midi, o.wav, o.timeline })
      if (extra)
        g_print ("wrote %s\n", extra);
  return rc;
}
