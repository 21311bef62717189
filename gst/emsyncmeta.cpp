#include "gst/emsyncmeta.h"

GType
emsync_cut_kind_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    { EMSYNC_CUT_KIND_CUT, "Abrupt change of shot", "cut" },
    { EMSYNC_CUT_KIND_DISSOLVE, "Gradual cross-dissolve", "dissolve" },
    { EMSYNC_CUT_KIND_FADE, "Fade through black", "fade" },
    { 0, NULL, NULL },
  };
  if (g_once_init_enter (&type)) {
    GType t = g_enum_register_static ("EmsyncCutKind", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

const gchar *
emsync_cut_kind_to_string (EmsyncCutKind kind)
{
  switch (kind) {
    case EMSYNC_CUT_KIND_DISSOLVE:
      return "dissolve";
    case EMSYNC_CUT_KIND_FADE:
      return "fade";
    case EMSYNC_CUT_KIND_CUT:
    default:
      return "cut";
  }
}

/* Metas with an empty tag list are copied by GstBaseTransform's default transform_meta. */
static const gchar *no_tags[] = { NULL };

/* ---- scene cut ---- */

GType
emsync_scene_cut_meta_api_get_type (void)
{
  static GType type = 0;
  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("EmsyncSceneCutMetaAPI", no_tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
scene_cut_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  EmsyncSceneCutMeta *m = (EmsyncSceneCutMeta *) meta;
  m->score = 0.0;
  m->kind = EMSYNC_CUT_KIND_CUT;
  m->index = 0;
  m->transition_start = GST_CLOCK_TIME_NONE;
  m->transition_end = GST_CLOCK_TIME_NONE;
  return TRUE;
}

static gboolean
scene_cut_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type, gpointer data)
{
  EmsyncSceneCutMeta *m = (EmsyncSceneCutMeta *) meta;
  return emsync_buffer_add_scene_cut_meta (
             dest, m->score, m->kind, m->index, m->transition_start, m->transition_end)
      != NULL;
}

const GstMetaInfo *
emsync_scene_cut_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **) &info)) {
    const GstMetaInfo *mi = gst_meta_register (EMSYNC_SCENE_CUT_META_API_TYPE, "EmsyncSceneCutMeta",
        sizeof (EmsyncSceneCutMeta), scene_cut_meta_init, NULL, scene_cut_meta_transform);
    g_once_init_leave ((GstMetaInfo **) &info, (GstMetaInfo *) mi);
  }
  return info;
}

/**
 * emsync_buffer_add_scene_cut_meta:
 * @buffer: a writable #GstBuffer
 * @score: the detector's score of the boundary
 * @kind: the kind of transition that ended at this frame
 * @index: 1-based count of boundaries in the stream
 * @transition_start: PTS where a gradual transition began
 * @transition_end: PTS where a gradual transition ended
 *
 * Returns: (transfer none) (nullable): the meta added to @buffer
 */
EmsyncSceneCutMeta *
emsync_buffer_add_scene_cut_meta (GstBuffer *buffer, gdouble score, EmsyncCutKind kind, guint index,
    GstClockTime transition_start, GstClockTime transition_end)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  EmsyncSceneCutMeta *m =
      (EmsyncSceneCutMeta *) gst_buffer_add_meta (buffer, EMSYNC_SCENE_CUT_META_INFO, NULL);
  if (!m)
    return NULL;
  m->score = score;
  m->kind = kind;
  m->index = index;
  m->transition_start = transition_start;
  m->transition_end = transition_end;
  return m;
}

/**
 * emsync_buffer_get_scene_cut_meta:
 * @buffer: a #GstBuffer
 *
 * The typed meta for bindings, which cannot cast the #GstMeta that gst_buffer_get_meta() returns.
 *
 * Returns: (transfer none) (nullable): the scene-cut meta of @buffer (set on the first frame of a new shot),
 * or %NULL
 */
EmsyncSceneCutMeta *
emsync_buffer_get_scene_cut_meta (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (EmsyncSceneCutMeta *) gst_buffer_get_meta (buffer, EMSYNC_SCENE_CUT_META_API_TYPE);
}

/* ---- emotion ---- */

GType
emsync_emotion_meta_api_get_type (void)
{
  static GType type = 0;
  if (g_once_init_enter (&type)) {
    GType t = gst_meta_api_type_register ("EmsyncEmotionMetaAPI", no_tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
emotion_meta_init (GstMeta *meta, gpointer params, GstBuffer *buffer)
{
  EmsyncEmotionMeta *m = (EmsyncEmotionMeta *) meta;
  m->valence = 0.0f;
  m->arousal = 0.0f;
  m->confidence = 0.0f;
  m->window_start = GST_CLOCK_TIME_NONE;
  m->window_end = GST_CLOCK_TIME_NONE;
  m->analysed = FALSE;
  return TRUE;
}

static gboolean
emotion_meta_transform (GstBuffer *dest, GstMeta *meta, GstBuffer *buffer, GQuark type, gpointer data)
{
  EmsyncEmotionMeta *m = (EmsyncEmotionMeta *) meta;
  return emsync_buffer_add_emotion_meta (
             dest, m->valence, m->arousal, m->confidence, m->window_start, m->window_end, m->analysed)
      != NULL;
}

const GstMetaInfo *
emsync_emotion_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;
  if (g_once_init_enter ((GstMetaInfo **) &info)) {
    const GstMetaInfo *mi = gst_meta_register (EMSYNC_EMOTION_META_API_TYPE, "EmsyncEmotionMeta",
        sizeof (EmsyncEmotionMeta), emotion_meta_init, NULL, emotion_meta_transform);
    g_once_init_leave ((GstMetaInfo **) &info, (GstMetaInfo *) mi);
  }
  return info;
}

/**
 * emsync_buffer_add_emotion_meta:
 * @buffer: a writable #GstBuffer
 * @valence: pleasantness in [-1, 1]
 * @arousal: activation in [-1, 1]
 * @confidence: in [0, 1]
 * @window_start: PTS of the first frame the estimate is based on
 * @window_end: PTS of the last frame the estimate is based on
 * @analysed: whether this very frame was analysed
 *
 * Returns: (transfer none) (nullable): the meta added to @buffer
 */
EmsyncEmotionMeta *
emsync_buffer_add_emotion_meta (GstBuffer *buffer, gfloat valence, gfloat arousal, gfloat confidence,
    GstClockTime window_start, GstClockTime window_end, gboolean analysed)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  EmsyncEmotionMeta *m = (EmsyncEmotionMeta *) gst_buffer_add_meta (buffer, EMSYNC_EMOTION_META_INFO, NULL);
  if (!m)
    return NULL;
  m->valence = valence;
  m->arousal = arousal;
  m->confidence = confidence;
  m->window_start = window_start;
  m->window_end = window_end;
  m->analysed = analysed;
  return m;
}

/**
 * emsync_buffer_get_emotion_meta:
 * @buffer: a #GstBuffer
 *
 * Returns: (transfer none) (nullable): the emotion meta of @buffer (emsyncemotion sets one on every frame), or
 * %NULL
 */
EmsyncEmotionMeta *
emsync_buffer_get_emotion_meta (GstBuffer *buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (EmsyncEmotionMeta *) gst_buffer_get_meta (buffer, EMSYNC_EMOTION_META_API_TYPE);
}
