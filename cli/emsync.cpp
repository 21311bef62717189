/* emsync — one command from a video to a scored video.
 *
 *   emsync INPUT -o OUTPUT [--midi out.mid] [--wav out.wav] [--timeline out.png] [--valence V --arousal A]
 *          [--seed N] [--emotion-guidance G] [--density-control K] [--mode-control K] [--threads N] [--soundfont SF2] [--sync hard|soft|none] [--instruments more|less]
 *          [--keep-audio LEVEL] [--model small|tiny|FILE]
 *
 * The video stream is copied into OUTPUT when the container takes it (re-encoded with x264 otherwise); the
 * soundtrack is AAC in MP4/MOV/M4V and Opus in MKV/WebM. The pipeline: decodebin -> emsyncscenecut ->
 * [emsyncemotion] -> emsyncmidigen -> emsyncsynth -> encoder -> muxer, with a second, compressed read of the
 * file feeding the muxer.
 */
#include <fcntl.h>
#include <unistd.h>

#include <gst/gst.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "cli/timeline.h"
#include "gst/emsync.h"

namespace {

struct Options {
  gchar *output = nullptr;
  gchar *midi = nullptr;
  gchar *wav = nullptr;
  gchar *timeline = nullptr;
  gdouble valence = NAN;
  gdouble arousal = NAN;
  gint64 seed = 0;
  gdouble guidance = 0.0;
  gdouble density_control = -1.0;  /* < 0: the element's default */
  gdouble mode_control = -1.0;     /* < 0: the element's default */
  gint threads = 1;
  gchar *soundfont = nullptr;
  gchar *sync = nullptr;
  gchar *instruments = nullptr;
  gdouble keep_audio = -1.0;
  gchar *model = nullptr;
  gboolean quiet = FALSE;
};

struct App {
  Options opt;
  std::string input;
  GMainLoop *loop = nullptr;
  GstElement *pipeline = nullptr;
  GstElement *analysis_head = nullptr;   /* queue at the start of the analysis chain */
  GstElement *cutter = nullptr;
  GstElement *mux = nullptr;
  GstElement *original_audio_head = nullptr;
  bool have_video = false;
  bool decoder_done = false;     /* decodebin exposed all its streams */
  bool saw_other_stream = false; /* decodebin exposed a non-video stream */
  bool linked_copy = false;
  bool failed = false;
  std::string error;
  bool progress = false;
  gint64 started_us = 0;
  emsync::cli::TimelineData timeline;
  std::string midi_path;
};

void
fail (App & app, const std::string & message)
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
has_suffix (const std::string & s, const char *suffix)
{
  std::string lower = s;
  for (auto & c:lower)
    c = g_ascii_tolower (c);
  return g_str_has_suffix (lower.c_str (), suffix);
}

/* decodebin: the first video stream feeds the analysis chain; audio optionally goes under the music. */
void
on_decoded_pad (GstElement *, GstPad * pad, App * app)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  const gchar *media = gst_structure_get_name (gst_caps_get_structure (caps, 0));
  GstElement *target = nullptr;
  if (!g_str_has_prefix (media, "video/"))
    app->saw_other_stream = true;
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
on_decoded_no_more_pads (GstElement *, App * app)
{
  app->decoder_done = true;
  if (!app->have_video)
    fail (*app, app->input + " has no video stream");
}

/* parsebin: the compressed video goes straight into the muxer when it accepts it; else re-encode. */
void
on_parsed_pad (GstElement *, GstPad * pad, App * app)
{
  GstCaps *caps = gst_pad_get_current_caps (pad);
  if (!caps)
    caps = gst_pad_query_caps (pad, NULL);
  bool is_video = g_str_has_prefix (gst_structure_get_name (gst_caps_get_structure (caps, 0)), "video/");
  /* Without a video stream this unlinked pad may stop the pipeline (not-linked) before decodebin has
   * exposed its own pads: the diagnosis at the end needs to know a non-video stream was seen. */
  if (!is_video)
    app->saw_other_stream = true;
  if (!is_video || app->linked_copy) {
    gst_caps_unref (caps);
    return;                     /* unlinked pads of a parsebin are fine: their data is dropped */
  }
  app->linked_copy = true;
  GstElement *queue = make ("queue");
  g_object_set (queue, "max-size-time", (guint64) 0, "max-size-buffers", 0, "max-size-bytes", 0, NULL);
  gst_bin_add (GST_BIN (app->pipeline), queue);
  GstPad *mux_pad = gst_element_get_compatible_pad (app->mux, pad, caps);
  GstElement *last = queue;
  if (!mux_pad) {
    /* The container does not take this codec: decode and re-encode to H.264. */
    GstElement *dec = make ("decodebin"), *conv = make ("videoconvert"), *enc = make ("x264enc");
    GstElement *capsf = make ("capsfilter");
    GstCaps *i420 = gst_caps_from_string ("video/x-raw,format=I420");
    g_object_set (capsf, "caps", i420, NULL);
    gst_caps_unref (i420);
    gst_util_set_object_arg (G_OBJECT (enc), "speed-preset", "veryfast");
    gst_bin_add_many (GST_BIN (app->pipeline), dec, conv, capsf, enc, NULL);
    gst_element_link (queue, dec);
    g_signal_connect (dec, "pad-added", G_CALLBACK (+[](GstElement *, GstPad * p, GstElement * c) {
              GstPad *s = gst_element_get_static_pad (c, "sink");
              if (!gst_pad_is_linked (s))
                gst_pad_link (p, s);
              gst_object_unref (s);
            }), conv);
    gst_element_link_many (conv, capsf, enc, NULL);
    for (GstElement * e:{dec, conv, capsf, enc})
      gst_element_sync_state_with_parent (e);
    last = enc;
    mux_pad = gst_element_request_pad_simple (app->mux, "video_%u");
  }
  gst_element_sync_state_with_parent (queue);
  GstPad *qsink = gst_element_get_static_pad (queue, "sink");
  gst_pad_link (pad, qsink);
  gst_object_unref (qsink);
  GstPad *src = gst_element_get_static_pad (last, "src");
  if (!mux_pad || gst_pad_link (src, mux_pad) != GST_PAD_LINK_OK)
    fail (*app, "could not put the video stream into " + std::string (app->opt.output));
  gst_object_unref (src);
  if (mux_pad)
    gst_object_unref (mux_pad);
  gst_caps_unref (caps);
}

gboolean
on_bus (GstBus *, GstMessage * msg, App * app)
{
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:{
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
    case GST_MESSAGE_ELEMENT:{
      EmsyncSceneCut cut;
      if (emsync_scene_cut_message_parse (msg, &cut)) {
        app->timeline.cuts.push_back ({(double) cut.stream_time / GST_SECOND,
                emsync_cut_kind_to_string (cut.kind)});
        break;
      }
      const GstStructure *s = gst_message_get_structure (msg);
      if (s && gst_structure_has_name (s, "emsync-emotion")) {
        guint64 ts = 0;
        double v = 0, a = 0;
        if (gst_structure_get_uint64 (s, "timestamp", &ts) && gst_structure_get_double (s, "valence", &v)
            && gst_structure_get_double (s, "arousal", &a))
          app->timeline.emotion.push_back ({(double) ts / GST_SECOND, v, a});
      }
      break;
    }
    default:
      break;
  }
  return TRUE;
}

gboolean
on_progress (App * app)
{
  gint64 pos = 0, dur = 0;
  if (!app->cutter || !gst_element_query_position (app->cutter, GST_FORMAT_TIME, &pos)
      || !gst_element_query_duration (app->pipeline, GST_FORMAT_TIME, &dur) || dur <= 0)
    return G_SOURCE_CONTINUE;
  double frac = std::min (1.0, (double) pos / (double) dur);
  double elapsed = (g_get_monotonic_time () - app->started_us) / 1e6;
  double eta = frac > 0.02 ? elapsed * (1.0 - frac) / frac : 0.0;
  const int width = 30;
  int filled = (int) (frac * width);
  std::string bar (filled, '#');
  bar += std::string (width - filled, ' ');
  g_printerr ("\r[%s] %3d%%  ETA %d:%02d ", bar.c_str (), (int) (frac * 100), (int) eta / 60, (int) eta % 60);
  return G_SOURCE_CONTINUE;
}

bool
check_writable (const char *path, const char *what)
{
  int fd = open (path, O_WRONLY | O_CREAT, 0644);
  if (fd < 0) {
    g_printerr ("emsync: error: cannot write %s '%s': %s\n", what, path, g_strerror (errno));
    return false;
  }
  close (fd);
  return true;
}

}  // namespace

int
main (int argc, char **argv)
{
  App app;
  Options & o = app.opt;
  gchar **positional = nullptr;
  GOptionEntry entries[] = {
    {"output", 'o', 0, G_OPTION_ARG_FILENAME, &o.output, "Scored video to write (.mp4, .mov, .mkv, .webm)", "FILE"},
    {"midi", 0, 0, G_OPTION_ARG_FILENAME, &o.midi, "Also write the music as a Standard MIDI File", "FILE"},
    {"wav", 0, 0, G_OPTION_ARG_FILENAME, &o.wav, "Also write the soundtrack as WAV", "FILE"},
    {"timeline", 0, 0, G_OPTION_ARG_FILENAME, &o.timeline,
        "Draw the emotion curve, scene cuts and chord onsets on one time axis (PNG)", "FILE"},
    {"valence", 0, 0, G_OPTION_ARG_DOUBLE, &o.valence, "Fixed valence in [-1, 1] (default: from the video)", "V"},
    {"arousal", 0, 0, G_OPTION_ARG_DOUBLE, &o.arousal, "Fixed arousal in [-1, 1] (default: from the video)", "A"},
    {"seed", 0, 0, G_OPTION_ARG_INT64, &o.seed, "Random seed (same seed, same music)", "N"},
    {"threads", 0, 0, G_OPTION_ARG_INT, &o.threads,
     "Generation threads (1 or 2; 2 suits the official-size model)", "N"},
    {"density-control", 0, 0, G_OPTION_ARG_DOUBLE, &o.density_control,
     "How firmly the note density follows the arousal (default: emsyncmidigen's; 0 = the model alone)", "K"},
    {"mode-control", 0, 0, G_OPTION_ARG_DOUBLE, &o.mode_control,
     "How firmly major/minor follows the valence (default: emsyncmidigen's; 0 = the model alone)", "K"},
    {"emotion-guidance", 0, 0, G_OPTION_ARG_DOUBLE, &o.guidance,
     "Strengthen the music's response to the video's emotion (0 = EMSYNC's sampling; e.g. 1.5; costs 2x generation)", "G"},
    {"soundfont", 0, 0, G_OPTION_ARG_FILENAME, &o.soundfont, "SoundFont for synthesis (default: a GM one installed)", "SF2"},
    {"sync", 0, 0, G_OPTION_ARG_STRING, &o.sync, "Scene-cut sync: hard (default), soft (EMSYNC), none", "MODE"},
    {"instruments", 0, 0, G_OPTION_ARG_STRING, &o.instruments, "more (default, >= 3 instruments) or less", "COUNT"},
    {"keep-audio", 0, 0, G_OPTION_ARG_DOUBLE, &o.keep_audio,
        "Keep the original audio, mixed under the music at this level (0..1)", "LEVEL"},
    {"model", 0, 0, G_OPTION_ARG_FILENAME, &o.model, "Generator: small (default), tiny (a third of the cost per token, plainer music), or a model file", "MODEL"},
    {"quiet", 'q', 0, G_OPTION_ARG_NONE, &o.quiet, "No progress bar", NULL},
    {G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &positional, NULL, "INPUT"},
    {NULL},
  };
  GOptionContext *ctx = g_option_context_new ("INPUT - compose a soundtrack for a video");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  GError *err = nullptr;
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("emsync: error: %s (see emsync --help)\n", err->message);
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
  if (std::isnan (o.valence) != std::isnan (o.arousal)) {
    g_printerr ("emsync: error: give --valence and --arousal together\n");
    return 2;
  }
  bool mkv = has_suffix (o.output, ".mkv") || has_suffix (o.output, ".webm");
  if (!mkv && !has_suffix (o.output, ".mp4") && !has_suffix (o.output, ".mov") && !has_suffix (o.output, ".m4v")) {
    g_printerr ("emsync: error: output '%s' must end in .mp4, .mov, .m4v, .mkv or .webm\n", o.output);
    return 2;
  }
  if (!check_writable (o.output, "output") || (o.midi && !check_writable (o.midi, "MIDI file"))
      || (o.wav && !check_writable (o.wav, "WAV file")) || (o.timeline && !check_writable (o.timeline, "timeline")))
    return 1;

  /* The timeline needs the notes: keep a MIDI file even when none was asked for. */
  gchar *tmp_midi = nullptr;
  if (o.midi) {
    app.midi_path = o.midi;
  } else if (o.timeline) {
    gint fd = g_file_open_tmp ("emsync-XXXXXX.mid", &tmp_midi, NULL);
    if (fd >= 0)
      close (fd);
    app.midi_path = tmp_midi ? tmp_midi : "";
  }

  app.pipeline = gst_pipeline_new ("emsync");
  GstBin *bin = GST_BIN (app.pipeline);
  GstElement *asrc = make ("filesrc"), *dec = make ("decodebin");
  GstElement *q1 = make ("queue"), *conv = make ("videoconvert");
  app.cutter = make ("emsyncscenecut", "cuts");
  GstElement *emotion = gst_element_factory_find ("emsyncemotion") && std::isnan (o.valence)
      ? make ("emsyncemotion", "emotion") : nullptr;
  GstElement *gen = make ("emsyncmidigen", "gen"), *mt = make ("tee");
  GstElement *q2 = make ("queue"), *synth = make ("emsyncsynth", "synth"), *at = make ("tee");
  GstElement *q3 = make ("queue"), *aconv = make ("audioconvert"), *ares = make ("audioresample");
  GstElement *enc = make (mkv ? "opusenc" : "avenc_aac"), *q4 = make ("queue");
  app.mux = make (mkv ? "matroskamux" : "mp4mux");
  GstElement *sink = make ("filesink");
  GstElement *vsrc = make ("filesrc"), *parse = make ("parsebin");
  for (GstElement * e:{asrc, dec, q1, conv, app.cutter, gen, mt, q2, synth, at, q3, aconv, ares, enc, q4,
          app.mux, sink, vsrc, parse})
    if (!e)
      return 1;
  gst_bin_add_many (bin, asrc, dec, q1, conv, app.cutter, gen, mt, q2, synth, at, q3, aconv, ares, enc, q4,
      app.mux, sink, vsrc, parse, NULL);
  if (emotion)
    gst_bin_add (bin, emotion);

  g_object_set (asrc, "location", app.input.c_str (), NULL);
  g_object_set (vsrc, "location", app.input.c_str (), NULL);
  g_object_set (sink, "location", o.output, NULL);
  g_object_set (gen, "seed", (guint64) o.seed, "emotion-guidance", o.guidance, "threads", CLAMP (o.threads, 1, 64),
      NULL);
  if (o.density_control >= 0)
    g_object_set (gen, "density-control", o.density_control, NULL);
  if (o.mode_control >= 0)
    g_object_set (gen, "mode-control", o.mode_control, NULL);
  if (!std::isnan (o.valence))
    g_object_set (gen, "valence", o.valence, "arousal", o.arousal, NULL);
  if (o.sync)
    gst_util_set_object_arg (G_OBJECT (gen), "sync", o.sync);
  if (o.instruments)
    gst_util_set_object_arg (G_OBJECT (gen), "instruments", o.instruments);
  if (o.model) {
    /* A shipped model's name, unless a file of that name exists. */
    bool named = !g_file_test (o.model, G_FILE_TEST_EXISTS)
        && (g_str_equal (o.model, "small") || g_str_equal (o.model, "tiny"));
    if (named)
      gst_util_set_object_arg (G_OBJECT (gen), "model", o.model);
    else
      g_object_set (gen, "model-file", o.model, NULL);
  }
  if (o.soundfont)
    g_object_set (synth, "soundfont", o.soundfont, NULL);
  /* FFmpeg's default AAC search (twoloop) cost ~0.9 s of CPU per minute here, as much as a third of video
   * decoding; the fast search is ~2.6x cheaper, and a higher bitrate (twoloop's own output averages ~160
   * kb/s at its 128 kb/s default) keeps the quality of synthesised music. */
  if (!mkv) {
    gst_util_set_object_arg (G_OBJECT (enc), "aac-coder", "fast");
    g_object_set (enc, "bitrate", 160000, NULL);
  }
  /* The music comes out `lookahead` behind the analysed video. The analysed frames end in emsyncmidigen (the
   * muxer gets the video from the second, compressed read), so q1 stays small; the audio queues (and the
   * original-audio queue below) must hold the lookahead, or the muxer would wait on itself. */
  for (GstElement * q:{q2, q3, q4})
    g_object_set (q, "max-size-time", (guint64) 30 * GST_SECOND, "max-size-buffers", 0, "max-size-bytes", 0, NULL);

  app.analysis_head = q1;
  gst_element_link (asrc, dec);
  gst_element_link (vsrc, parse);
  bool ok = emotion ? gst_element_link_many (q1, conv, app.cutter, emotion, gen, mt, NULL)
      : gst_element_link_many (q1, conv, app.cutter, gen, mt, NULL);
  ok = ok && gst_element_link_many (mt, q2, synth, NULL);
  GstElement *music_out = synth;
  if (o.keep_audio >= 0.0) {
    /* The mixer works in one format, F32 stereo at 48 kHz (what both AAC and Opus take), which the synth
     * renders directly; only the original audio is converted. */
    GstElement *mixer = make ("audiomixer"), *oq = make ("queue"), *oconv = make ("audioconvert"),
        *ores = make ("audioresample"), *vol = make ("volume"), *ocaps = make ("capsfilter"),
        *mcaps = make ("capsfilter");
    gst_bin_add_many (bin, mixer, oq, oconv, ores, vol, ocaps, mcaps, NULL);
    GstCaps *mix_caps = gst_caps_from_string ("audio/x-raw,format=F32LE,rate=48000,channels=2,layout=interleaved");
    g_object_set (ocaps, "caps", mix_caps, NULL);
    g_object_set (mcaps, "caps", mix_caps, NULL);
    gst_caps_unref (mix_caps);
    g_object_set (oq, "max-size-time", (guint64) 30 * GST_SECOND, "max-size-buffers", 0, "max-size-bytes", 0, NULL);
    g_object_set (vol, "volume", CLAMP (o.keep_audio, 0.0, 1.0), NULL);
    ok = ok && gst_element_link (synth, mixer) && gst_element_link_many (oq, oconv, ores, vol, ocaps, mixer, NULL);
    ok = ok && gst_element_link (mixer, mcaps);
    app.original_audio_head = oq;
    music_out = mcaps;
  }
  /* The AAC encoder gets 16-bit samples: FFmpeg's coder spends about twice the CPU on float input whose quiet
   * passages (reverb tails) lie far below the 16-bit floor: 1.05 -> 0.59 s for a minute of a sparse piece, no
   * change for dense ones. Opus is given the float samples. */
  GstElement *enc_in = ares;
  if (!mkv) {
    GstElement *s16 = make ("capsfilter"), *s16conv = make ("audioconvert");
    GstCaps *caps = gst_caps_from_string ("audio/x-raw,format=S16LE");
    g_object_set (s16, "caps", caps, NULL);
    gst_caps_unref (caps);
    gst_bin_add_many (bin, s16, s16conv, NULL);
    ok = ok && gst_element_link_many (ares, s16, s16conv, NULL);
    enc_in = s16conv;
  }
  ok = ok && gst_element_link (music_out, at) && gst_element_link_many (at, q3, aconv, ares, NULL)
      && gst_element_link_many (enc_in, enc, q4, app.mux, NULL) && gst_element_link (app.mux, sink);
  if (!app.midi_path.empty ()) {
    GstElement *mq = make ("queue"), *menc = make ("emsyncmidienc"), *mfile = make ("filesink");
    gst_bin_add_many (bin, mq, menc, mfile, NULL);
    g_object_set (mfile, "location", app.midi_path.c_str (), NULL);
    ok = ok && gst_element_link_many (mt, mq, menc, mfile, NULL);
  }
  if (o.wav) {
    GstElement *wq = make ("queue"), *wconv = make ("audioconvert"), *wenc = make ("wavenc"),
        *wfile = make ("filesink");
    gst_bin_add_many (bin, wq, wconv, wenc, wfile, NULL);
    g_object_set (wfile, "location", o.wav, NULL);
    ok = ok && gst_element_link_many (at, wq, wconv, wenc, wfile, NULL);
  }
  if (!ok) {
    g_printerr ("emsync: error: could not build the pipeline\n");
    return 1;
  }
  g_signal_connect (dec, "pad-added", G_CALLBACK (on_decoded_pad), &app);
  g_signal_connect (dec, "no-more-pads", G_CALLBACK (on_decoded_no_more_pads), &app);
  g_signal_connect (parse, "pad-added", G_CALLBACK (on_parsed_pad), &app);

  app.loop = g_main_loop_new (NULL, FALSE);
  GstBus *bus = gst_element_get_bus (app.pipeline);
  gst_bus_add_watch (bus, (GstBusFunc) on_bus, &app);
  app.progress = !o.quiet && isatty (STDERR_FILENO);
  if (app.progress)
    g_timeout_add (250, (GSourceFunc) on_progress, &app);
  app.started_us = g_get_monotonic_time ();
  if (gst_element_set_state (app.pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE) {
    /* An element that refused to start (e.g. a model file that cannot be read) says why on the bus. */
    if (GstMessage * m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) {
      on_bus (bus, m, &app);
      gst_message_unref (m);
    }
    fail (app, "could not start the pipeline");
  }
  if (!app.failed)
    g_main_loop_run (app.loop);
  /* The error message of a failed start is on the bus. */
  while (GstMessage * m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR)) {
    on_bus (bus, m, &app);
    gst_message_unref (m);
  }
  gst_element_set_state (app.pipeline, GST_STATE_NULL);
  if (app.progress)
    g_printerr ("\r%60s\r", "");
  gst_object_unref (bus);
  gst_object_unref (app.pipeline);

  int rc = 0;
  if (app.failed) {
    /* Without a video stream the unlinked audio stops the pipeline first; say what is actually wrong. */
    if (!app.have_video && (app.decoder_done || app.saw_other_stream))
      app.error = app.input + " has no video stream";
    g_printerr ("emsync: error: %s\n", app.error.c_str ());
    unlink (o.output);
    rc = 1;
  } else {
    if (o.timeline) {
      if (!std::isnan (o.valence))
        app.timeline.emotion = {{0.0, o.valence, o.arousal}};
      std::string why;
      if (!emsync::cli::draw_timeline (app.timeline, app.midi_path, o.timeline, why)) {
        g_printerr ("emsync: error: timeline: %s\n", why.c_str ());
        rc = 1;
      }
    }
    if (!o.quiet) {
      double secs = (g_get_monotonic_time () - app.started_us) / 1e6;
      g_print ("wrote %s (%zu scene cuts, %.1f s)\n", o.output, app.timeline.cuts.size (), secs);
      if (o.midi)
        g_print ("wrote %s\n", o.midi);
      if (o.wav)
        g_print ("wrote %s\n", o.wav);
      if (o.timeline && rc == 0)
        g_print ("wrote %s\n", o.timeline);
    }
  }
  if (tmp_midi) {
    unlink (tmp_midi);
    g_free (tmp_midi);
  }
  g_strfreev (positional);
  return rc;
}
