/* emsync — emsyncemotion: valence and arousal of a raw video stream, over time. */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_EMOTION (gst_emsync_emotion_get_type ())
G_DECLARE_FINAL_TYPE (GstEmsyncEmotion, gst_emsync_emotion, GST, EMSYNC_EMOTION, GstVideoFilter)

/**
 * GstEmsyncEmotionMode:
 * @GST_EMSYNC_EMOTION_MODE_FOLLOW: a smoothed value that follows the video over time (default)
 * @GST_EMSYNC_EMOTION_MODE_GLOBAL: one value for the whole stream, announced before the first frame leaves
 *   (EMSYNC's behaviour; buffers the whole stream)
 */
typedef enum {
  GST_EMSYNC_EMOTION_MODE_FOLLOW = 0,
  GST_EMSYNC_EMOTION_MODE_GLOBAL = 1,
} GstEmsyncEmotionMode;

GType gst_emsync_emotion_mode_get_type (void);
#define GST_TYPE_EMSYNC_EMOTION_MODE (gst_emsync_emotion_mode_get_type ())

GST_ELEMENT_REGISTER_DECLARE (emsyncemotion);

G_END_DECLS
