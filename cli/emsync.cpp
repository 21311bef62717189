/* emsync — one command from a video to a scored video.
 *
 *   emsync INPUT -o OUTPUT [--midi out.mid] [--wav out.wav] [--timeline out.png] [--valence V --arousal A]
 *          [--seed N] [--emotion-guidance G] [--density-control K] [--mode-control K] [--threads N] [--soundfont SF2] [--sync hard|soft|none] [--instruments more|less] [--preset shipped|reference]
 *          [--keep-audio LEVEL] [--loudness LUFS] [--model small|tiny|FILE] [--json FILE|DIR] [--progress=bar|json|none]
 *          [--skip-existing]
 *   emsync INPUT... --out-dir DIR [--jobs N] [--format EXT] (the same options; --midi, --wav, --timeline and
 *          --json then name folders)
 *
 * INPUT is a file, a URI GStreamer has a source for (file://, http(s)://) or - (standard input, a streamable
 * container such as Matroska or MPEG-TS).
 *
 * The pipeline: decodebin -> emsyncbin (scene cuts, emotion, generation, synthesis) -> encoder -> muxer. The
 * video stream is copied into OUTPUT from a second, compressed read of the file when the container takes it
 * and the input carries presentation times; otherwise emsyncbin's video is re-encoded (H.264, VP8 for WebM).
 * The generator options are emsyncbin's properties (or its children's, e.g. midigen::threads), checked
 * against their ranges before anything runs; an option not given keeps the element's default.
 *
 * Every file is written under a temporary name beside its target and renamed when the run has succeeded, so
 * a failed or interrupted run leaves no broken file and removes nothing that was there before.
 *
 * Several inputs (or --out-dir) run in batch: each video is scored by a child process of this program (its own
 * pipeline, its own address space: a crash or a leak in one video cannot take the others with it), up to --jobs
 * at once; a signal is passed on to every child, which finishes its files as a single run does.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <gst/gst.h>
#include <gst/pbutils/pbutils.h>

#include <sys/prctl.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "cli/timeline.h"
#include "config.h"
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
  gchar *loudness = nullptr;
  gchar *model = nullptr;
  gboolean quiet = FALSE;
  /* Machine-readable output and batches (the CLI's own). */
  gchar *json = nullptr;
  gchar *progress = nullptr;
  gboolean skip_existing = FALSE;
  gchar *out_dir = nullptr;
  gchar *jobs = nullptr;
  gchar *format = nullptr;
  gboolean version = FALSE;
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

/* How the run reports its progress: a bar on a terminal, JSON lines for wrappers (see write_progress_line). */
enum class Progress { Bar, Json, None };

/* Where the video comes from: a local file, a URI read by GStreamer's source for it, or standard input. */
enum class InputKind { File, Uri, Stdin };

/* A bar of the generator's tempo map, as its message gave it (stream time). */
struct TempoBar {
  double time, bpm;
  double beats; /* 2.5 for a 5/8 bar */
  bool on_cut;
};

struct App {
  Options opt;
  std::string input;
  InputKind input_kind = InputKind::File;
  std::string input_uri;
  std::string json_path; /* the sidecar asked for ("" for none) */
  Progress progress_mode = Progress::None;
  nlohmann::json settings; /* the model, seed and generator settings used, read back from emsyncbin */
  std::vector<TempoBar> tempo;
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

/* JSON text of `j`; file names need not be UTF-8 (invalid bytes become U+FFFD instead of an exception). */
std::string
json_text (const nlohmann::json &j, int indent = -1)
{
  return j.dump (indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

double
seconds_or_nan (GstClockTime t)
{
  return GST_CLOCK_TIME_IS_VALID (t) ? (double) t / GST_SECOND : NAN;
}

/* What the end of the program reports under --progress=json when the run ended before reaching a final stage
 * (a bad option, an unreadable input): the last error line printed. */
struct ProgressExit {
  bool json = false;
  bool reported = false;
  std::string file, output, last_error;
} progress_exit;

/* Every message goes to standard error as before; the last error line is kept for the final progress line. */
void
print_to_stderr (const gchar *text)
{
  fputs (text, stderr);
  std::string line = text;
  while (!line.empty () && line.back () == '\n')
    line.pop_back ();
  const std::string prefix = "emsync: error: ";
  if (line.compare (0, prefix.size (), prefix) == 0)
    progress_exit.last_error = line.substr (prefix.size ());
}

/* --progress=json: one object per line on standard output, each written with one write(2) so that the lines
 * of the runs of a batch (its children share the descriptor) never interleave. Fields: file (the input),
 * output, stage (start, scoring, finishing, done, interrupted, skipped, failed), position and duration
 * (seconds of input; duration null when unknown), error (failed only). */
void
write_progress_json (const std::string &file, const std::string &output, const char *stage, double position,
    double duration, const std::string &error)
{
  nlohmann::json line = { { "file", file }, { "output", output }, { "stage", stage } };
  line["position"] =
      std::isfinite (position) ? nlohmann::json (std::round (position * 1000) / 1000) : nullptr;
  line["duration"] =
      std::isfinite (duration) ? nlohmann::json (std::round (duration * 1000) / 1000) : nullptr;
  if (!error.empty ())
    line["error"] = error;
  std::string text = json_text (line) + "\n";
  for (size_t done = 0; done < text.size ();) {
    ssize_t n = write (STDOUT_FILENO, text.data () + done, text.size () - done);
    if (n <= 0 && errno != EINTR)
      break;
    done += n > 0 ? (size_t) n : 0;
  }
  static const char *const final_stages[] = { "done", "interrupted", "skipped", "failed" };
  for (const char *f : final_stages)
    progress_exit.reported = progress_exit.reported || g_str_equal (stage, f);
}

void
write_progress_line (const App &app, const char *stage, const std::string &error = "")
{
  if (app.progress_mode != Progress::Json)
    return;
  double position = app.analysed_ns.load () / 1e9;
  if (g_str_equal (stage, "done") && GST_CLOCK_TIME_IS_VALID (app.duration))
    position = seconds_or_nan (app.duration);
  write_progress_json (
      app.input, app.opt.output ? app.opt.output : "", stage, position, seconds_or_nan (app.duration), error);
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
  const char *uri = app.input_uri.c_str ();
  GstDiscoverer *discoverer = gst_discoverer_new (kDiscoverTimeout, &err);
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
      /* The copy is a second read of the input: local files only. */
      out.copy_video =
          app.input_kind == InputKind::File && timed && caps && muxer_takes (app.container->muxer, caps);
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
      EmsyncTempoBar bar;
      if (emsync_scene_cut_message_parse (msg, &cut)) {
        app->timeline.cuts.push_back (
            { (double) cut.stream_time / GST_SECOND, emsync_cut_kind_to_string (cut.kind), cut.score });
      } else if (emsync_tempo_message_parse (msg, &bar)) {
        app->tempo.push_back (
            { (double) bar.stream_time / GST_SECOND, 60.0 * GST_SECOND / (double) bar.beat_duration,
                emsync_tempo_bar_length_beats (&bar), (bool) bar.on_cut });
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
  if (app->progress_mode == Progress::Json) {
    write_progress_line (*app, app->interrupted ? "finishing" : "scoring");
    return G_SOURCE_CONTINUE;
  }
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
  if (app->opt.skip_existing) {
    /* The files will be removed (see run_cli): nothing to finish. */
    g_main_loop_quit (app->loop);
    return G_SOURCE_CONTINUE;
  }
  g_printerr ("emsync: interrupted: finishing the files (again to stop at once)\n");
  gst_element_send_event (app->pipeline, gst_event_new_eos ());
  g_timeout_add_seconds (kInterruptGraceSeconds, (GSourceFunc) on_interrupt_timeout, app);
  return G_SOURCE_CONTINUE;
}

/* g_unix_signal_add's callback: `handler` for one signal number. */
template <typename T, gboolean (*handler) (T *, int), int signum>
gboolean
signal_callback (gpointer data)
{
  return handler ((T *) data, signum);
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
    { "loudness", o.loudness, "loudness" },
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
  const bool local = app.input_kind == InputKind::File;
  if (local && stat (app.input.c_str (), &input_stat) != 0)
    return false;
  const char *outputs[] = { o.output, o.midi, o.wav, o.timeline,
    app.json_path.empty () ? nullptr : app.json_path.c_str () };
  for (size_t i = 0; i < G_N_ELEMENTS (outputs); i++) {
    if (!outputs[i])
      continue;
    struct stat out_stat;
    bool exists = stat (outputs[i], &out_stat) == 0;
    /* Replacing a device or a pipe by renaming a file over it would be worse than failing. */
    const char *problem = local && same_file (input_stat, outputs[i]) ? "is the input file"
        : exists && S_ISDIR (out_stat.st_mode)                        ? "is a folder"
        : exists && !S_ISREG (out_stat.st_mode)                       ? "is not a regular file"
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
  std::string video, midi, wav, timeline, json;
};

bool
create_outputs (const Options &o, const std::string &json_path, Outputs &files, Targets &t)
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
    { json_path.empty () ? nullptr : json_path.c_str (), &t.json, "JSON file" },
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

/* emsyncbin's audio, with the original audio ducked under it (at `level` where the music is silent) when
 * `keep`, the mix normalised again to the bin's loudness; returns the element to take the mixed audio from
 * (NULL on failure) and its pad name. */
GstElement *
mix_audio (App &app, GstElement *score, bool keep, double level, const char **pad)
{
  *pad = "audio";
  if (!keep)
    return score;
  /* The mixer works in one format, F32 stereo at 48 kHz (what both AAC and Opus take), which the synth
   * renders directly; only the original audio is converted. */
  GstElement *mixer = make ("emsyncducker"), *oq = make ("queue"), *oconv = make ("audioconvert"),
             *ores = make ("audioresample"), *ocaps = make ("capsfilter"), *mcaps = make ("capsfilter"),
             *loud = make ("emsyncloudness");
  for (GstElement *e : { mixer, oq, oconv, ores, ocaps, mcaps, loud })
    if (!e)
      return nullptr;
  gst_bin_add_many (GST_BIN (app.pipeline), mixer, oq, oconv, ores, ocaps, mcaps, loud, NULL);
  GstCaps *mix_caps =
      gst_caps_from_string ("audio/x-raw,format=F32LE,rate=48000,channels=2,layout=interleaved");
  g_object_set (ocaps, "caps", mix_caps, NULL);
  g_object_set (mcaps, "caps", mix_caps, NULL);
  gst_caps_unref (mix_caps);
  limit_by_time (oq, app.wait_time);
  g_object_set (mixer, "background-level", level, NULL);
  gdouble loudness = 0.0, true_peak = 0.0;
  g_object_get (score, "loudness", &loudness, "true-peak", &true_peak, NULL);
  /* the music is at its loudness already: the mix is only brought down (and limited) where the original adds to
   * it, not raised where the original plays alone */
  g_object_set (loud, "loudness", loudness, "true-peak", true_peak, "max-gain", 0.0, NULL);
  if (!gst_element_link_pads (score, "audio", mixer, "sink")
      || !gst_element_link_many (oq, oconv, ores, ocaps, NULL)
      || !gst_element_link_pads (ocaps, "src", mixer, "background")
      || !gst_element_link_many (mixer, mcaps, loud, NULL))
    return nullptr;
  app.original_audio_head = oq;
  *pad = "src";
  return loud;
}

/* The MIDI stream: to the .mid, and (through a probe) to the timeline and the JSON's chord onsets. */
bool
link_midi (App &app, GstElement *score, const Targets &t)
{
  const Options &o = app.opt;
  GstBin *bin = GST_BIN (app.pipeline);
  bool ok = true;
  const bool collect = o.timeline || !app.json_path.empty ();
  if (o.midi) {
    GstElement *mq = make ("queue"), *menc = make ("emsyncmidienc"), *mfile = make ("filesink");
    if (!mq || !menc || !mfile)
      return false;
    gst_bin_add_many (bin, mq, menc, mfile, NULL);
    g_object_set (mfile, "location", t.midi.c_str (), NULL);
    ok = gst_element_link_pads (score, "midi", mq, NULL) && gst_element_link_many (mq, menc, mfile, NULL);
  } else if (collect) {
    GstElement *mnull = make ("fakesink");
    if (!mnull)
      return false;
    g_object_set (mnull, "sync", FALSE, "async", FALSE, NULL);
    gst_bin_add (bin, mnull);
    ok = gst_element_link_pads (score, "midi", mnull, NULL);
  }
  if (collect) {
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

/* The input's source: filesrc, fdsrc for standard input, or the element GStreamer has for the URI's protocol
 * (souphttpsrc for http(s)://). NULL (message printed) when there is none or it has no plain output pad. */
GstElement *
make_source (const App &app)
{
  if (app.input_kind == InputKind::Stdin) {
    GstElement *fd = make ("fdsrc");
    if (fd)
      g_object_set (fd, "fd", 0, NULL);
    return fd;
  }
  GError *err = nullptr;
  GstElement *src = gst_element_make_from_uri (GST_URI_SRC, app.input_uri.c_str (), NULL, &err);
  GstPad *pad = src ? gst_element_get_static_pad (src, "src") : nullptr;
  if (!pad) {
    g_printerr ("emsync: error: input '%s': %s (emsync reads files, http(s):// and - for standard input)\n",
        app.input.c_str (), err ? err->message : "GStreamer's source for it has no single output");
    if (src)
      gst_object_unref (src);
    src = nullptr;
  }
  if (pad)
    gst_object_unref (pad);
  g_clear_error (&err);
  return src;
}

/* source ! decodebin ! queue ! emsyncbin, then its audio (encoded, and as WAV), video and MIDI to the files. */
bool
build_pipeline (
    App &app, GstElement *score, const InputInfo &input, bool keep, double level, const Targets &t)
{
  const Options &o = app.opt;
  const Container &c = *app.container;
  app.pipeline = gst_pipeline_new ("emsync");
  GstBin *bin = GST_BIN (app.pipeline);
  GstElement *asrc = make_source (app), *dec = make ("decodebin"), *q1 = make ("queue");
  GstElement *at = make ("tee"), *q3 = make ("queue"), *aconv = make ("audioconvert"),
             *ares = make ("audioresample");
  GstElement *enc = make (c.audio_encoder), *q4 = make ("queue");
  app.mux = make (c.muxer);
  GstElement *sink = make ("filesink");
  for (GstElement *e : { asrc, dec, q1, at, q3, aconv, ares, enc, q4, app.mux, sink })
    if (!e)
      return false;
  gst_bin_add_many (bin, asrc, dec, q1, score, at, q3, aconv, ares, enc, q4, app.mux, sink, NULL);

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
  app.progress = app.progress_mode == Progress::Bar;
  if (app.progress_mode != Progress::None)
    g_timeout_add (app.progress ? 250 : 500, (GSourceFunc) on_progress, &app);
  write_progress_line (app, "start");
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

/* ---- the sidecar JSON ---- */

/* A property of emsyncbin (or "child::property") as JSON: enums by nick, numbers as numbers. */
nlohmann::json
property_json (GstElement *score, const char *property)
{
  GObject *target = nullptr;
  GParamSpec *pspec = nullptr;
  if (!gst_child_proxy_lookup (GST_CHILD_PROXY (score), property, &target, &pspec))
    return nullptr;
  GValue v = G_VALUE_INIT;
  g_value_init (&v, pspec->value_type);
  g_object_get_property (target, pspec->name, &v);
  nlohmann::json j;
  switch (G_TYPE_FUNDAMENTAL (pspec->value_type)) {
    case G_TYPE_ENUM: {
      GEnumClass *klass = G_ENUM_CLASS (g_type_class_ref (pspec->value_type));
      GEnumValue *e = g_enum_get_value (klass, g_value_get_enum (&v));
      j = e ? e->value_nick : "";
      g_type_class_unref (klass);
      break;
    }
    case G_TYPE_BOOLEAN:
      j = (bool) g_value_get_boolean (&v);
      break;
    case G_TYPE_INT:
      j = g_value_get_int (&v);
      break;
    case G_TYPE_UINT:
      j = g_value_get_uint (&v);
      break;
    case G_TYPE_UINT64:
      j = g_value_get_uint64 (&v);
      break;
    case G_TYPE_DOUBLE:
      j = g_value_get_double (&v);
      break;
    case G_TYPE_STRING:
      j = g_value_get_string (&v) ? g_value_get_string (&v) : "";
      break;
    default:
      j = nullptr;
  }
  g_value_unset (&v);
  g_object_unref (target);
  return j;
}

/* The model, seed and generator settings of a configured emsyncbin, for the sidecar. */
nlohmann::json
score_settings (GstElement *score)
{
  nlohmann::json s;
  nlohmann::json file = property_json (score, "model-file");
  s["model"] =
      file.is_string () && !file.get<std::string> ().empty () ? file : property_json (score, "model");
  for (const char *p : { "seed", "preset", "sync", "instruments", "emotion-guidance", "density-control",
           "mode-control", "use-emotion" })
    s[p] = property_json (score, p);
  return s;
}

/* Seconds in the sidecar: to the microsecond (no 2.7680000000000002 from tick arithmetic). */
double
rounded (double seconds)
{
  return std::round (seconds * 1e6) / 1e6;
}

/* Writes the sidecar of a finished run to `path` (the temporary name; renamed with the other files). */
bool
write_sidecar (const App &app, const std::string &path, std::string &why)
{
  nlohmann::json j;
  j["emsync_version"] = VERSION;
  j["input"] = app.input;
  j["output"] = app.opt.output;
  double duration = seconds_or_nan (app.duration);
  j["duration"] = std::isfinite (duration) ? nlohmann::json (duration) : nullptr;
  j["interrupted"] = app.interrupted != 0;
  j["model"] = app.settings.value ("model", nlohmann::json ());
  j["seed"] = app.settings.value ("seed", nlohmann::json ());
  j["settings"] = app.settings;
  nlohmann::json cuts = nlohmann::json::array ();
  for (const auto &c : app.timeline.cuts)
    cuts.push_back ({ { "time", rounded (c.time) }, { "kind", c.kind }, { "score", c.score } });
  j["cuts"] = cuts;
  nlohmann::json emotion = nlohmann::json::array ();
  for (const auto &e : app.timeline.emotion)
    emotion.push_back ({ { "time", rounded (e.time) }, { "valence", e.valence }, { "arousal", e.arousal } });
  j["emotion"] = emotion;
  /* The generator's bar lines (empty with free timing, e.g. --preset reference). */
  nlohmann::json tempo = nlohmann::json::array ();
  for (const auto &b : app.tempo)
    tempo.push_back ({ { "time", rounded (b.time) }, { "bpm", std::round (b.bpm * 1000) / 1000 },
        { "beats", b.beats }, { "on_cut", b.on_cut } });
  j["tempo_map"] = tempo;
  /* As the timeline draws them: >= 3 pitched notes starting together, read from the generated MIDI. */
  nlohmann::json chords = nlohmann::json::array ();
  for (double t : emsync::cli::chord_onsets (emsync::cli::notes_from_events (app.timeline.midi)))
    chords.push_back (rounded (t));
  j["chord_onsets"] = chords;
  std::string text = json_text (j, 2) + "\n";
  FILE *f = fopen (path.c_str (), "w");
  bool ok = f && fwrite (text.data (), 1, text.size (), f) == text.size ();
  ok = (f && fclose (f) == 0) && ok;
  if (!ok)
    why = "cannot write JSON file '" + path + "': " + g_strerror (errno);
  return ok;
}

/* ---- inputs and output names ---- */

/* Reads INPUT as a file, a URI (file:// is a file) or - (standard input); false with a message otherwise. */
bool
classify_input (App &app, const char *text)
{
  app.input = text;
  if (g_str_equal (text, "-")) {
    app.input_kind = InputKind::Stdin;
    app.input_uri = "fd://0";
    return true;
  }
  if (strstr (text, "://") && gst_uri_is_valid (text) && !g_file_test (text, G_FILE_TEST_EXISTS)) {
    gchar *protocol = gst_uri_get_protocol (text);
    bool ok = true;
    if (g_ascii_strcasecmp (protocol, "file") == 0) {
      gchar *path = g_filename_from_uri (text, NULL, NULL);
      if (path)
        app.input = path;
      else
        g_printerr ("emsync: error: input '%s': not a valid file:// URI\n", text);
      ok = path != nullptr;
      g_free (path);
    } else if (!gst_uri_protocol_is_supported (GST_URI_SRC, protocol)) {
      g_printerr ("emsync: error: input '%s': no GStreamer source reads %s:// URIs\n", text, protocol);
      ok = false;
    } else {
      app.input_kind = InputKind::Uri;
      app.input_uri = text;
    }
    g_free (protocol);
    if (!ok || app.input_kind == InputKind::Uri)
      return ok;
  }
  const char *path = app.input.c_str ();
  if (access (path, R_OK) != 0 || !g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    g_printerr ("emsync: error: cannot read input '%s': %s\n", path,
        g_file_test (path, G_FILE_TEST_EXISTS) ? "not a readable file" : "no such file");
    return false;
  }
  gchar *uri = gst_filename_to_uri (path, NULL);
  app.input_uri = uri ? uri : "";
  g_free (uri);
  return uri != nullptr;
}

/* The name of a video without folder and extension, for the files derived from it ("video" when none). */
std::string
stem_of (const std::string &name)
{
  std::string last = name;
  if (strstr (name.c_str (), "://")) {
    gchar *path = nullptr;
    if (GstUri *uri = gst_uri_from_string (name.c_str ())) {
      path = g_strdup (gst_uri_get_path (uri));
      gst_uri_unref (uri);
    }
    last = path ? path : "";
    g_free (path);
  }
  gchar *base = g_path_get_basename (last.c_str ());
  std::string stem = base;
  g_free (base);
  size_t dot = stem.rfind ('.');
  if (dot != std::string::npos && dot > 0)
    stem.erase (dot);
  if (stem.empty () || stem == "." || stem == "/")
    stem = "video";
  return stem;
}

/* An option that names a folder: an existing one, or a name ending in '/', created. */
bool
is_folder_option (const char *value)
{
  return g_file_test (value, G_FILE_TEST_IS_DIR) || g_str_has_suffix (value, "/");
}

bool
ensure_folder (const char *option, const char *dir)
{
  if (g_mkdir_with_parents (dir, 0777) != 0) {
    g_printerr ("emsync: error: --%s %s: cannot create the folder: %s\n", option, dir, g_strerror (errno));
    return false;
  }
  return true;
}

std::string
in_folder (const char *dir, const std::string &name)
{
  gchar *p = g_build_filename (dir, name.c_str (), NULL);
  std::string s = p;
  g_free (p);
  return s;
}

/* Whether every file a run would write is there already (each file is renamed into place complete, so one that
 * exists is complete). */
bool
outputs_complete (const std::vector<std::string> &paths)
{
  for (const auto &p : paths) {
    struct stat st;
    if (stat (p.c_str (), &st) != 0 || !S_ISREG (st.st_mode) || st.st_size == 0)
      return false;
  }
  return !paths.empty ();
}

/* ---- batches ---- */

/* The options a batch gives every child as they were given (the per-video ones are derived, the batch's own
 * are the parent's). The CLI's options stay text until checked (see Options), so a value is passed on as it
 * was typed. */
const char *const kBatchOwnOptions[] = { "output", "out-dir", "jobs", "format", "json", "midi", "wav",
  "timeline", "quiet", "progress", "version", "skip-existing" };

struct BatchJob {
  std::string input, output, json, midi, wav, timeline;
  GSubprocess *process = nullptr;
  gint64 started_us = 0;
  struct Batch *batch = nullptr;
};

struct Batch {
  std::vector<BatchJob> jobs;
  std::vector<std::string> child_args; /* the options every child gets */
  std::string program;
  size_t next = 0;
  int running = 0;
  int max_jobs = 1;
  bool skip_existing = false;
  bool quiet = false;
  bool json = false;
  int interrupted = 0;
  int written = 0, skipped = 0, failed = 0, stopped = 0;
  GMainLoop *loop = nullptr;
};

std::vector<std::string>
job_outputs (const BatchJob &job)
{
  std::vector<std::string> paths = { job.output };
  for (const std::string *p : { &job.json, &job.midi, &job.wav, &job.timeline })
    if (!p->empty ())
      paths.push_back (*p);
  return paths;
}

/* In the child, before it runs: its own process group, so that a terminal's Ctrl-C reaches the batch alone
 * (which passes each signal on once), and a signal when the batch dies. */
void
batch_child_setup (gpointer)
{
  setpgid (0, 0);
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

void launch_jobs (Batch &batch);

void
on_job_done (GObject *source, GAsyncResult *result, gpointer data)
{
  BatchJob &job = *(BatchJob *) data;
  Batch &batch = *job.batch;
  GBytes *err_bytes = nullptr;
  GError *err = nullptr;
  g_subprocess_communicate_finish (G_SUBPROCESS (source), result, NULL, &err_bytes, &err);
  gsize err_size = 0;
  const char *err_data = err_bytes ? (const char *) g_bytes_get_data (err_bytes, &err_size) : nullptr;
  gchar *err_text = g_strndup (err_data ? err_data : "", err_size);
  if (err_bytes)
    g_bytes_unref (err_bytes);
  int status = g_subprocess_get_if_exited (job.process) ? g_subprocess_get_exit_status (job.process)
      : g_subprocess_get_if_signaled (job.process)      ? 128 + g_subprocess_get_term_sig (job.process)
                                                        : 1;
  std::string first_error;
  gchar **lines = g_strsplit (err_text ? err_text : "", "\n", -1);
  for (gchar **l = lines; *l; l++) {
    if (!**l)
      continue;
    std::string line = *l;
    const std::string prefix = "emsync: ";
    if (line.compare (0, prefix.size (), prefix) == 0)
      line.erase (0, prefix.size ());
    g_printerr ("emsync: %s: %s\n", job.input.c_str (), line.c_str ());
    if (first_error.empty () && g_str_has_prefix (line.c_str (), "error: "))
      first_error = line.substr (7);
  }
  g_strfreev (lines);
  double secs = (g_get_monotonic_time () - job.started_us) / 1e6;
  if (status == 0) {
    batch.written++;
    if (!batch.quiet)
      g_print ("ok %s -> %s (%.1f s)\n", job.input.c_str (), job.output.c_str (), secs);
  } else if (batch.interrupted && (status == 128 + SIGINT || status == 128 + SIGTERM)) {
    batch.stopped++;
    if (!batch.quiet)
      g_print ("interrupted %s\n", job.input.c_str ());
  } else {
    batch.failed++;
    if (err)
      first_error = err->message;
    g_printerr ("emsync: FAILED %s (exit status %d)%s%s\n", job.input.c_str (), status,
        first_error.empty () ? "" : ": ", first_error.c_str ());
    /* A child that died without a word (a crash) leaves no progress line of its own. */
    if (batch.json && status > 128)
      write_progress_json (
          job.input, job.output, "failed", NAN, NAN, "terminated by signal " + std::to_string (status - 128));
  }
  g_clear_error (&err);
  g_free (err_text);
  g_clear_object (&job.process);
  batch.running--;
  launch_jobs (batch);
}

/* Starts jobs up to --jobs at once; quits the loop when nothing runs and nothing more will start. */
void
launch_jobs (Batch &batch)
{
  while (!batch.interrupted && batch.running < batch.max_jobs && batch.next < batch.jobs.size ()) {
    BatchJob &job = batch.jobs[batch.next++];
    if (batch.skip_existing && outputs_complete (job_outputs (job))) {
      batch.skipped++;
      if (batch.json)
        write_progress_json (job.input, job.output, "skipped", NAN, NAN, "");
      else if (!batch.quiet)
        g_print ("skipped %s: %s exists\n", job.input.c_str (), job.output.c_str ());
      continue;
    }
    std::vector<std::string> args = { batch.program };
    args.insert (args.end (), batch.child_args.begin (), batch.child_args.end ());
    const std::pair<const char *, const std::string *> per_video[] = { { "--output=", &job.output },
      { "--json=", &job.json }, { "--midi=", &job.midi }, { "--wav=", &job.wav },
      { "--timeline=", &job.timeline } };
    for (const auto &pv : per_video)
      if (!pv.second->empty ())
        args.push_back (pv.first + *pv.second);
    args.push_back ("--");
    args.push_back (job.input);
    std::vector<const gchar *> argv;
    for (const auto &a : args)
      argv.push_back (a.c_str ());
    argv.push_back (nullptr);
    GSubprocessLauncher *launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDERR_PIPE);
    g_subprocess_launcher_set_child_setup (launcher, batch_child_setup, NULL, NULL);
    GError *err = nullptr;
    job.process = g_subprocess_launcher_spawnv (launcher, argv.data (), &err);
    g_object_unref (launcher);
    if (!job.process) {
      batch.failed++;
      g_printerr ("emsync: FAILED %s: cannot start %s: %s\n", job.input.c_str (), batch.program.c_str (),
          err->message);
      if (batch.json)
        write_progress_json (job.input, job.output, "failed", NAN, NAN, err->message);
      g_error_free (err);
      continue;
    }
    job.batch = &batch;
    job.started_us = g_get_monotonic_time ();
    batch.running++;
    g_subprocess_communicate_async (job.process, NULL, NULL, on_job_done, &job);
  }
  if (batch.running == 0 && (batch.interrupted || batch.next == batch.jobs.size ()))
    g_main_loop_quit (batch.loop);
}

/* SIGINT/SIGTERM: no new job starts; each running child gets the signal once per signal the batch gets (the
 * first finishes its files, a second stops it at once, as for a single run). */
gboolean
on_batch_signal (Batch *batch, int signum)
{
  if (!batch->interrupted)
    g_printerr (
        "emsync: interrupted: passing the signal to %d running video(s), starting no more (again to stop "
        "at once)\n",
        batch->running);
  batch->interrupted = batch->interrupted ? batch->interrupted : signum;
  for (auto &job : batch->jobs)
    if (job.process)
      g_subprocess_send_signal (job.process, signum);
  return G_SOURCE_CONTINUE;
}

/* emsync IN... --out-dir DIR: each input scored by a child process, up to --jobs at once. */
int
run_batch (const Options &o, gchar **inputs, const GOptionEntry *entries, const Container &container)
{
  Batch batch;
  if (!g_ascii_string_to_signed (o.jobs ? o.jobs : "1", 10, 1, 256, nullptr, nullptr)) {
    g_printerr ("emsync: error: --jobs %s: expected an integer in [1, 256]\n", o.jobs);
    return 2;
  }
  batch.max_jobs = o.jobs ? atoi (o.jobs) : 1;
  const char *out_dir = o.out_dir ? o.out_dir : ".";
  struct {
    const char *option, *value, *extension;
    std::string BatchJob::*field;
  } sidecars[] = {
    { "json", o.json, ".json", &BatchJob::json },
    { "midi", o.midi, ".mid", &BatchJob::midi },
    { "wav", o.wav, ".wav", &BatchJob::wav },
    { "timeline", o.timeline, ".png", &BatchJob::timeline },
  };
  for (const auto &s : sidecars)
    if (s.value && !is_folder_option (s.value)) {
      g_printerr ("emsync: error: --%s %s: a batch (several inputs or --out-dir) takes a folder (an existing "
                  "one, or a name ending in /)\n",
          s.option, s.value);
      return 2;
    }
  for (gchar **in = inputs; *in; in++) {
    if (g_str_equal (*in, "-")) {
      g_printerr ("emsync: error: input '-' (standard input) is read by a single run: emsync - -o OUTPUT, "
                  "without other inputs, --out-dir or --jobs\n");
      return 2;
    }
    BatchJob job;
    job.input = *in;
    std::string stem = stem_of (job.input);
    job.output = in_folder (out_dir, stem + container.extension);
    for (const auto &s : sidecars)
      if (s.value)
        job.*s.field = in_folder (s.value, stem + s.extension);
    for (const auto &other : batch.jobs)
      if (other.output == job.output) {
        g_printerr ("emsync: error: inputs '%s' and '%s' would both be written to '%s'\n",
            other.input.c_str (), job.input.c_str (), job.output.c_str ());
        return 2;
      }
    batch.jobs.push_back (job);
  }
  if (!ensure_folder ("out-dir", out_dir))
    return 2;
  for (const auto &s : sidecars)
    if (s.value && !ensure_folder (s.option, s.value))
      return 2;

  gchar *self = g_file_read_link ("/proc/self/exe", NULL);
  batch.program = self ? self : g_get_prgname ();
  g_free (self);
  for (const GOptionEntry *e = entries; e->long_name; e++) {
    bool own = false;
    for (const char *name : kBatchOwnOptions)
      own = own || g_str_equal (name, e->long_name);
    if (own)
      continue;
    if ((e->arg == G_OPTION_ARG_STRING || e->arg == G_OPTION_ARG_FILENAME) && *(gchar **) e->arg_data)
      batch.child_args.push_back (std::string ("--") + e->long_name + "=" + *(gchar **) e->arg_data);
    else if (e->arg == G_OPTION_ARG_NONE && *(gboolean *) e->arg_data)
      batch.child_args.push_back (std::string ("--") + e->long_name);
  }
  batch.json = o.progress && g_str_equal (o.progress, "json");
  batch.quiet = o.quiet || batch.json;
  batch.skip_existing = o.skip_existing;
  /* The children report progress as JSON lines when asked (the batch passes their standard output through);
   * otherwise they run quietly and the batch reports each video. */
  batch.child_args.push_back (batch.json ? "--progress=json" : "--quiet");
  if (o.skip_existing)
    batch.child_args.push_back ("--skip-existing");

  batch.loop = g_main_loop_new (NULL, FALSE);
  guint sigint = g_unix_signal_add (SIGINT, signal_callback<Batch, on_batch_signal, SIGINT>, &batch);
  guint sigterm = g_unix_signal_add (SIGTERM, signal_callback<Batch, on_batch_signal, SIGTERM>, &batch);
  launch_jobs (batch);
  if (batch.running > 0)
    g_main_loop_run (batch.loop);
  g_source_remove (sigint);
  g_source_remove (sigterm);
  g_main_loop_unref (batch.loop);
  int not_started = (int) (batch.jobs.size () - batch.next);
  if (!batch.quiet || batch.failed) {
    std::string summary = std::to_string (batch.jobs.size ()) + " input(s): " + std::to_string (batch.written)
        + " written, " + std::to_string (batch.skipped) + " skipped, " + std::to_string (batch.failed)
        + " failed";
    if (batch.interrupted)
      summary += ", " + std::to_string (batch.stopped) + " interrupted, " + std::to_string (not_started)
          + " not started";
    (batch.failed ? g_printerr : g_print) ("%s%s\n", batch.failed ? "emsync: " : "", summary.c_str ());
  }
  progress_exit.reported = true;
  if (batch.interrupted)
    return 128 + batch.interrupted;
  return batch.failed ? 1 : 0;
}

} // namespace

int
run_cli (int argc, char **argv)
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
        "Keep the original audio under the music: at this level (0..1) where the music is silent, 12 dB "
        "lower under it",
        "LEVEL" },
    { "loudness", 0, 0, G_OPTION_ARG_STRING, &o.loudness,
        "Loudness of the soundtrack in LUFS (EBU R128, true peak -1 dBTP): -14 web video (default), -23 "
        "broadcast",
        "LUFS" },
    { "model", 0, 0, G_OPTION_ARG_FILENAME, &o.model,
        "Generator: small, tiny (a third of the cost per token, plainer music), or a model file", "MODEL" },
    { "json", 0, 0, G_OPTION_ARG_FILENAME, &o.json,
        "Also write a sidecar JSON: scene cuts, emotion curve, tempo map, chord onsets, model and seed (a "
        "folder: "
        "one NAME.json per video)",
        "FILE|DIR" },
    { "progress", 0, 0, G_OPTION_ARG_STRING, &o.progress,
        "bar (default on a terminal), json (one JSON object per line on standard output) or none", "MODE" },
    { "skip-existing", 0, 0, G_OPTION_ARG_NONE, &o.skip_existing,
        "Skip a video whose outputs all exist; an interrupted run then leaves no output (safe to retry)",
        NULL },
    { "out-dir", 0, 0, G_OPTION_ARG_FILENAME, &o.out_dir,
        "Batch: write each INPUT's scored video here as NAME.mp4 (or --format)", "DIR" },
    { "jobs", 'j', 0, G_OPTION_ARG_STRING, &o.jobs, "Batch: videos scored at once (default 1)", "N" },
    { "format", 0, 0, G_OPTION_ARG_STRING, &o.format,
        "Batch: container of the outputs: mp4 (default), m4v, mov, "
        "mkv or webm",
        "EXT" },
    { "version", 0, 0, G_OPTION_ARG_NONE, &o.version, "Print the version and exit", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet, "No progress bar", NULL },
    { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &positional, NULL, "INPUT..." },
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
  GOptionContext *ctx = g_option_context_new ("- compose a soundtrack for a video");
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
  if (o.version) {
    guint major, minor, micro, nano;
    gst_version (&major, &minor, &micro, &nano);
    g_print ("emsync %s (GStreamer %u.%u.%u)\n", VERSION, major, minor, micro);
    return 0;
  }
  if (o.progress && !g_str_equal (o.progress, "bar") && !g_str_equal (o.progress, "json")
      && !g_str_equal (o.progress, "none")) {
    g_printerr ("emsync: error: --progress %s: expected bar, json or none\n", o.progress);
    return 2;
  }
  app.progress_mode = o.progress           ? (g_str_equal (o.progress, "json") ? Progress::Json
                                        : g_str_equal (o.progress, "bar")      ? Progress::Bar
                                                                               : Progress::None)
      : !o.quiet && isatty (STDERR_FILENO) ? Progress::Bar
                                           : Progress::None;
  progress_exit.json = app.progress_mode == Progress::Json;
  if (progress_exit.json)
    o.quiet = TRUE; /* standard output carries the JSON lines only */
  const guint inputs = positional ? g_strv_length (positional) : 0;
  const bool batch = o.out_dir || inputs > 1;
  progress_exit.file = inputs ? positional[0] : "";
  progress_exit.output = o.output ? o.output : "";
  if (inputs == 0) {
    g_printerr ("emsync: error: give an INPUT video (see emsync --help)\n");
    return 2;
  }
  if (batch && o.output) {
    g_printerr ("emsync: error: -o names the output of one INPUT; for several give --out-dir DIR\n");
    return 2;
  }
  if (!batch && !o.output) {
    g_printerr ("emsync: error: no output given: emsync INPUT -o OUTPUT.mp4 (or INPUT... --out-dir DIR)\n");
    return 2;
  }
  if (!batch && o.jobs && !g_str_equal (o.jobs, "1")) {
    g_printerr ("emsync: error: --jobs %s: runs several INPUTs at once, with --out-dir DIR\n", o.jobs);
    return 2;
  }
  if (!batch && o.format) {
    g_printerr ("emsync: error: --format %s: is for --out-dir; the extension of -o chooses the container\n",
        o.format);
    return 2;
  }
  if ((o.valence == nullptr) != (o.arousal == nullptr)) {
    g_printerr ("emsync: error: give --valence and --arousal together\n");
    return 2;
  }
  std::string batch_extension = std::string (".") + (o.format ? o.format : "mp4");
  if (o.format && o.format[0] == '.')
    batch_extension = o.format;
  for (const Container &c : kContainers)
    if (batch ? g_ascii_strcasecmp (batch_extension.c_str (), c.extension) == 0
              : has_suffix (o.output, c.extension))
      app.container = &c;
  if (!app.container) {
    if (batch)
      g_printerr ("emsync: error: --format %s: expected mp4, m4v, mov, mkv or webm\n", o.format);
    else
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
  if (!configure_score (o, score)) {
    gst_object_unref (score);
    return 2;
  }
  if (batch) {
    /* Every option is checked once, here, before any video starts. */
    gst_object_unref (score);
    return run_batch (o, positional, entries, *app.container);
  }
  app.settings = score_settings (score);
  if (!classify_input (app, positional[0])) {
    gst_object_unref (score);
    return 1;
  }
  if (o.json) {
    app.json_path = o.json;
    if (is_folder_option (o.json)) {
      if (!ensure_folder ("json", o.json)) {
        gst_object_unref (score);
        return 2;
      }
      app.json_path = in_folder (o.json, stem_of (o.output) + ".json");
    }
  }
  if (!check_outputs (app)) {
    gst_object_unref (score);
    return 2;
  }
  if (o.skip_existing) {
    std::vector<std::string> wanted;
    for (const char *p :
        std::initializer_list<const char *>{ o.output, o.midi, o.wav, o.timeline, app.json_path.c_str () })
      if (p && *p)
        wanted.push_back (p);
    if (outputs_complete (wanted)) {
      if (!o.quiet)
        g_print ("skipped %s: %s exists (--skip-existing)\n", app.input.c_str (), o.output);
      write_progress_line (app, "skipped");
      gst_object_unref (score);
      return 0;
    }
  }

  InputInfo input;
  /* Standard input can be read once only: what the discoverer would tell, the pipeline finds out. */
  if (app.input_kind != InputKind::Stdin && !inspect_input (app, input)) {
    gst_object_unref (score);
    return 1;
  }
  if (app.input_kind == InputKind::Stdin)
    input.has_audio = o.keep_audio != nullptr;
  app.duration = input.duration;
  bool keep = o.keep_audio != nullptr;
  if (keep && !input.has_audio) {
    g_printerr ("emsync: warning: %s has no audio track; --keep-audio ignored\n", app.input.c_str ());
    keep = false;
  }

  /* From here a signal is handled in the main loop (it is dispatched once the loop runs). */
  app.loop = g_main_loop_new (NULL, FALSE);
  guint sigint = g_unix_signal_add (SIGINT, signal_callback<App, on_signal, SIGINT>, &app);
  guint sigterm = g_unix_signal_add (SIGTERM, signal_callback<App, on_signal, SIGTERM>, &app);
  Outputs files; /* removes what it created unless committed */
  Targets targets;
  bool built = create_outputs (o, app.json_path, files, targets)
      && build_pipeline (app, score, input, keep, level, targets);
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
  if (app.interrupted && o.skip_existing) {
    /* Under --skip-existing an output's name means a complete output: a retry redoes this video. */
    g_printerr ("emsync: interrupted: removed the unfinished files (--skip-existing)\n");
    write_progress_line (app, "interrupted");
    return rc;
  }
  if (o.valence)
    app.timeline.emotion = { { 0.0, g_ascii_strtod (o.valence, NULL), g_ascii_strtod (o.arousal, NULL) } };
  if (!app.json_path.empty ()) {
    std::string why;
    if (!write_sidecar (app, targets.json, why)) {
      g_printerr ("emsync: error: %s\n", why.c_str ());
      return 1;
    }
  }
  if (o.timeline) {
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
  write_progress_line (app, app.interrupted ? "interrupted" : "done");
  if (app.interrupted)
    g_printerr ("emsync: interrupted: wrote the music so far (%zu scene cuts) to %s\n",
        app.timeline.cuts.size (), o.output);
  else if (!o.quiet) {
    double secs = (g_get_monotonic_time () - app.started_us) / 1e6;
    g_print ("wrote %s (%zu scene cuts, %.1f s)\n", o.output, app.timeline.cuts.size (), secs);
  }
  if (!o.quiet)
    for (const char *extra :
        std::initializer_list<const char *>{ o.midi, o.wav, o.timeline, app.json_path.c_str () })
      if (extra && *extra)
        g_print ("wrote %s\n", extra);
  return rc;
}

/* Under --progress=json every run ends with a final line: one that stopped early says why. */
int
main (int argc, char **argv)
{
  g_set_printerr_handler (print_to_stderr);
  int rc = run_cli (argc, argv);
  if (progress_exit.json && !progress_exit.reported)
    write_progress_json (progress_exit.file, progress_exit.output, rc == 0 ? "done" : "failed", NAN, NAN,
        rc == 0 ? "" : progress_exit.last_error);
  return rc;
}
