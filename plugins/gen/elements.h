/* emsync — registration declarations of the generator elements (plugin "emsyncgen", gen/plugin.cpp). */
#pragma once

#include <gst/gst.h>

G_BEGIN_DECLS

GST_ELEMENT_REGISTER_DECLARE (emsyncmidigen);
GST_ELEMENT_REGISTER_DECLARE (emsyncbin);

G_END_DECLS
