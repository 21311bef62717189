/* emsync — registration declarations of the elements of the plugin "emsync" (core/plugin.cpp). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (emsyncscenecut);
GST_ELEMENT_REGISTER_DECLARE (emsyncmidienc);
GST_ELEMENT_REGISTER_DECLARE (emsyncloudness);
GST_ELEMENT_REGISTER_DECLARE (emsyncducker);

G_END_DECLS
