/* emsync — element registration declarations (registered in plugin.cpp, emsyncsynth in plugin_fluid.cpp). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (emsyncscenecut);
GST_ELEMENT_REGISTER_DECLARE (emsyncsynth);
GST_ELEMENT_REGISTER_DECLARE (emsyncmidienc);

G_END_DECLS
