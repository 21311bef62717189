/**
 * SECTION:element-emsyncbin
 * @title: emsyncbin
 *
 * Wires the whole chain in one element: `videoconvert ! emsyncscenecut ! [emsyncemotion] ! tee`, with the
 * video going out of the `video` pad (delayed by nothing; downstream sinks wait for the music through the
 * latency the generator reports) and the analysis branch going through `emsyncmidigen ! emsyncsynth` to the
 * `audio` pad, normalised by emsyncloudness to #GstEmsyncBin:loudness (-14 LUFS) under a #GstEmsyncBin:true-peak
 * ceiling (-1 dBTP), which adds its 5 ms lookahead to the latency. The `midi` pad carries the generated
 * `audio/x-midi-event` stream (e.g. for emsyncmidienc).
 * Pads you do not link are fine. The queues are sized for the generator's lookahead, so file pipelines do
 * not stall and live ones keep their timing. emsyncemotion is used when it is installed and
 * #GstEmsyncBin:use-emotion is TRUE; otherwise the #GstEmsyncBin:valence / #GstEmsyncBin:arousal values apply.
 *
 * The children load their models when the bin goes to PAUSED; their errors name the file.
 *
 * The bin is a #GstPreset. Its presets hold the bin's own properties; the shipped ones
 * (`$datadir/gstreamer-1.0/presets/GstEmsyncBin.prs`) are moods that replace the video's emotion with a fixed
 * one: `calm`, `joyful`, `melancholic` and `tense` (use-emotion=false, valence, arousal, instruments). Load one
 * with gst_preset_load_preset() before the bin leaves NULL. An installation outside GStreamer's own prefix
 * lists its directory in `GST_PRESET_PATH`.
 *
 * ## Example launch lines
 * |[
 * gst-launch-1.0 -e filesrc location=in.mp4 ! decodebin ! emsyncbin name=s \
 *     s.video ! queue ! videoconvert ! x264enc ! mp4mux name=m ! filesink location=out.mp4 \
 *     s.audio ! queue ! audioconvert ! avenc_aac ! m.
 * gst-launch-1.0 videotestsrc is-live=true ! emsyncbin name=s s.video ! queue ! autovideosink \
 *     s.audio ! queue ! autoaudiosink
 * ]|
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "plugins/gen/gstemsyncbin.h"
#include "plugins/gen/elements.h"
#include "plugins/gen/gstemsyncmidigen.h"

#include "lib/audio/loudness.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

GST_DEBUG_CATEGORY_STATIC (gst_emsync_bin_debug);
#define GST_CAT_DEFAULT gst_emsync_bin_debug

enum {
  PROP_0,
  PROP_SOUNDFONT,
  PROP_USE_EMOTION,
  PROP_LOUDNESS,
  PROP_TRUE_PEAK,
  PROP_FIRST_GENERATOR, /* then one per generator_properties[] entry */
};

/* emsyncmidigen's properties that the bin offers as its own, with the child's pspecs (names, texts, ranges and
 * defaults come from emsyncmidigen, whose generator defaults are lib/music's ComposerOptions). */
static const gchar *const generator_properties[] = {
  "model",
  "model-file",
  "lookahead",
  "min-boundary-gap",
  "sync",
  "seed",
  "instruments",
  "valence",
  "arousal",
  "density-control",
  "mode-control",
  "emotion-guidance",
  "preset",
  "timing",
  "humanize",
  "ending",
};

#define DEFAULT_USE_EMOTION TRUE
/* Extra room in the video queue beyond the generator's reported latency. */
#define QUEUE_MARGIN (2 * GST_SECOND)

struct _GstEmsyncBin {
  GstBin parent;
  GstElement *convert, *scenecut, *emotion, *tee;
  GstElement *video_queue, *music_queue, *midigen, *midi_tee, *synth_queue, *synth, *loudness, *midi_queue;
  gboolean use_emotion;
};

static void gst_emsync_bin_preset_init (GstPresetInterface *iface);

G_DEFINE_TYPE_WITH_CODE (GstEmsyncBin, gst_emsync_bin, GST_TYPE_BIN,
    G_IMPLEMENT_INTERFACE (GST_TYPE_PRESET, gst_emsync_bin_preset_init));
GST_ELEMENT_REGISTER_DEFINE (emsyncbin, "emsyncbin", GST_RANK_NONE, GST_TYPE_EMSYNC_BIN);

static GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw"));
static GstStaticPadTemplate video_template =
    GST_STATIC_PAD_TEMPLATE ("video", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw"));
static GstStaticPadTemplate audio_template =
    GST_STATIC_PAD_TEMPLATE ("audio", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("audio/x-raw"));
static GstStaticPadTemplate midi_template =
    GST_STATIC_PAD_TEMPLATE ("midi", GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS ("audio/x-midi-event"));

/* Which child each forwarded property belongs to, and its name there. */
static GstElement *
property_target (GstEmsyncBin *self, guint prop_id, const gchar **name)
{
  if (prop_id == PROP_SOUNDFONT) {
    *name = "soundfont";
    return self->synth;
  }
  if (prop_id == PROP_LOUDNESS || prop_id == PROP_TRUE_PEAK) {
    *name = prop_id == PROP_LOUDNESS ? "loudness" : "true-peak";
    return self->loudness;
  }
  if (prop_id >= PROP_FIRST_GENERATOR
      && prop_id < PROP_FIRST_GENERATOR + G_N_ELEMENTS (generator_properties)) {
    *name = generator_properties[prop_id - PROP_FIRST_GENERATOR];
    return self->midigen;
  }
  return NULL;
}

/* A pspec equal to `p` (type, name, nick, blurb, range, default, flags), for a property forwarded to a child. */
static GParamSpec *
copy_pspec (GParamSpec *p)
{
  const gchar *name = g_param_spec_get_name (p), *nick = g_param_spec_get_nick (p);
  const gchar *blurb = g_param_spec_get_blurb (p);
  if (G_IS_PARAM_SPEC_DOUBLE (p)) {
    GParamSpecDouble *d = G_PARAM_SPEC_DOUBLE (p);
    return g_param_spec_double (name, nick, blurb, d->minimum, d->maximum, d->default_value, p->flags);
  }
  if (G_IS_PARAM_SPEC_UINT64 (p)) {
    GParamSpecUInt64 *u = G_PARAM_SPEC_UINT64 (p);
    return g_param_spec_uint64 (name, nick, blurb, u->minimum, u->maximum, u->default_value, p->flags);
  }
  if (G_IS_PARAM_SPEC_INT (p)) {
    GParamSpecInt *i = G_PARAM_SPEC_INT (p);
    return g_param_spec_int (name, nick, blurb, i->minimum, i->maximum, i->default_value, p->flags);
  }
  if (G_IS_PARAM_SPEC_ENUM (p))
    return g_param_spec_enum (
        name, nick, blurb, p->value_type, G_PARAM_SPEC_ENUM (p)->default_value, p->flags);
  if (G_IS_PARAM_SPEC_STRING (p))
    return g_param_spec_string (name, nick, blurb, G_PARAM_SPEC_STRING (p)->default_value, p->flags);
  if (G_IS_PARAM_SPEC_BOOLEAN (p))
    return g_param_spec_boolean (name, nick, blurb, G_PARAM_SPEC_BOOLEAN (p)->default_value, p->flags);
  g_error ("emsyncbin: cannot forward property '%s' of type %s", name, G_PARAM_SPEC_TYPE_NAME (p));
}

static void
size_video_queue (GstEmsyncBin *self)
{
  guint64 lookahead = 0;
  g_object_get (self->midigen, "lookahead", &lookahead, NULL);
  g_object_set (self->video_queue, "max-size-time", (guint64) (lookahead + QUEUE_MARGIN), "max-size-buffers",
      0, "max-size-bytes", 0, NULL);
  g_object_set (self->music_queue, "max-size-time", (guint64) (lookahead + QUEUE_MARGIN), "max-size-buffers",
      0, "max-size-bytes", 0, NULL);
}

static void
gst_emsync_bin_set_property (GObject *object, guint prop_id, const GValue *value, GParamSpec *pspec)
{
  GstEmsyncBin *self = GST_EMSYNC_BIN (object);
  if (prop_id == PROP_USE_EMOTION) {
    GST_OBJECT_LOCK (self);
    self->use_emotion = g_value_get_boolean (value);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  const gchar *name = NULL;
  GstElement *target = property_target (self, prop_id, &name);
  if (!target) {
    if (prop_id != PROP_SOUNDFONT && prop_id != PROP_LOUDNESS && prop_id != PROP_TRUE_PEAK)
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    return;
  }
  g_object_set_property (G_OBJECT (target), name, value);
  if (g_str_equal (name, "lookahead"))
    size_video_queue (self);
}

static void
gst_emsync_bin_get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  GstEmsyncBin *self = GST_EMSYNC_BIN (object);
  if (prop_id == PROP_USE_EMOTION) {
    GST_OBJECT_LOCK (self);
    g_value_set_boolean (value, self->use_emotion);
    GST_OBJECT_UNLOCK (self);
    return;
  }
  const gchar *name = NULL;
  GstElement *target = property_target (self, prop_id, &name);
  if (target)
    g_object_get_property (G_OBJECT (target), name, value);
  else
    g_param_value_set_default (pspec, value);
}

/* The emotion element is optional: plug it in (or out) before the stream starts. */
static gboolean
link_analysis (GstEmsyncBin *self)
{
  GST_OBJECT_LOCK (self);
  gboolean want = self->use_emotion;
  GST_OBJECT_UNLOCK (self);
  if (want && !self->emotion) {
    self->emotion = gst_element_factory_make ("emsyncemotion", "emotion");
    if (self->emotion) {
      gst_bin_add (GST_BIN (self), self->emotion);
      gst_element_unlink (self->scenecut, self->tee);
      if (!gst_element_link_many (self->scenecut, self->emotion, self->tee, NULL))
        return FALSE;
      gst_element_sync_state_with_parent (self->emotion);
    } else {
      GST_INFO_OBJECT (self, "emsyncemotion not installed: using the valence/arousal properties");
    }
  } else if (!want && self->emotion) {
    gst_element_unlink_many (self->scenecut, self->emotion, self->tee, NULL);
    gst_bin_remove (GST_BIN (self), self->emotion);
    self->emotion = NULL;
    if (!gst_element_link (self->scenecut, self->tee))
      return FALSE;
  }
  return TRUE;
}

/* A preset holds the bin's own settings (the mood, the generator's and synthesiser's options), not those of
 * the elements inside it nor its name, which GstPreset's default would save for a bin. */
static gchar **
gst_emsync_bin_preset_property_names (GstPreset *preset)
{
  guint n = 0;
  GParamSpec **pspecs = g_object_class_list_properties (G_OBJECT_GET_CLASS (preset), &n);
  GPtrArray *names = g_ptr_array_new ();
  for (guint i = 0; i < n; i++) {
    const GParamSpec *p = pspecs[i];
    if (p->owner_type == GST_TYPE_EMSYNC_BIN && (p->flags & G_PARAM_READWRITE) == G_PARAM_READWRITE
        && !(p->flags & G_PARAM_CONSTRUCT_ONLY))
      g_ptr_array_add (names, g_strdup (p->name));
  }
  g_free (pspecs);
  g_ptr_array_add (names, NULL);
  return (gchar **) g_ptr_array_free (names, FALSE);
}

static void
gst_emsync_bin_preset_init (GstPresetInterface *iface)
{
  iface->get_property_names = gst_emsync_bin_preset_property_names;
}

static GstStateChangeReturn
gst_emsync_bin_change_state (GstElement *element, GstStateChange transition)
{
  GstEmsyncBin *self = GST_EMSYNC_BIN (element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !link_analysis (self)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not link emsyncemotion into the chain."), (NULL));
    return GST_STATE_CHANGE_FAILURE;
  }
  GstStateChangeReturn ret =
      GST_ELEMENT_CLASS (gst_emsync_bin_parent_class)->change_state (element, transition);
#ifdef __GLIBC__
  /* The children's streaming threads allocate from glibc's per-thread arenas (up to 8 per core), which keep
   * what the stream freed: without this, every NULL -> PLAYING -> NULL cycle left ~0.5 MB more resident until
   * all arenas had grown (tests/lifecycle). Streaming has stopped here, so hand the free pages back. */
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY || transition == GST_STATE_CHANGE_READY_TO_NULL)
    malloc_trim (0);
#endif
  return ret;
}

static void
gst_emsync_bin_class_init (GstEmsyncBinClass *klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GST_DEBUG_CATEGORY_INIT (gst_emsync_bin_debug, "emsyncbin", 0, "emsync soundtrack bin");
  gobject_class->set_property = gst_emsync_bin_set_property;
  gobject_class->get_property = gst_emsync_bin_get_property;

  /* The generator's properties are emsyncmidigen's own pspecs (same plugin); the synth is in another plugin
   * (emsyncfluid), which the bin does not load to build its class, so its one property is declared here. */
  GObjectClass *midigen_class = G_OBJECT_CLASS (g_type_class_ref (GST_TYPE_EMSYNC_MIDIGEN));
  for (guint i = 0; i < G_N_ELEMENTS (generator_properties); i++)
    g_object_class_install_property (gobject_class, PROP_FIRST_GENERATOR + i,
        copy_pspec (g_object_class_find_property (midigen_class, generator_properties[i])));
  g_type_class_unref (midigen_class);
  g_object_class_install_property (gobject_class, PROP_SOUNDFONT,
      g_param_spec_string ("soundfont", "SoundFont", "SoundFont for synthesis (emsyncsynth soundfont)", NULL,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));
  /* emsyncloudness (plugin emsync) normalises the audio pad; its defaults are lib/audio's */
  const emsync::audio::LoudnessOptions loudness;
  const auto ready = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property (gobject_class, PROP_LOUDNESS,
      g_param_spec_double ("loudness", "Loudness",
          "Integrated loudness of the audio pad in LUFS (EBU R128; emsyncloudness loudness): -14 for web "
          "video, -23 for broadcast",
          emsync::audio::LoudnessOptions::kMinTargetLufs, emsync::audio::LoudnessOptions::kMaxTargetLufs,
          loudness.target_lufs, ready));
  g_object_class_install_property (gobject_class, PROP_TRUE_PEAK,
      g_param_spec_double ("true-peak", "True peak",
          "Ceiling on the audio pad's true peak in dBTP (emsyncloudness true-peak)",
          emsync::audio::LoudnessOptions::kMinTruePeakDbtp, emsync::audio::LoudnessOptions::kMaxTruePeakDbtp,
          loudness.true_peak_dbtp, ready));
  g_object_class_install_property (gobject_class, PROP_USE_EMOTION,
      g_param_spec_boolean ("use-emotion", "Use emotion",
          "Analyse the video's emotion with emsyncemotion when "
          "it is installed (read when the bin leaves NULL)",
          DEFAULT_USE_EMOTION,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_add_static_pad_template (element_class, &midi_template);
  gst_element_class_set_static_metadata (element_class, "emsync soundtrack bin", "Generic/Bin",
      "Scene cuts, emotion, music generation and synthesis for a video, in one element", "emsync developers");
  element_class->change_state = gst_emsync_bin_change_state;
}

/* Data for a source pad nobody linked is dropped here, so unused outputs do not stop the stream with
 * not-linked (a queue would otherwise post an error). */
static GstPadProbeReturn
drop_when_unlinked (GstPad *target, GstPadProbeInfo *info, gpointer ghost_pad)
{
  if (gst_pad_is_linked (GST_PAD (ghost_pad)))
    return GST_PAD_PROBE_OK;
  if (GST_PAD_PROBE_INFO_TYPE (info) & GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM) {
    GstEvent *ev = GST_PAD_PROBE_INFO_EVENT (info);
    /* Sticky events stay so a later link still gets stream-start/caps/segment. */
    if (GST_EVENT_IS_STICKY (ev) && GST_EVENT_TYPE (ev) != GST_EVENT_EOS)
      return GST_PAD_PROBE_OK;
  }
  return GST_PAD_PROBE_DROP;
}

static GstPad *
ghost (GstEmsyncBin *self, GstElement *child, const gchar *child_pad, const gchar *name,
    GstStaticPadTemplate *templ)
{
  GstPad *target = gst_element_get_static_pad (child, child_pad);
  /* The class's template (gst_static_pad_template_get would make a floating one nobody sinks). */
  GstPad *pad = gst_ghost_pad_new_from_template (
      name, target, gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), templ->name_template));
  gst_pad_add_probe (target,
      (GstPadProbeType) (GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST
          | GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM),
      drop_when_unlinked, pad, NULL);
  gst_object_unref (target);
  gst_element_add_pad (GST_ELEMENT (self), pad);
  return pad;
}

static void
gst_emsync_bin_init (GstEmsyncBin *self)
{
  self->use_emotion = DEFAULT_USE_EMOTION;
  self->convert = gst_element_factory_make ("videoconvert", "convert");
  self->scenecut = gst_element_factory_make ("emsyncscenecut", "scenecut");
  self->tee = gst_element_factory_make ("tee", "video_tee");
  self->video_queue = gst_element_factory_make ("queue", "video_queue");
  self->music_queue = gst_element_factory_make ("queue", "music_queue");
  self->midigen = gst_element_factory_make ("emsyncmidigen", "midigen");
  self->midi_tee = gst_element_factory_make ("tee", "midi_tee");
  self->synth_queue = gst_element_factory_make ("queue", "synth_queue");
  self->synth = gst_element_factory_make ("emsyncsynth", "synth");
  self->loudness = gst_element_factory_make ("emsyncloudness", "loudness");
  self->midi_queue = gst_element_factory_make ("queue", "midi_queue");
  GstElement *all[] = { self->convert, self->scenecut, self->tee, self->video_queue, self->music_queue,
    self->midigen, self->midi_tee, self->synth_queue, self->synth, self->loudness, self->midi_queue };
  for (GstElement *e : all) {
    if (!e) {
      /* A missing plugin (e.g. emsyncgen not built): the bin stays empty and says why when started. */
      GST_ERROR_OBJECT (self, "an element of the chain is missing (is the emsyncgen plugin installed?)");
      for (GstElement *x : all)
        if (x)
          gst_object_unref (x);
      self->midigen = self->synth = self->loudness = NULL;
      return;
    }
  }
  gst_bin_add_many (GST_BIN (self), self->convert, self->scenecut, self->tee, self->video_queue,
      self->music_queue, self->midigen, self->midi_tee, self->synth_queue, self->synth, self->loudness,
      self->midi_queue, NULL);
  g_object_set (self->tee, "allow-not-linked", TRUE, NULL);
  g_object_set (self->midi_tee, "allow-not-linked", TRUE, NULL);
  gst_element_link_many (self->convert, self->scenecut, self->tee, NULL);
  gst_element_link (self->tee, self->video_queue);
  gst_element_link_many (self->tee, self->music_queue, self->midigen, self->midi_tee, NULL);
  gst_element_link_many (self->midi_tee, self->synth_queue, self->synth, self->loudness, NULL);
  gst_element_link (self->midi_tee, self->midi_queue);
  size_video_queue (self);

  GstPad *target = gst_element_get_static_pad (self->convert, "sink");
  gst_element_add_pad (GST_ELEMENT (self),
      gst_ghost_pad_new_from_template (
          "sink", target, gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), "sink")));
  gst_object_unref (target);
  ghost (self, self->video_queue, "src", "video", &video_template);
  ghost (self, self->loudness, "src", "audio", &audio_template);
  ghost (self, self->midi_queue, "src", "midi", &midi_template);
}
