/* emsync — emsyncscenecut: finds shot boundaries (hard cuts, dissolves, fades) in raw video. */
#pragma once

#include <gst/gst.h>
#include <gst/video/video.h>
#include <gst/video/gstvideofilter.h>

G_BEGIN_DECLS

#define GST_TYPE_EMSYNC_SCENECUT (gst_emsync_scenecut_get_type ())
G_DECLARE_FINAL_TYPE (GstEmsyncSceneCut, gst_emsync_scenecut, GST, EMSYNC_SCENECUT, GstVideoFilter)

/**
 * GstEmsyncSceneCutMethod:
 * @GST_EMSYNC_SCENECUT_METHOD_ADAPTIVE: content score relative to its neighbours, plus gradual-transition
 *   and flash handling (default)
 * @GST_EMSYNC_SCENECUT_METHOD_FFMPEG: FFmpeg's `select` scene score (what EMSYNC uses), bit-compatible
 * @GST_EMSYNC_SCENECUT_METHOD_CONTENT: content score against a fixed threshold
 */
typedef enum {
  GST_EMSYNC_SCENECUT_METHOD_ADAPTIVE = 0,
  GST_EMSYNC_SCENECUT_METHOD_FFMPEG = 1,
  GST_EMSYNC_SCENECUT_METHOD_CONTENT = 2,
} GstEmsyncSceneCutMethod;

GType gst_emsync_scenecut_method_get_type (void);
#define GST_TYPE_EMSYNC_SCENECUT_METHOD (gst_emsync_scenecut_method_get_type ())

GST_ELEMENT_REGISTER_DECLARE (emsyncscenecut);

G_END_DECLS
