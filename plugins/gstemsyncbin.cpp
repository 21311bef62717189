/**
 * SECTION:element-emsyncbin
 * @title: emsyncbin
 *
 * Wires the whole chain in one element: `videoconvert ! emsyncscenecut ! [emsyncemotion] ! tee`, with the
 * video going out of the `video` pad (delayed by nothing; downstream sinks wait for the music through the
 * latency the generator reports) and the analysis branch going through `emsyncmidigen ! emsyncsynth` to the
 * `audio` pad. The `midi` pad carries the generated `audio/x-midi-event` stream (e.g. for emsyncmidienc).
 * Pads you do not link are fine. The queues are sized for the generator's lookahead, so file pipelines do
 * not stall and live ones keep their timing. emsyncemotion is used when it is installed and
 * #GstEmsyncBin:use-emotion is TRUE; otherwise the #GstEmsyncBin:valence / #GstEmsyncBin:arousal values apply.
 *
 * The children load their models when the bin goes to PAUSED; their errors name the file.
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

#include "plugins/gstemsyncbin.h"
#include "plugins/gstemsyncgenelements.h"
#include "plugins/gstemsyncmidigen.h"

#ifdef __GLIBC__
#include <malloc.h>
#endif

GST_DEBUG_CATEGORY_STATIC (gst_emsync_bin_debug);
#define GST_CAT_DEFAULT gst_emsync_bin_debug

enum {
  PROP_0,
  PROP_MODEL,
  PROP_MODEL_FILE,
  PROP_SOUNDFONT,
  PROP_LOOKAHEAD,
  PROP_MIN_BOUNDARY_GAP,
  PROP_SYNC,
  PROP_SEED,
  PROP_INSTRUMENTS,
  PROP_VALENCE,
  PROP_AROUSAL,
  PROP_DENSITY_CONTROL,
  PROP_MODE_CONTROL,
  PROP_EMOTION_GUIDANCE,
  PROP_USE_EMOTION,
};

#define DEFAULT_USE_EMOTION TRUE
/* Extra room in the video queue beyond the generator's reported latency. */
#define QUEUE_MARGIN (2 * GST_SECOND)

struct _GstEmsyncBin {
  GstBin parent;
  GstElement *convert, *scenecut, *emotion, *tee;
  GstElement *video_queue, *music_queue, *midigen, *midi_tee, *synth_queue, *synth, *midi_queue;
  gboolean use_emotion;
};

G_DEFINE_TYPE (GstEmsyncBin, gst_emsync_bin, GST_TYPE_BIN);
GST_ELEMENT_REGISTER_DEFINE (emsyncbin, "emsyncbin", GST_RANK_NONE, GST_TYPE_EMSYNC_BIN);

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink", GST_PAD_SINK,
    GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw"));
static GstStaticPadTemplate video_template = GST_STATIC_PAD_TEMPLATE ("video", GST_PAD_SRC,
    GST_PAD_ALWAYS, GST_STATIC_CAPS ("video/x-raw"));
static GstStaticPadTemplate audio_template = GST_STATIC_PAD_TEMPLATE ("audio", GST_PAD_SRC,
    GST_PAD_ALWAYS, GST_STATIC_CAPS ("audio/x-raw"));
static GstStaticPadTemplate midi_template = GST_STATIC_PAD_TEMPLATE ("midi", GST_PAD_SRC,
    GST_PAD_ALWAYS, GST_STATIC_CAPS ("audio/x-midi-event"));

/* Which child each forwarded property belongs to, and its name there. */
static GstElement *
property_target (GstEmsyncBin * self, guint prop_id, const gchar ** name)
{
  switch (prop_id) {
    case PROP_MODEL:
      *name = "model";
      return self->midigen;
    case PROP_MODEL_FILE:
      *name = "model-file";
      return self->midigen;
    case PROP_SOUNDFONT:
      *name = "soundfont";
      return self->synth;
    case PROP_LOOKAHEAD:
      *name = "lookahead";
      return self->midigen;
    case PROP_MIN_BOUNDARY_GAP:
      *name = "min-boundary-gap";
      return self->midigen;
    case PROP_SYNC:
      *name = "sync";
      return self->midigen;
    case PROP_SEED:
      *name = "seed";
      return self->midigen;
    case PROP_INSTRUMENTS:
      *name = "instruments";
      return self->midigen;
    case PROP_VALENCE:
      *name = "valence";
      return self->midigen;
    case PROP_AROUSAL:
      *name = "arousal";
      return self->midigen;
    case PROP_DENSITY_CONTROL:
      *name = "density-control";
      return self->midigen;
    case PROP_MODE_CONTROL:
      *name = "mode-control";
      return self->midigen;
    case PROP_EMOTION_GUIDANCE:
      *name = "emotion-guidance";
      return self->midigen;
    default:
      return NULL;
  }
}

static void
size_video_queue (GstEmsyncBin * self)
{
  guint64 lookahead = 0;
  g_object_get (self->midigen, "lookahead", &lookahead, NULL);
  g_object_set (self->video_queue, "max-size-time", (guint64) (lookahead + QUEUE_MARGIN),
      "max-size-buffers", 0, "max-size-bytes", 0, NULL);
  g_object_set (self->music_queue, "max-size-time", (guint64) (lookahead + QUEUE_MARGIN),
      "max-size-buffers", 0, "max-size-bytes", 0, NULL);
}

static void
gst_emsync_bin_set_property (GObject * object, guint prop_id, const GValue * value, GParamSpec * pspec)
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
    if (prop_id != PROP_SOUNDFONT)
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    return;
  }
  g_object_set_property (G_OBJECT (target), name, value);
  if (prop_id == PROP_LOOKAHEAD)
    size_video_queue (self);
}

static void
gst_emsync_bin_get_property (GObject * object, guint prop_id, GValue * value, GParamSpec * pspec)
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
link_analysis (GstEmsyncBin * self)
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

static GstStateChangeReturn
gst_emsync_bin_change_state (GstElement * element, GstStateChange transition)
{
  GstEmsyncBin *self = GST_EMSYNC_BIN (element);
  if (transition == GST_STATE_CHANGE_NULL_TO_READY && !link_analysis (self)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Could not link emsyncemotion into the chain."), (NULL));
    return GST_STATE_CHANGE_FAILURE;
  }
  GstStateChangeReturn ret = GST_ELEMENT_CLASS (gst_emsync_bin_parent_class)->change_state (element, transition);
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
gst_emsync_bin_class_init (GstEmsyncBinClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GST_DEBUG_CATEGORY_INIT (gst_emsync_bin_debug, "emsyncbin", 0, "emsync soundtrack bin");
  gobject_class->set_property = gst_emsync_bin_set_property;
  gobject_class->get_property = gst_emsync_bin_get_property;

  /* Forwarded properties mirror the children's; their defaults are the children's defaults. */
  const GParamFlags rw = (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY);
  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_enum ("model", "Model", "Shipped generator (emsyncmidigen model): small, or tiny for a third "
          "of the cost per token", GST_TYPE_EMSYNC_MODEL, 0, rw));
  g_object_class_install_property (gobject_class, PROP_MODEL_FILE,
      g_param_spec_string ("model-file", "Model file", "Generator model (emsyncmidigen model-file); overrides model",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_SOUNDFONT,
      g_param_spec_string ("soundfont", "SoundFont", "SoundFont for synthesis (emsyncsynth soundfont)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_LOOKAHEAD,
      g_param_spec_uint64 ("lookahead", "Lookahead", "How far (ns) the music stays behind the video to see cuts "
          "ahead (emsyncmidigen lookahead); the bin's queues are sized for it", 0, 60 * GST_SECOND,
          8 * GST_SECOND, rw));
  g_object_class_install_property (gobject_class, PROP_MIN_BOUNDARY_GAP,
      g_param_spec_uint64 ("min-boundary-gap", "Minimum boundary gap", "Minimum time (ns) between marked cuts",
          0, 60 * GST_SECOND, 4 * GST_SECOND, rw));
  g_object_class_install_property (gobject_class, PROP_SYNC,
      g_param_spec_enum ("sync", "Sync mode", "How the music follows scene cuts", GST_TYPE_EMSYNC_SYNC_MODE,
          0, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed", "Random seed of the generator", 0, G_MAXUINT64, 0, rw));
  g_object_class_install_property (gobject_class, PROP_INSTRUMENTS,
      g_param_spec_enum ("instruments", "Instruments", "Instrument-count control of the generator",
          GST_TYPE_EMSYNC_INSTRUMENTS, 0, rw));
  g_object_class_install_property (gobject_class, PROP_VALENCE,
      g_param_spec_double ("valence", "Valence", "Valence used while the stream carries no emotion", -1.0, 1.0,
          0.0, rw));
  g_object_class_install_property (gobject_class, PROP_AROUSAL,
      g_param_spec_double ("arousal", "Arousal", "Arousal used while the stream carries no emotion", -1.0, 1.0,
          0.0, rw));
  /* The generator's steering, with emsyncmidigen's ranges and defaults (a test checks they agree). */
  g_object_class_install_property (gobject_class, PROP_DENSITY_CONTROL,
      g_param_spec_double ("density-control", "Density control", "Steers the note density towards the arousal "
          "(emsyncmidigen density-control; 0 = the model alone)", 0.0, 10.0, 5.0, rw));
  g_object_class_install_property (gobject_class, PROP_MODE_CONTROL,
      g_param_spec_double ("mode-control", "Mode control", "Steers towards major keys for positive valence and "
          "minor keys for negative (emsyncmidigen mode-control; 0 = the model alone)", 0.0, 10.0, 1.5, rw));
  g_object_class_install_property (gobject_class, PROP_EMOTION_GUIDANCE,
      g_param_spec_double ("emotion-guidance", "Emotion guidance", "Classifier-free guidance of the emotion "
          "conditioning (emsyncmidigen emotion-guidance; costs a second step per token)", 0.0, 5.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_USE_EMOTION,
      g_param_spec_boolean ("use-emotion", "Use emotion", "Analyse the video's emotion with emsyncemotion when "
          "it is installed (read when the bin leaves NULL)", DEFAULT_USE_EMOTION,
          (GParamFlags) (G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS | GST_PARAM_MUTABLE_READY)));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &video_template);
  gst_element_class_add_static_pad_template (element_class, &audio_template);
  gst_element_class_add_static_pad_template (element_class, &midi_template);
  gst_element_class_set_static_metadata (element_class, "emsync soundtrack bin", "Filter/Video/Audio",
      "Scene cuts, emotion, music generation and synthesis for a video, in one element",
      "emsync developers");
  element_class->change_state = gst_emsync_bin_change_state;
}

/* Data for a source pad nobody linked is dropped here, so unused outputs do not stop the stream with
 * not-linked (a queue would otherwise post an error). */
static GstPadProbeReturn
drop_when_unlinked (GstPad * target, GstPadProbeInfo * info, gpointer ghost_pad)
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
ghost (GstEmsyncBin * self, GstElement * child, const gchar * child_pad, const gchar * name,
    GstStaticPadTemplate * templ)
{
  GstPad *target = gst_element_get_static_pad (child, child_pad);
  /* The class's template (gst_static_pad_template_get would make a floating one nobody sinks). */
  GstPad *pad = gst_ghost_pad_new_from_template (name, target,
      gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), templ->name_template));
  gst_pad_add_probe (target, (GstPadProbeType) (GST_PAD_PROBE_TYPE_BUFFER | GST_PAD_PROBE_TYPE_BUFFER_LIST |
          GST_PAD_PROBE_TYPE_EVENT_DOWNSTREAM), drop_when_unlinked, pad, NULL);
  gst_object_unref (target);
  gst_element_add_pad (GST_ELEMENT (self), pad);
  return pad;
}

static void
gst_emsync_bin_init (GstEmsyncBin * self)
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
  self->midi_queue = gst_element_factory_make ("queue", "midi_queue");
  GstElement *all[] = { self->convert, self->scenecut, self->tee, self->video_queue, self->music_queue,
    self->midigen, self->midi_tee, self->synth_queue, self->synth, self->midi_queue
  };
  for (GstElement * e:all) {
    if (!e) {
      /* A missing plugin (e.g. emsyncgen not built): the bin stays empty and says why when started. */
      GST_ERROR_OBJECT (self, "an element of the chain is missing (is the emsyncgen plugin installed?)");
      for (GstElement * x:all)
        if (x)
          gst_object_unref (x);
      self->midigen = self->synth = NULL;
      return;
    }
  }
  gst_bin_add_many (GST_BIN (self), self->convert, self->scenecut, self->tee, self->video_queue,
      self->music_queue, self->midigen, self->midi_tee, self->synth_queue, self->synth, self->midi_queue, NULL);
  g_object_set (self->tee, "allow-not-linked", TRUE, NULL);
  g_object_set (self->midi_tee, "allow-not-linked", TRUE, NULL);
  gst_element_link_many (self->convert, self->scenecut, self->tee, NULL);
  gst_element_link (self->tee, self->video_queue);
  gst_element_link_many (self->tee, self->music_queue, self->midigen, self->midi_tee, NULL);
  gst_element_link_many (self->midi_tee, self->synth_queue, self->synth, NULL);
  gst_element_link (self->midi_tee, self->midi_queue);
  size_video_queue (self);

  GstPad *target = gst_element_get_static_pad (self->convert, "sink");
  gst_element_add_pad (GST_ELEMENT (self), gst_ghost_pad_new_from_template ("sink", target,
          gst_element_class_get_pad_template (GST_ELEMENT_GET_CLASS (self), "sink")));
  gst_object_unref (target);
  ghost (self, self->video_queue, "src", "video", &video_template);
  ghost (self, self->synth, "src", "audio", &audio_template);
  ghost (self, self->midi_queue, "src", "midi", &midi_template);
}
