/* emsync — GStreamer-facing API that applications link: buffer metas.
 *
 * Two metas travel on video buffers:
 *  - EmsyncSceneCutMeta on the first frame of each new shot (written by emsyncscenecut);
 *  - EmsyncEmotionMeta on every frame (written by emsyncemotion).
 * Both are registered with no tags, so GstBaseTransform/GstVideoFilter elements copy them downstream.
 */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

/**
 * EmsyncCutKind:
 * @EMSYNC_CUT_KIND_CUT: an abrupt change of shot (hard cut or jump cut)
 * @EMSYNC_CUT_KIND_DISSOLVE: a gradual cross-dissolve between two shots
 * @EMSYNC_CUT_KIND_FADE: a fade through black (or another flat colour)
 */
typedef enum {
  EMSYNC_CUT_KIND_CUT = 0,
  EMSYNC_CUT_KIND_DISSOLVE = 1,
  EMSYNC_CUT_KIND_FADE = 2,
} EmsyncCutKind;

GType emsync_cut_kind_get_type (void);
#define EMSYNC_TYPE_CUT_KIND (emsync_cut_kind_get_type ())
/* "cut", "dissolve" or "fade" */
const gchar *emsync_cut_kind_to_string (EmsyncCutKind kind);

/**
 * EmsyncSceneCutMeta:
 * @meta: the parent #GstMeta
 * @score: detector score of the boundary (method-specific scale, larger = more certain)
 * @kind: what kind of transition ended at this frame
 * @index: 1-based count of boundaries found in this stream
 * @transition_start: PTS where a gradual transition began (equal to the boundary PTS for a cut)
 * @transition_end: PTS where a gradual transition ended (equal to the boundary PTS for a cut)
 */
typedef struct {
  GstMeta meta;
  gdouble score;
  EmsyncCutKind kind;
  guint index;
  GstClockTime transition_start;
  GstClockTime transition_end;
} EmsyncSceneCutMeta;

GType emsync_scene_cut_meta_api_get_type (void);
const GstMetaInfo *emsync_scene_cut_meta_get_info (void);
#define EMSYNC_SCENE_CUT_META_API_TYPE (emsync_scene_cut_meta_api_get_type ())
#define EMSYNC_SCENE_CUT_META_INFO (emsync_scene_cut_meta_get_info ())

EmsyncSceneCutMeta *emsync_buffer_add_scene_cut_meta (GstBuffer *buffer, gdouble score, EmsyncCutKind kind,
    guint index, GstClockTime transition_start, GstClockTime transition_end);
EmsyncSceneCutMeta *emsync_buffer_get_scene_cut_meta (GstBuffer *buffer);

/**
 * EmsyncEmotionMeta:
 * @meta: the parent #GstMeta
 * @valence: pleasantness in [-1, 1]
 * @arousal: activation in [-1, 1]
 * @confidence: in [0, 1]; 0 means "no information" (the values are a neutral default)
 * @window_start: PTS of the first frame the estimate is based on
 * @window_end: PTS of the last frame the estimate is based on
 * @analysed: TRUE when this very frame was analysed; FALSE when the value is held from an earlier frame
 */
typedef struct {
  GstMeta meta;
  gfloat valence;
  gfloat arousal;
  gfloat confidence;
  GstClockTime window_start;
  GstClockTime window_end;
  gboolean analysed;
} EmsyncEmotionMeta;

GType emsync_emotion_meta_api_get_type (void);
const GstMetaInfo *emsync_emotion_meta_get_info (void);
#define EMSYNC_EMOTION_META_API_TYPE (emsync_emotion_meta_api_get_type ())
#define EMSYNC_EMOTION_META_INFO (emsync_emotion_meta_get_info ())

EmsyncEmotionMeta *emsync_buffer_add_emotion_meta (GstBuffer *buffer, gfloat valence, gfloat arousal,
    gfloat confidence, GstClockTime window_start, GstClockTime window_end, gboolean analysed);
EmsyncEmotionMeta *emsync_buffer_get_emotion_meta (GstBuffer *buffer);

G_END_DECLS
