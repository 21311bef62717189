/* emsync — registration declaration of the element of the plugin "emsyncaffect" (affect/plugin.cpp). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (emsyncemotion);

G_END_DECLS
