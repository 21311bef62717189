/* emsync — registration declaration of the element of the plugin "emsyncfluid" (fluid/plugin.cpp). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (emsyncsynth);

G_END_DECLS
